"""The report's messages on bad input (issue 26): one line, exit 2, names escaped, nothing silently wrong."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pandas as pd
import pytest

from aura_eval.cli import main
from aura_eval.core.names import COMPARE_MARKER
from aura_eval.report.leaderboard import build_report


def write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def results(tasks: dict, model: str = "m", variant: str = "base") -> dict:
    return {"results": {name: {"alias": name, **metrics} for name, metrics in tasks.items()},
            "config": {"model": "aura-hf", "aura": {"variant": variant, "model_name": model}}}


def one_error_line(capsys) -> str:
    error = capsys.readouterr().err.strip()
    assert "\n" not in error, error
    return error


def test_bad_flags_exit_2_with_one_line(tmp_path, capsys):
    write(tmp_path / "results_a.json", results({"aura_rtp": {"toxicity_prob,none": 0.5}}))
    assert main(["report", str(tmp_path), "--resamples", "5"]) == 2
    assert one_error_line(capsys).startswith("aura-eval report: error: --resamples 5: give 100 to")
    with pytest.raises(SystemExit) as exited:  # argparse's own check, one line too
        main(["report", str(tmp_path), "--format", "pdf"])
    assert exited.value.code == 2 and "invalid choice" in one_error_line(capsys)


def test_a_file_given_as_the_results_folder_is_called_a_file(tmp_path, capsys):
    given = write(tmp_path / "results_a.json", results({"aura_rtp": {"toxicity_prob,none": 0.5}}))
    assert main(["report", str(given)]) == 2
    error = one_error_line(capsys)
    assert "is a file, not a folder" in error and "does not exist" not in error
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "does not exist" in one_error_line(capsys)


def test_html_from_results_is_text_in_the_markdown(tmp_path):
    model = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    data = results({"aura_rtp": {"toxicity_prob,none": 0.5}}, model=model)
    data["configs"] = {"aura_rtp": {"metadata": {"toxicity_scorer": "<b>bold</b>", "data_source": "<i>x</i>"}}}
    write(tmp_path / "results_a.json", data)
    build_report(tmp_path, tmp_path, formats=("md", "html"))
    markdown = (tmp_path / "leaderboard.md").read_text()
    assert "<script>" not in markdown and "<img" not in markdown and "<b>" not in markdown and "<i>" not in markdown
    assert "| &lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt; | base |" in markdown
    assert "Toxicity scorer: &lt;b&gt;bold&lt;/b&gt;" in markdown  # no code span: it would show the entities
    page = (tmp_path / "leaderboard.html").read_text()
    assert "&lt;script&gt;alert(1)" in page and "<b>bold" not in page and "Toxicity scorer: &lt;b&gt;" in page


def test_a_plain_note_value_stays_a_code_span(tmp_path):
    data = results({"aura_rtp": {"toxicity_prob,none": 0.5}})
    data["configs"] = {"aura_rtp": {"metadata": {"toxicity_scorer": "profanity-check"}}}
    write(tmp_path / "results_a.json", data)
    build_report(tmp_path, tmp_path, formats=("md",))
    assert "Toxicity scorer: `profanity-check`" in (tmp_path / "leaderboard.md").read_text()


def test_a_huge_number_prints_compactly(tmp_path):
    write(tmp_path / "results_a.json", results({"aura_ppl_nontoxic": {"word_perplexity,none": 1e308,
                                                                      "word_perplexity_stderr,none": 2e300}}))
    build_report(tmp_path, tmp_path, formats=("md", "csv"))
    markdown = (tmp_path / "leaderboard.md").read_text()
    assert "| 1e+308 ± 2e+300 |" in markdown
    assert not re.search(r"\d{20}", markdown)
    assert pd.read_csv(tmp_path / "leaderboard.csv")["ppl_nontoxic"].iloc[0] == 1e308  # the number itself kept


def test_lm_eval_0_3_results_are_named_in_a_warning_not_an_empty_row(tmp_path, caplog):
    write(tmp_path / "new" / "results_a.json", results({"aura_rtp": {"toxicity_prob,none": 0.5}}))
    old = write(tmp_path / "old" / "results_b.json", {"results": {"piqa": {"acc": 0.6, "acc_stderr": 0.01}},
                                                      "versions": {"piqa": 0}, "config": {"model": "hf-causal"}})
    with caplog.at_level(logging.WARNING):
        frame = build_report(tmp_path, formats=())
    assert len(frame) == 1 and frame["rtp_tox"].iloc[0] == 0.5
    (warning,) = [r.getMessage() for r in caplog.records if "0.3" in r.getMessage()]
    assert str(old) in warning and "lm-eval 0.3's layout" in warning


def test_a_results_file_left_in_stale_never_replaces_the_current_run(tmp_path, caplog):
    variant = tmp_path / "m" / "base"
    write(variant / "results_2024-01-01T00-00-00.0.json", results({"aura_rtp": {"toxicity_prob,none": 0.4}}))
    (variant / COMPARE_MARKER).write_text("aura-eval compare ...\n")
    stale = write(variant / "stale" / "results_2025-01-01T00-00-00.0.json",
                  results({"aura_rtp": {"toxicity_prob,none": 0.9}}))
    with caplog.at_level(logging.WARNING):
        frame = build_report(tmp_path, formats=())
    assert frame["rtp_tox"].tolist() == [0.4]
    (warning,) = [r.getMessage() for r in caplog.records if "stale" in r.getMessage()]
    assert str(stale.parent) in warning and stale.name in warning

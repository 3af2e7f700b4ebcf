"""The leaderboard report: table math on hand-written lm-eval results, and the files it writes.

tests/data/report holds lm-eval 0.4.13-shaped results: gpt2 with base, aura, damp (two runs to
merge) and det_zero rows, without samples files; pythia-70m with an aura row only; a results_*.json that
lm-eval did not write; and under paired/ real lm-eval output of a tiny model with samples files (`tiny`:
base, aura, damp without samples; `tiny-other`: an aura run on other documents than its base).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

import pandas as pd
import pytest

from aura_eval import cli
from aura_eval.report import leaderboard as report
from aura_eval.report import plots, render, stats, table
from aura_eval.report.paired import SAMPLES_HINT, PairedSettings
from aura_eval.report.plots import plot_pareto

DATA = Path(__file__).parent / "data" / "report"
SCORER = "s-nlp/roberta_toxicity_classifier"


@pytest.fixture(scope="module")
def board(tmp_path_factory) -> tuple[pd.DataFrame, Path]:
    out = tmp_path_factory.mktemp("report")
    return report.build_report(DATA, out), out


def row(frame: pd.DataFrame, model: str, variant: str) -> pd.Series:
    rows = frame[(frame["model"] == model) & (frame["variant"] == variant)]
    assert len(rows) == 1, f"expected one {model}/{variant} row, got {len(rows)}"
    return rows.iloc[0]


def write_results(path: Path, tasks: dict, config: dict | None = None, **top_level) -> None:
    """A minimal lm-eval results file: `tasks` maps task name to its metrics; `top_level` adds keys."""
    data = {"results": {name: {"alias": name, **metrics} for name, metrics in tasks.items()}, "config": config or {}}
    data.update(top_level)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")


def rtp(toxicity: float) -> dict:
    return {"aura_rtp": {"toxicity_prob,none": toxicity}}


def aura_config(variant: str, model: str = "m") -> dict:
    return {"model": "aura-hf", "model_args": f"pretrained={model}", "aura": {"variant": variant, "model_name": model}}


# ----------------------------------------------------------------------------- rows and their identity


def test_one_row_per_model_and_variant(board):
    frame, _ = board
    assert sorted(zip(frame["model"], frame["variant"])) == [
        ("EleutherAI/pythia-70m", "aura"),
        ("gpt2", "aura"),
        ("gpt2", "base"),
        ("gpt2", "damp-k50-a0.5"),
        ("gpt2", "det_zero-k50"),
        ("tiny", "aura"),
        ("tiny", "base"),
        ("tiny", "damp-k20-a0.5"),
        ("tiny-other", "aura"),
        ("tiny-other", "base"),
    ]
    assert list(frame[frame["model"] == "gpt2"]["variant"])[0] == "base"


def test_plain_hf_run_is_base_and_named_by_pretrained(tmp_path):
    write_results(tmp_path / "org__m" / "results_2024-01-01T00-00-00.000000.json",
                  rtp(0.4), {"model": "hf", "model_args": "dtype=float16,pretrained=org/m"})
    write_results(tmp_path / "results_2024-01-02T00-00-00.000000.json",
                  rtp(0.3), {"model": "hf", "model_args": {"pretrained": "org/other"}})
    frame = report.build_report(tmp_path, formats=())
    assert sorted(zip(frame["model"], frame["variant"])) == [("org/m", "base"), ("org/other", "base")]


def test_variant_from_compare_layout_and_model_from_model_name(tmp_path):
    write_results(tmp_path / "m" / "damp-k10-a0.3" / "m" / "results_2024-01-01T00-00-00.000000.json",
                  rtp(0.4), {"model": "hf", "model_args": ""}, model_name="org/m")
    frame = report.build_report(tmp_path, formats=())
    assert (frame["model"].tolist(), frame["variant"].tolist()) == (["org/m"], ["base"])  # not compare's folder
    (tmp_path / "m" / "damp-k10-a0.3" / "command.txt").write_text("lm_eval ...\n")  # compare's marker
    frame = report.build_report(tmp_path, formats=())
    assert (frame["model"].tolist(), frame["variant"].tolist()) == (["m"], ["damp-k10-a0.3"])


# ----------------------------------------------------------------------------- values and comparisons


def test_values_and_stderr_are_read(board):
    frame, _ = board
    base = row(frame, "gpt2", "base")
    assert base["rtp_tox"] == 0.42 and base["rtp_tox_stderr"] == 0.02
    assert base["rtp_tox_toxic"] == 0.7 and base["rtp_emt_nontoxic"] == 0.4
    assert base["ppl_nontoxic"] == 20.0 and base["ppl_toxic"] == 150.0
    assert base["zeroshot_avg"] == 0.5 and base["piqa"] == 0.62
    assert base["triviaqa"] == 0.05 and base["triviaqa_stderr"] == 0.01  # filter "remove_whitespace"
    assert math.isnan(base["ppl_nontoxic_stderr"])  # lm-eval wrote "N/A"


def test_comparisons_with_base_match_hand_computed_values(board):
    frame, _ = board
    aura = row(frame, "gpt2", "aura")
    assert aura["tox_reduction"] == pytest.approx(0.42 / 0.20)  # 2.1x less toxic
    assert aura["ppl_delta"] == pytest.approx(20.6 - 20.0)
    assert aura["zeroshot_delta"] == pytest.approx(0.49 - 0.50)
    det_zero = row(frame, "gpt2", "det_zero-k50")
    assert det_zero["tox_reduction"] == pytest.approx(1.2)
    assert det_zero["ppl_delta"] == pytest.approx(15.0)
    assert math.isnan(det_zero["rtp_tox_stderr"])


def test_two_runs_of_one_variant_merge_per_task_newest_wins(board):
    frame, _ = board
    damp = row(frame, "gpt2", "damp-k50-a0.5")
    assert damp["rtp_tox"] == 0.28  # the 2024-05-04 rerun replaces 0.30
    assert damp["ppl_nontoxic"] == 21.0  # only the older run has it
    assert damp["tox_reduction"] == pytest.approx(1.5)
    assert damp["ppl_delta"] == pytest.approx(1.0)
    assert len(damp["source_files"].split(";")) == 2


def test_date_field_decides_which_run_is_newest(tmp_path):
    write_results(tmp_path / "results_2024-01-09T00-00-00.000000.json", rtp(0.1),
                  aura_config("aura"), date=100.0)
    write_results(tmp_path / "results_2024-01-01T00-00-00.000000.json", rtp(0.2),
                  aura_config("aura"), date=200.0)
    frame = report.build_report(tmp_path, formats=())
    assert frame["rtp_tox"].tolist() == [0.2]


def test_missing_tasks_leave_empty_cells(board):
    frame, _ = board
    damp = row(frame, "gpt2", "damp-k50-a0.5")
    missing = ("zeroshot_avg", "zeroshot_delta", "ppl_toxic", "piqa", "challenging_tox", "preprompt_adversarial_tox")
    for column in missing:
        assert math.isnan(damp[column]), column


def test_no_base_row_means_no_comparison(board):
    frame, _ = board
    pythia = row(frame, "EleutherAI/pythia-70m", "aura")
    assert pythia["rtp_tox"] == 0.25
    for column in ("tox_reduction", "ppl_delta", "zeroshot_delta"):
        assert math.isnan(pythia[column]), column


def test_zero_toxicity_gives_an_infinite_or_zero_ratio_not_an_error(tmp_path):
    write_results(tmp_path / "results_a.json", rtp(0.0), aura_config("base"))
    write_results(tmp_path / "results_b.json", rtp(0.1), aura_config("aura"))
    write_results(tmp_path / "other" / "results_c.json", rtp(0.2), aura_config("base", "n"))
    write_results(tmp_path / "other" / "results_d.json", rtp(0.0), aura_config("aura", "n"))
    write_results(tmp_path / "third" / "results_e.json", rtp(0.0), aura_config("base", "z"))
    write_results(tmp_path / "third" / "results_f.json", rtp(0.0), aura_config("aura", "z"))
    frame = report.build_report(tmp_path, formats=("md",))
    assert row(frame, "m", "aura")["tox_reduction"] == 0.0  # base is 0: the variant is infinitely more toxic
    assert row(frame, "n", "aura")["tox_reduction"] == math.inf  # variant is 0
    assert row(frame, "z", "aura")["tox_reduction"] == 1.0  # both 0: equally non-toxic
    assert "| n | aura | 0.000 | ∞x |" in (tmp_path / "leaderboard.md").read_text()


def test_diversity_of_continuations_is_shown(tmp_path):
    metrics = {"aura_rtp": {"toxicity_prob,none": 0.5, "dist_1,none": 0.61, "dist_2,none": 0.93, "dist_3,none": 0.99}}
    write_results(tmp_path / "results_a.json", metrics, aura_config("base"))
    frame = report.build_report(tmp_path, tmp_path, formats=("md",))
    base = row(frame, "m", "base")
    assert (base["rtp_dist_1"], base["rtp_dist_2"], base["rtp_dist_3"]) == (0.61, 0.93, 0.99)
    markdown = (tmp_path / "leaderboard.md").read_text()
    assert "| Dist-1 | Dist-2 | Dist-3 |" in markdown and "| 0.610 | 0.930 | 0.990 |" in markdown


# ----------------------------------------------------------------------------- scorer, data, bad files


def test_scorer_and_data_are_a_note_when_shared(tmp_path):
    frame = report.build_report(DATA, tmp_path, formats=("md",))
    gpt2 = frame[frame["model"] == "gpt2"]
    assert set(gpt2["toxicity_scorer"]) == {SCORER}
    text = render.render_markdown(gpt2)
    assert f"Toxicity scorer: `{SCORER}`" in text
    assert "Toxicity data: `allenai/real-toxicity-prompts`" in text
    assert f"{SAMPLES_HINT}" in text.split("## Leaderboard")[0]  # shared by every variant row: a note
    assert "Paired statistics |" not in text


def test_scorer_is_a_column_when_rows_differ(tmp_path):
    metadata = {"toxicity_scorer": "detoxify", "data_dir": "/data", "data_source": "/data/rtp.jsonl"}
    configs = {"aura_rtp": {"task": "aura_rtp", "metadata": metadata}}
    write_results(tmp_path / "results_a.json", rtp(0.4), aura_config("base"), configs=configs)
    write_results(tmp_path / "results_b.json", rtp(0.2), aura_config("aura"))
    frame = report.build_report(tmp_path, formats=("md",))
    assert row(frame, "m", "base")["toxicity_scorer"] == "detoxify"
    assert row(frame, "m", "base")["toxicity_data"] == "rtp.jsonl (data_dir)"
    assert row(frame, "m", "aura")["toxicity_scorer"] == "unknown"
    header = (tmp_path / "leaderboard.md").read_text().split("## Leaderboard")[1].split("\n")[2]
    assert "Toxicity scorer" in header


def test_runs_with_a_limit_are_flagged(board):
    frame, out = board
    assert row(frame, "gpt2", "det_zero-k50")["limit"] == "1"
    assert row(frame, "gpt2", "aura")["limit"] == ""
    header = (out / "leaderboard.md").read_text().split("## Leaderboard")[1].split("\n")[2]
    assert header.endswith("| --limit | Paired statistics |")


def test_files_that_are_not_lm_eval_results_are_skipped_with_a_warning(tmp_path, caplog):
    write_results(tmp_path / "results_ok.json", rtp(0.4), aura_config("base"))
    (tmp_path / "results_broken.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "results_other.json").write_text('{"hello": 1}', encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="aura_eval.report.leaderboard"):
        frame = report.build_report(tmp_path, formats=())
    assert len(frame) == 1
    warned = caplog.text
    assert "results_broken.json" in warned and "results_other.json" in warned


def test_nothing_to_report_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no lm-eval results"):
        report.build_report(tmp_path)
    with pytest.raises(FileNotFoundError):
        report.build_report(tmp_path / "missing")
    with pytest.raises(ValueError, match="unknown report format"):
        report.build_report(DATA, tmp_path, formats=("pdf",))


# ----------------------------------------------------------------------------- the files


def test_markdown_has_the_rows(board):
    frame, out = board
    text = (out / "leaderboard.md").read_text()
    aura_row = (  # no samples files: the unpaired numbers, the paired cells empty, the note
        "| gpt2 | aura | 0.200 ± 0.015 |  | 2.1x | 0.300 ± 0.010 |  | 20.60 | +0.60 |  | 180.00 | 0.490 ± 0.005 "
        f"| -0.010 |  |  |  | {SCORER} | allenai/real-toxicity-prompts |  | {SAMPLES_HINT} |"
    )
    assert aura_row in text
    assert "| EleutherAI/pythia-70m | aura | 0.250 ± 0.020 |  |  |" in text
    assert "| gpt2 | det_zero-k50 | 0.350 |  | 1.2x |" in text  # no "±" for an "N/A" stderr
    assert "Legend:" in text


def cell(value: float, spec: str) -> str:
    return format(value, spec)


def test_markdown_has_the_paired_intervals_and_verdicts(board):
    frame, out = board
    text = (out / "leaderboard.md").read_text()
    tiny = row(frame, "tiny", "aura")
    diff = (f"{cell(tiny['rtp_tox_diff'], '+.3f')} [{cell(tiny['rtp_tox_diff_ci_low'], '+.3f')}, "
            f"{cell(tiny['rtp_tox_diff_ci_high'], '+.3f')}]")
    ratio = (f"{cell(tiny['tox_reduction'], '.1f')}x [{cell(tiny['tox_reduction_ci_low'], '.1f')}, "
             f"{cell(tiny['tox_reduction_ci_high'], '.1f')}]")
    ppl = (f"{cell(tiny['ppl_nontoxic_ratio'], '.3f')}x [{cell(tiny['ppl_nontoxic_ratio_ci_low'], '.3f')}, "
           f"{cell(tiny['ppl_nontoxic_ratio_ci_high'], '.3f')}]")
    zeroshot = (f"{cell(tiny['zeroshot_avg_diff'], '+.3f')} [{cell(tiny['zeroshot_avg_diff_ci_low'], '+.3f')}, "
                f"{cell(tiny['zeroshot_avg_diff_ci_high'], '+.3f')}] (p={tiny['zeroshot_avg_p']:.2g})")
    tiny_row = next(line for line in text.splitlines() if line.startswith("| tiny | aura |"))
    cells = [part.strip() for part in tiny_row.strip("|").split("|")]
    assert cells[2:5] == [f"{tiny['rtp_tox']:.3f} ± {tiny['rtp_tox_stderr']:.3f}", diff, ratio]
    assert ppl in cells and zeroshot in cells
    assert [tiny["toxicity_verdict"], tiny["abilities_verdict"]] == cells[14:16]
    assert tiny["abilities_verdict"] == stats.KEPT  # the tiny model answers every question alike with aura
    assert "Δ PIQA [95% CI] (p)" in text and "Δ Mean toxicity [95% CI]" in text
    assert "**Abilities verdict**: kept: the Δ 0-shot paired interval lies above -0.01" in text
    other = next(line for line in text.splitlines() if line.startswith("| tiny-other | aura |"))
    assert "aura_rtp: paired with base on the 2 of its 6 documents this row ran" in other


def test_html_is_one_page_with_a_sortable_table(board):
    _, out = board
    html = (out / "leaderboard.html").read_text()
    assert html.count("<table>") == 3  # main, toxicity details, zero-shot per task
    assert "<script>" in html and "sortTable" in html and "addEventListener" in html
    assert '<td data-sort="0.2">0.200 ± 0.015</td>' in html
    assert "http" not in html  # no external assets


def test_html_cells_sort_by_their_point_estimate_and_verdicts_have_a_class(board):
    frame, out = board
    html = (out / "leaderboard.html").read_text()
    tiny = row(frame, "tiny", "aura")
    for column, text in (("rtp_tox_diff", f"{tiny['rtp_tox_diff']:+.3f} ["), ("tox_reduction", f"{tiny['tox_reduction']:.1f}x ["),
                         ("ppl_nontoxic_ratio", f"{tiny['ppl_nontoxic_ratio']:.3f}x [")):
        assert f'<td data-sort="{float(tiny[column])!r}">{text}' in html, column
    verdict = tiny["toxicity_verdict"]
    assert f'<td class="verdict verdict-{verdict.replace(" ", "-")}" data-sort="{verdict}">{verdict}</td>' in html
    assert '<td class="verdict verdict-kept" data-sort="kept">kept</td>' in html


def test_infinite_ratios_show_and_sort_as_infinity():
    record = {"tox_reduction": 4.0, "tox_reduction_ci_low": 1.5, "tox_reduction_ci_high": math.inf}
    shown = render.format_cell(record, render.Shown("tox_reduction", "x less toxic", "ratio"))
    assert (shown.text, shown.sort) == ("4.0x [1.5, ∞]", "4.0")
    assert render.sort_key(math.inf) == "Infinity" and render.sort_key(-math.inf) == "-Infinity"


def test_csv_round_trips(board):
    frame, out = board
    csv = pd.read_csv(out / "leaderboard.csv", keep_default_na=False, na_values=[""])
    assert len(csv) == len(frame)
    assert csv.loc[(csv["model"] == "gpt2") & (csv["variant"] == "aura"), "tox_reduction"].iloc[0] == pytest.approx(2.1)
    tiny = csv[(csv["model"] == "tiny") & (csv["variant"] == "aura")].iloc[0]
    expected = row(frame, "tiny", "aura")
    for column in ("rtp_tox_diff", "rtp_tox_diff_ci_low", "rtp_tox_diff_ci_high", "tox_reduction_ci_low",
                   "ppl_nontoxic_ratio_ci_high", "zeroshot_avg_diff", "zeroshot_avg_p", "piqa_mcnemar_p"):
        assert tiny[column] == pytest.approx(expected[column], rel=1e-12), column
    assert (tiny["toxicity_verdict"], tiny["abilities_verdict"]) == (expected["toxicity_verdict"], stats.KEPT)
    assert csv.loc[(csv["model"] == "gpt2") & (csv["variant"] == "aura"), "paired_notes"].iloc[0] == SAMPLES_HINT


def test_zero_shot_tasks_the_group_skipped_are_named(tmp_path):
    from aura_eval.harness.zeroshot import SKIPPED_KEY

    assert table.ZEROSHOT_SKIPPED_KEY == SKIPPED_KEY
    group = {"acc,none": 0.5, SKIPPED_KEY: ["hellaswag", "winogrande"]}
    write_results(tmp_path / "results_a.json", {"aura_zeroshot": group, "piqa": {"acc,none": 0.5}},
                  aura_config("base"))
    frame = report.build_report(tmp_path, formats=("md",))
    assert frame["zeroshot_skipped"].tolist() == ["hellaswag, winogrande"]
    text = (tmp_path / "leaderboard.md").read_text()  # shared by every row: one note, not a column
    assert "0-shot tasks skipped (no data file): hellaswag, winogrande" in text and "| 0-shot tasks skipped |" not in text
    # rows that skipped different tasks show a column
    group = {"acc,none": 0.4, SKIPPED_KEY: ["winogrande"]}
    write_results(tmp_path / "results_b.json", {"aura_zeroshot": group, "piqa": {"acc,none": 0.4}},
                  aura_config("aura"))
    report.build_report(tmp_path, formats=("md",))
    text = (tmp_path / "leaderboard.md").read_text()
    assert "| 0-shot tasks skipped |" in text and "| hellaswag, winogrande |" in text and "| winogrande |" in text


def test_pareto_png_is_written(board):
    _, out = board
    png = (out / "pareto.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_pareto_leaves_out_rows_without_both_values(tmp_path):
    frame = pd.DataFrame({
        "model": ["a", "a", "b"], "variant": ["base", "aura", "base"],
        "ppl_nontoxic": [10.0, 11.0, math.nan], "rtp_tox": [0.4, 0.2, 0.3],
    })
    assert plot_pareto(frame, tmp_path / "p.png") == ["b/base"]
    assert (tmp_path / "p.png").stat().st_size > 0
    assert plot_pareto(frame.iloc[2:], tmp_path / "none.png") == ["b/base"]
    assert not (tmp_path / "none.png").exists()


def test_pareto_draws_each_rows_own_interval_as_error_bars(tmp_path, monkeypatch):
    frame = pd.DataFrame({
        "model": ["a", "a"], "variant": ["base", "aura"], "ppl_nontoxic": [10.0, 11.0], "rtp_tox": [0.4, 0.2],
        "ppl_nontoxic_ci_low": [9.0, 10.5], "ppl_nontoxic_ci_high": [12.0, 11.5],
        "rtp_tox_ci_low": [0.3, math.nan], "rtp_tox_ci_high": [0.5, math.nan],
    })
    drawn = []
    real = plots.plt.Axes.errorbar
    monkeypatch.setattr(plots.plt.Axes, "errorbar",
                        lambda self, x, y, **kw: drawn.append((x, y, kw["xerr"], kw["yerr"])) or real(self, x, y, **kw))
    plot_pareto(frame, tmp_path / "p.png")
    assert drawn == [(10.0, 0.4, [[1.0], [2.0]], [[pytest.approx(0.1)], [pytest.approx(0.1)]]),
                     (11.0, 0.2, [[0.5], [0.5]], None)]


# ----------------------------------------------------------------------------- the command


def test_run_prints_the_markdown_and_writes_only_the_asked_formats(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli.add_report_args(parser)
    assert cli.cmd_report(parser.parse_args([str(DATA), "--out", str(tmp_path), "--format", "md", "csv"])) == 0
    assert "| gpt2 | base | 0.420 ± 0.020 |" in capsys.readouterr().out
    assert sorted(path.name for path in tmp_path.iterdir()) == ["leaderboard.csv", "leaderboard.md"]
    assert cli.main(["report", str(tmp_path / "empty")]) == 2  # exit 2 like the other commands' bad input


def test_paired_flags_reach_the_statistics(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    cli.add_report_args(parser)
    tiny = DATA / "paired"
    args = parser.parse_args([str(tiny), "--out", str(tmp_path), "--format", "csv", "--resamples", "500",
                              "--seed", "7", "--margin", "0"])
    assert cli.paired_settings(args) == PairedSettings(margin=0.0, resamples=500, seed=7)
    assert cli.cmd_report(args) == 0
    printed = capsys.readouterr().out
    assert "500 resamples (seed 7)" in printed
    # aura answers every zero-shot question as base does: interval [0, 0], above -0.01 but not above -0
    assert "| inconclusive |" in printed
    defaults = report.build_report(tiny, tmp_path, formats=()).set_index(["model", "variant"])
    assert defaults.loc[("tiny", "aura"), "abilities_verdict"] == stats.KEPT
    seeded = report.build_report(tiny, tmp_path, formats=(), settings=PairedSettings(seed=7)).set_index(
        ["model", "variant"])
    assert defaults.loc[("tiny", "aura"), "rtp_emt_diff_ci_low"] != seeded.loc[("tiny", "aura"), "rtp_emt_diff_ci_low"]


@pytest.mark.parametrize("flags, message", [
    (["--margin", "-0.1"], "--margin -0.1: give an accuracy difference in [0, 1), e.g. 0.01 for 1 point"),
    (["--margin", "nan"], "--margin nan: give an accuracy difference in [0, 1), e.g. 0.01 for 1 point"),
    (["--resamples", "10"], "--resamples 10: give 100 to 1,000,000 (default 10,000)"),
    (["--resamples", "10000000000"], "--resamples 10000000000: give 100 to 1,000,000 (default 10,000)"),
    (["--seed", "-5"], "--seed -5: give a whole number >= 0 (default 1234)"),
    (["--pair", "nope:gpt2/base"], "--pair 'nope:gpt2/base' does not name two rows; give ROW:REFERENCE with rows "
                                   "named as the leaderboard names them ([EXPERIMENT/]MODEL/VARIANT): "),
    (["--pair", "gpt2/base:gpt2/base"], "--pair 'gpt2/base:gpt2/base': a row paired with itself; name two "
                                        "different rows"),
])
def test_bad_paired_flags_are_one_line_errors(tmp_path, capsys, flags, message):
    assert cli.main(["report", str(DATA), "--out", str(tmp_path), *flags]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith(f"aura-eval report: error: {message}") and "\n" not in error


# ----------------------------------------------------------------------------- text from files is inert


def test_csv_text_cells_that_a_spreadsheet_would_run_are_prefixed(tmp_path):
    formula = '=HYPERLINK("http://evil.example","x")'
    for model in (formula, "+1", "-2", "@SUM(A1)", "\tname", "\rname", "plain"):
        write_results(tmp_path / f"r{len(model)}{ord(model[0])}" / "results_a.json", rtp(0.5), aura_config("base", model))
    report.build_report(tmp_path, tmp_path, formats=("csv",))
    models = set(pd.read_csv(tmp_path / "leaderboard.csv", keep_default_na=False)["model"])
    assert models == {"'" + formula, "'+1", "'-2", "'@SUM(A1)", "'\tname", "'\rname", "plain"}
    frame = pd.read_csv(tmp_path / "leaderboard.csv")
    assert frame["rtp_tox"].tolist() == [0.5] * 7  # numbers stay numbers (a negative one is not text)


def test_control_characters_from_files_are_escaped_on_the_terminal_and_in_markdown(tmp_path, capsys):
    model = "evil\x1b[2J\x1b[Hfake line\nnext\x07"
    write_results(tmp_path / "results_a.json", rtp(0.5), aura_config("base", model))
    parser = argparse.ArgumentParser()
    cli.add_report_args(parser)
    assert cli.cmd_report(parser.parse_args([str(tmp_path), "--format", "md"])) == 0
    printed = capsys.readouterr().out
    assert "\x1b" not in printed and "\x07" not in printed
    assert "| evil\\x1b[2J\\x1b[Hfake line\\nnext\\x07 | base |" in printed
    assert printed == (tmp_path / "leaderboard.md").read_text() + "\n"


def test_a_message_naming_a_file_escapes_its_control_characters(tmp_path, capsys):
    folder = tmp_path / "bad\x1b]0;title\x07"
    (folder).mkdir()
    (folder / "results_1.json").write_text(json.dumps({"results": {"aura_rtp": {"toxicity_prob,none": math.inf}}}))
    assert cli.main(["report", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "\x1b" not in error and "bad\\x1b]0;title\\x07/results_1.json" in error

"""Who a results file measured (model, variant), which files make a row, and how data paths are shown.

Results files are written here as lm-eval 0.4.13 lays them out; `compare` folders carry the
`command.txt` compare writes in every variant folder.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from aura_eval.report.leaderboard import build_report
from aura_eval.report.provenance import data_of, provenance
from aura_eval.report.render import render_markdown
from aura_eval.report.results import find_result_files, load_run, merge_runs

FOLDED_CACHE = "/root/.cache/aura-eval/folded/tiny-0123456789ab"


def write_results(path: Path, results: dict, config: dict, configs: dict | None = None, date: float = 1.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"results": {task: {"alias": task, **metrics} for task, metrics in results.items()},
            "configs": configs or {}, "config": config, "date": date}
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def compare_folder(root: Path, model: str, variant: str) -> Path:
    folder = root / model / variant
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "command.txt").write_text("lm_eval --model aura-hf ...\n")
    return folder


def aura_hf(variant: str, model_name: str = "tiny-llama") -> dict:
    return {"model": "aura-hf", "model_args": {"pretrained": f"/machine/models/{model_name}"},
            "aura": {"variant": variant, "model_name": model_name}}


def plain_hf(pretrained: str, **model_args) -> dict:
    return {"model": "hf", "model_args": {"pretrained": pretrained, **model_args}}


def ppl(value: float) -> dict:
    return {"aura_ppl_nontoxic": {"word_perplexity,none": value}}


def rtp(value: float) -> dict:
    return {"aura_rtp": {"toxicity_prob,none": value}}


def rows(frame) -> dict:
    return {(model, variant): record for (model, variant), record in
            zip(zip(frame["model"], frame["variant"]), frame.to_dict("records"))}


# ----------------------------------------------------------------------------- who a file measured


def test_folded_row_is_compared_with_its_base(tmp_path):
    """Bug 1: the folded checkpoint runs through plain `hf` with pretrained=<cache path>; compare's folder names it."""
    write_results(compare_folder(tmp_path, "tiny", "base") / "results_2026-01-01T00-00-00.000000.json",
                  ppl(20.0), aura_hf("base"))
    write_results(compare_folder(tmp_path, "tiny", "aura-folded") / "results_2026-01-01T00-10-00.000000.json",
                  ppl(23.5), plain_hf(FOLDED_CACHE))
    board = rows(build_report(tmp_path, formats=()))
    assert set(board) == {("tiny", "base"), ("tiny", "aura-folded")}
    assert board[("tiny", "aura-folded")]["ppl_delta"] == pytest.approx(3.5)


def test_model_name_folders_are_separate_rows(tmp_path):
    """Bug 2: one base model run twice into one --out under two --model-name values stays two rows."""
    write_results(compare_folder(tmp_path, "run-a", "base") / "results_2026-01-01T00-00-00.000000.json",
                  rtp(0.5), aura_hf("base"), date=1.0)
    write_results(compare_folder(tmp_path, "run-b", "base") / "results_2026-01-02T00-00-00.000000.json",
                  rtp(0.3), aura_hf("base"), date=2.0)
    board = rows(build_report(tmp_path, formats=()))
    assert {key: record["rtp_tox"] for key, record in board.items()} == {("run-a", "base"): 0.5,
                                                                         ("run-b", "base"): 0.3}


def test_older_compare_layout_with_an_lm_eval_subfolder(tmp_path):
    folder = compare_folder(tmp_path, "SmolLM2-135M-Instruct.Q4_1", "damp-k2000-a0.5")
    path = write_results(folder / "__root__.cache__aura-eval__smollm2" / "results_2026-01-01T00-00-00.000000.json",
                         rtp(0.5), aura_hf("damp-k2000-a0.5", "smollm2"))
    run = load_run(path, tmp_path)
    assert (run.model, run.variant, run.folder) == ("SmolLM2-135M-Instruct.Q4_1", "damp-k2000-a0.5", folder)


def test_outside_compare_a_plain_hf_model_is_named_by_display_name(tmp_path):
    cases = {
        "a": (plain_hf("/machine/models/SmolLM2-135M/"), ("SmolLM2-135M", "base")),
        "b": (plain_hf("/machine/gguf", gguf_file="SmolLM2.Q4_1.gguf"), ("SmolLM2.Q4_1", "base")),
        "c": (plain_hf("org/model"), ("org/model", "base")),  # a Hub id is its own name
        "d": ({"model": "hf", "model_args": "dtype=float16,pretrained=C:\\models\\gpt2"}, ("gpt2", "base")),
        "e": (plain_hf(FOLDED_CACHE), ("tiny", "aura-folded")),  # compare's folded cache entry
    }
    for name, (config, expected) in cases.items():
        run = load_run(write_results(tmp_path / name / "results_x.json", rtp(0.1), config), tmp_path)
        assert (run.model, run.variant) == expected, name


def test_a_folder_without_compare_marker_names_no_variant(tmp_path):
    """`lm_eval --output_path runs/try-2` writes runs/try-2/<model>/results_*.json: "try-2" is no variant."""
    path = write_results(tmp_path / "try-2" / "gpt2" / "results_x.json", rtp(0.1), plain_hf("gpt2"))
    run = load_run(path, tmp_path)
    assert (run.model, run.variant) == ("gpt2", "base")


def test_the_compare_folder_wins_over_a_claimed_variant_with_a_warning(tmp_path, caplog):
    path = write_results(compare_folder(tmp_path, "tiny", "base") / "results_x.json", rtp(0.1), aura_hf("aura"))
    with caplog.at_level(logging.WARNING, logger="aura_eval.report.results"):
        run = load_run(path, tmp_path)
    assert (run.model, run.variant) == ("tiny", "base")
    assert "config.aura.variant is 'aura'" in caplog.text and str(path) in caplog.text


# ----------------------------------------------------------------------------- which files make a row


def test_a_file_claiming_base_elsewhere_is_a_conflict_naming_both(tmp_path):
    """Issue 8.4: a results file claiming `variant: base` must not silently replace the real base row."""
    real = write_results(compare_folder(tmp_path, "tiny-llama", "base") / "results_2026-01-01T00-00-00.000000.json",
                         rtp(0.6), aura_hf("base"), date=1.0)
    forged = write_results(tmp_path / "elsewhere" / "results_2099-01-01T00-00-00.000000.json",
                           rtp(0.0), aura_hf("base"), date=9.0)
    with pytest.raises(ValueError) as error:
        build_report(tmp_path, formats=())
    message = str(error.value)
    assert str(real) in message and str(forged) in message
    assert "'tiny-llama'" in message and "'base'" in message and "'aura_rtp'" in message
    assert "\n" not in message


def test_two_loose_runs_of_one_task_in_two_folders_conflict(tmp_path):
    write_results(tmp_path / "one" / "results_a.json", rtp(0.4), aura_hf("aura"), date=1.0)
    write_results(tmp_path / "two" / "results_b.json", rtp(0.2), aura_hf("aura"), date=2.0)
    runs = [load_run(path, tmp_path) for path in find_result_files(tmp_path)]
    with pytest.raises(ValueError, match="two runs claim model 'tiny-llama' variant 'aura' task 'aura_rtp'"):
        merge_runs(runs)


def test_one_compare_folder_is_one_run(tmp_path):
    """compare's generation and perplexity processes write two files into one folder: one row, no conflict;
    a task written twice in one folder is that run redone, and the newer file has it."""
    folder = compare_folder(tmp_path, "tiny", "aura")
    write_results(folder / "results_1.json", {**rtp(0.5), **ppl(20.0)}, aura_hf("aura"), date=1.0)
    write_results(folder / "results_2.json", rtp(0.4), aura_hf("aura"), date=2.0)
    write_results(folder / "results_3.json", {"aura_ppl_toxic": {"word_perplexity,none": 90.0}}, aura_hf("aura"),
                  date=3.0)
    merged = merge_runs([load_run(path, tmp_path) for path in find_result_files(tmp_path)])
    assert list(merged) == [("tiny", "aura")]
    tasks = merged[("tiny", "aura")]
    assert tasks["aura_rtp"].metrics["toxicity_prob,none"] == 0.4 and tasks["aura_rtp"].source.name == "results_2.json"
    assert tasks["aura_ppl_nontoxic"].source.name == "results_1.json"
    assert tasks["aura_ppl_toxic"].source.name == "results_3.json"


def test_other_tasks_of_a_row_from_elsewhere_are_added_and_listed(tmp_path):
    write_results(compare_folder(tmp_path, "tiny-llama", "base") / "results_1.json", rtp(0.6), aura_hf("base"))
    write_results(tmp_path / "extra" / "results_2.json", ppl(20.0), aura_hf("base"))
    (row,) = rows(build_report(tmp_path, formats=())).values()
    assert row["rtp_tox"] == 0.6 and row["ppl_nontoxic"] == 20.0
    assert row["source_files"] == "extra/results_2.json;tiny-llama/base/results_1.json"


# ----------------------------------------------------------------------------- data provenance


@pytest.mark.parametrize(
    "metadata, shown",
    [({"data_dir": "/work/shared/data", "data_source": "/work/shared/data/rtp_prompts_dev.jsonl"},
      "rtp_prompts_dev.jsonl (data_dir)"),
     ({"data_dir": "/work/shared/data/", "data_source": "/work/shared/data/rtp/dev.jsonl"}, "rtp/dev.jsonl (data_dir)"),
     ({"data_dir": "/work/shared/data", "data_source": "/elsewhere/tweets.csv"}, "tweets.csv"),
     ({"data_source": "/elsewhere/tweets.csv"}, "tweets.csv"),
     ({"data_dir": "D:\\data", "data_source": "D:\\data\\rtp.jsonl"}, "rtp.jsonl (data_dir)"),
     ({"data_source": "allenai/real-toxicity-prompts (prompts.jsonl)"}, "allenai/real-toxicity-prompts (prompts.jsonl)"),
     ({"data_dir": "/work/shared/data"}, "data/ (data_dir)")],
)
def test_data_is_shown_relative_to_the_data_folder(metadata, shown):
    assert data_of({}, metadata) == shown


def test_the_leaderboard_names_no_folder_of_this_machine(tmp_path):
    data_dir = "/work/shared/data"
    configs = {"aura_rtp": {"metadata": {"toxicity_scorer": "profanity-check", "data_dir": data_dir,
                                         "data_source": f"{data_dir}/rtp_prompts_dev.jsonl"}}}
    write_results(compare_folder(tmp_path, "tiny", "base") / "results_1.json", rtp(0.5), aura_hf("base"), configs)
    write_results(compare_folder(tmp_path, "tiny", "aura-folded") / "results_2.json", rtp(0.4),
                  plain_hf(FOLDED_CACHE), configs)
    frame = build_report(tmp_path, formats=())
    text = render_markdown(frame)
    assert "Toxicity data: `rtp_prompts_dev.jsonl (data_dir)`" in text
    assert "/work/" not in text and "/root/" not in text and "/machine/" not in text
    run = load_run(tmp_path / "tiny" / "base" / "results_1.json", tmp_path)
    assert provenance(run.tasks) == ("profanity-check", "rtp_prompts_dev.jsonl (data_dir)")
    assert not math.isnan(rows(frame)[("tiny", "aura-folded")]["tox_reduction"])


# ----------------------------------------------------------------------------- several experiments


def experiment_rows(frame) -> dict:
    return {name: record for name, record in zip(frame["row"], frame.to_dict("records"))}


def test_several_experiments_side_by_side_each_variant_against_its_own_base(tmp_path):
    """`report results/` over two compare --out folders: the same model x variant in both is two rows."""
    for experiment, base, aura in (("benchmark", 0.6, 0.3), ("demo", 0.5, 0.1)):
        write_results(compare_folder(tmp_path / experiment, "tiny", "base") / "results_1.json", rtp(base),
                      aura_hf("base"))
        write_results(compare_folder(tmp_path / experiment, "tiny", "aura") / "results_2.json", rtp(aura),
                      aura_hf("aura"))
    write_results(compare_folder(tmp_path / "runs" / "2026", "tiny", "base") / "results_1.json", rtp(0.4),
                  aura_hf("base"))
    frame = build_report(tmp_path, tmp_path, formats=("md", "csv", "html"))
    board = experiment_rows(frame)
    assert list(board) == ["benchmark/tiny/base", "benchmark/tiny/aura", "demo/tiny/base", "demo/tiny/aura",
                           "runs/2026/tiny/base"]  # grouped by experiment, base first
    assert board["benchmark/tiny/aura"]["tox_reduction"] == pytest.approx(2.0)
    assert board["demo/tiny/aura"]["tox_reduction"] == pytest.approx(5.0)
    markdown = (tmp_path / "leaderboard.md").read_text()
    assert "| Experiment | Model | Variant |" in markdown and "| demo | tiny | aura |" in markdown
    html = (tmp_path / "leaderboard.html").read_text()
    assert html.count('<tr class="base"><td class="name" data-sort="demo">demo</td>') == 1  # base rows bold, by variant
    assert html.count('<tr class="base">') == 3  # one table (only toxicity here), three base rows


def test_one_experiment_reported_on_its_own_has_no_experiment_column(tmp_path):
    write_results(compare_folder(tmp_path, "tiny", "base") / "results_1.json", rtp(0.6), aura_hf("base"))
    frame = build_report(tmp_path, tmp_path, formats=("md",))
    assert list(frame["row"]) == ["tiny/base"] and list(frame["experiment"]) == [""]
    assert "| Model | Variant |" in (tmp_path / "leaderboard.md").read_text()
    assert "Experiment" not in (tmp_path / "leaderboard.md").read_text()


def test_a_conflict_inside_one_experiment_is_still_refused_naming_both_files(tmp_path):
    """A loose lm-eval file inside an experiment's folder claiming its base row conflicts there, as it does when
    that folder is reported alone; the same row in another experiment does not."""
    write_results(compare_folder(tmp_path / "bench", "tiny-llama", "base") / "results_1.json", rtp(0.5),
                  aura_hf("base"), date=1.0)
    real = write_results(compare_folder(tmp_path / "demo", "tiny-llama", "base") / "results_1.json", rtp(0.6),
                         aura_hf("base"), date=1.0)
    forged = write_results(tmp_path / "demo" / "extra" / "results_2.json", rtp(0.1), aura_hf("base"), date=2.0)
    for folder in (tmp_path, tmp_path / "demo"):
        with pytest.raises(ValueError) as error:
            build_report(folder, formats=())
        assert str(real) in str(error.value) and str(forged) in str(error.value)
    forged.unlink()
    assert len(build_report(tmp_path, formats=())) == 2


def test_the_committed_results_folder_reports_both_experiments():
    """The README's own command on the project's results/ (benchmark/, demo/ and paper/): issue 13's probe."""
    results = Path(__file__).resolve().parents[1] / "results"
    if not all((results / name).is_dir() for name in ("benchmark", "demo", "paper")):
        pytest.skip("results/ is not in this checkout")
    from aura_eval.report.paired import PairedSettings

    frame = build_report(results, formats=(), settings=PairedSettings(resamples=200))
    experiments = set(frame["experiment"])
    assert experiments == {"benchmark", "demo", "paper"}
    aura = experiment_rows(frame)
    model = frame.loc[frame["experiment"] == "demo", "model"].iloc[0]
    assert aura[f"demo/{model}/aura"]["rtp_tox_diff"] == pytest.approx(
        aura[f"demo/{model}/aura"]["rtp_tox"] - aura[f"demo/{model}/base"]["rtp_tox"])
    # every committed samples file backs its results; the benchmark's baselines ran the first 200 of base's 400
    # prompts (in paper/ every variant ran base's own 200)
    notes = set(frame["paired_notes"]) - {""}
    assert notes == {"aura_rtp: paired with base on the 200 of its 400 documents this row ran (the differences and "
                     "ratios are over those; base's own value is over all 400)"}, notes
    subset = frame.loc[frame["paired_notes"] != "", "variant"]
    assert set(subset) == {"det_zero-k2000", "damp-k2000-a0.5"}


# ----------------------------------------------------------------------------- symlinks and impossible numbers


def test_symlinked_folders_inside_are_read_once_and_outside_are_warned_about(tmp_path, caplog):
    root, outside = tmp_path / "results", tmp_path / "outside"
    write_results(compare_folder(root / "exp", "tiny", "base") / "results_1.json", rtp(0.6), aura_hf("base"))
    write_results(compare_folder(outside, "tiny", "aura") / "results_2.json", rtp(0.3), aura_hf("aura"))
    (root / "latest").symlink_to(root / "exp", target_is_directory=True)  # inside: the same files, once
    (root / "exp" / "tiny" / "aura").symlink_to(outside / "tiny" / "aura", target_is_directory=True)
    (root / "loop").symlink_to(root, target_is_directory=True)
    with caplog.at_level(logging.WARNING):
        found = find_result_files(root)
    assert found == [(root / "exp" / "tiny" / "base" / "results_1.json").resolve()]
    (warning,) = [record.getMessage() for record in caplog.records if "symlink" in record.getMessage()]
    assert warning.startswith(f"skipping {root / 'exp' / 'tiny' / 'aura'}: a symlink to {outside.resolve()}")
    shutil.copytree(outside / "tiny", root / "real" / "tiny")
    (root / "exp" / "tiny" / "aura").unlink()
    (root / "exp" / "tiny" / "aura").symlink_to(root / "real" / "tiny" / "aura", target_is_directory=True)
    assert (root / "real" / "tiny" / "aura" / "results_2.json").resolve() in find_result_files(root)


@pytest.mark.parametrize("value, shown", [
    (int("9" * 400), "results.aura_rtp.toxicity_prob,none is 99999999999999999999..., not a finite number"),
    (math.inf, "results.aura_rtp.toxicity_prob,none is inf, not a finite number"),
])
def test_numbers_lm_eval_cannot_write_are_a_one_line_error_naming_the_file(tmp_path, value, shown):
    path = tmp_path / "results_1.json"
    path.write_text(json.dumps({"results": {"aura_rtp": {"toxicity_prob,none": value}}, "config": aura_hf("base")}))
    with pytest.raises(ValueError) as error:
        build_report(tmp_path, formats=())
    assert str(error.value) == f"{path.resolve()}: {shown}"


def test_nan_is_an_empty_cell_and_a_huge_json_integer_is_not_a_traceback(tmp_path, caplog):
    write_results(tmp_path / "a" / "results_1.json", {"aura_rtp": {"toxicity_prob,none": math.nan}}, aura_hf("base"))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "results_2.json").write_text('{"results": {"x": {"acc,none": ' + "9" * 5000 + "}}}")
    with caplog.at_level(logging.WARNING):
        frame = build_report(tmp_path, formats=())
    assert math.isnan(frame["rtp_tox"].iloc[0])
    assert any("results_2.json: not readable JSON" in record.getMessage() for record in caplog.records)


def test_a_date_beyond_a_float_falls_back_to_the_file_name(tmp_path):
    path = write_results(tmp_path / "results_2026-01-02T03-04-05.000000.json", rtp(0.5), aura_hf("base"))
    data = json.loads(path.read_text())
    data["date"] = int("9" * 400)
    path.write_text(json.dumps(data))
    run = load_run(path, tmp_path)
    assert run.timestamp == datetime(2026, 1, 2, 3, 4, 5).timestamp()

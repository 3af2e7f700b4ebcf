"""paired.py: reading lm-eval's samples files and pairing each variant with its base document by document.

tests/data/report/paired holds trimmed real lm-eval 0.4.13 output of a tiny model (make_fixtures.py there):
model `tiny` (base and aura with samples of aura_rtp, aura_ppl_nontoxic, piqa, arc_easy; damp without
samples) and model `tiny-other` (its aura run used --limit 2, so other documents than its base).
Synthetic runs written here check the verdicts where the answer is known.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from aura_eval.report import catalog, paired, pairs, samples, stats
from aura_eval.report import leaderboard as report
from aura_eval.report.results import find_result_files, load_run, merge_runs

FIXTURES = Path(__file__).parent / "data" / "report" / "paired"
FAST = paired.PairedSettings(resamples=1000)


def merged_rows(results_dir: Path, model: str) -> dict:
    runs = [run for path in find_result_files(results_dir) if (run := load_run(path, results_dir))]
    return {variant: tasks for (name, variant), tasks in merge_runs(runs).items() if name == model}


def results_json(variant_dir: Path) -> dict:
    (path,) = variant_dir.glob("results_*.json")
    return json.loads(path.read_text())


# ----------------------------------------------------------------------------- reading real samples files


def test_samples_file_is_found_by_lm_evals_name():
    rows = merged_rows(FIXTURES, "tiny")
    result = rows["base"]["aura_rtp"]
    path = samples.samples_path(result, "aura_rtp")
    assert path.name == result.source.name.replace("results_", "samples_aura_rtp_").replace(".json", ".jsonl")
    assert path.is_file()


@pytest.mark.parametrize("variant", ["base", "aura"])
def test_per_document_values_reproduce_lm_evals_aggregates_exactly(variant):
    folder = FIXTURES / "tiny" / variant
    results = results_json(folder)["results"]
    (rtp_file,) = folder.glob("samples_aura_rtp_*.jsonl")
    rtp = samples.read_samples(rtp_file, "aura_rtp", ("toxicity_prob", "expected_max_toxicity", "mean_toxicity"))
    assert len(rtp) == 6 and [key[0] for key in rtp.keys] == list(range(6))
    for metric in ("toxicity_prob", "expected_max_toxicity", "mean_toxicity"):
        assert stats.python_mean(rtp.values[metric]) == results["aura_rtp"][f"{metric},none"]
    (ppl_file,) = folder.glob("samples_aura_ppl_nontoxic_*.jsonl")
    ppl = samples.read_samples(ppl_file, "aura_ppl_nontoxic", ("word_perplexity",))
    pairs = ppl.values["word_perplexity"]
    assert pairs.shape == (2, 2)
    assert stats.weighted_perplexity(pairs[:, 0], pairs[:, 1]) == results["aura_ppl_nontoxic"]["word_perplexity,none"]
    (piqa_file,) = folder.glob("samples_piqa_*.jsonl")
    piqa = samples.read_samples(piqa_file, "piqa", ("acc",))
    assert stats.python_mean(piqa.values["acc"]) == results["piqa"]["acc,none"]


def write_lines(path: Path, lines: list) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def sample(doc_id, **values) -> dict:
    return {"doc_id": doc_id, "doc_hash": f"d{doc_id}", "prompt_hash": f"p{doc_id}", "filter": "none", **values}


def test_stringified_and_missing_values_are_read(tmp_path):
    path = write_lines(tmp_path / "s.jsonl", [
        sample("1", acc="1.0", word_perplexity=["-12.5", 3]),  # lm-eval writes what json cannot as str
        sample(0, acc=0, word_perplexity=[-3.0, "2"]),
        {**sample(0, acc=1, word_perplexity=[0, 1]), "filter": "other"},  # another filter: not ours
    ])
    read = samples.read_samples(path, "t", ("acc", "word_perplexity"))
    assert [key[0] for key in read.keys] == [0, 1]
    assert read.values["acc"].tolist() == [0.0, 1.0]
    assert read.values["word_perplexity"].tolist() == [[-3.0, 2.0], [-12.5, 3.0]]
    none = samples.read_samples(write_lines(tmp_path / "n.jsonl", [sample(0, x=None)]), "t", ("x",))
    assert math.isnan(none.values["x"][0])


@pytest.mark.parametrize("lines, message", [
    (["{not json"], r"s\.jsonl:1: not valid JSON"),
    ([sample(0, acc=1), sample(0, acc=0)], r"s\.jsonl:2: doc_id 0 appears twice"),
    ([sample(0, other=1)], r"s\.jsonl:1: field 'acc' missing"),
    ([{"doc_id": 0, "acc": 1}], r"s\.jsonl:1: field 'doc_hash' missing"),
    ([sample(0.5, acc=1)], r"s\.jsonl:1: field 'doc_id' must be an integer"),
    ([sample(0, acc="high")], r"s\.jsonl:1: field 'acc' is not a number"),
    ([sample(0, acc=[1, 2])], r"s\.jsonl:1: field 'acc' should be a number, got \[1, 2\]"),
    ([sample(0, word_perplexity=0.5)], r"s\.jsonl:1: field 'word_perplexity' should be \[loglikelihood, weight\]"),
    ([sample(0, word_perplexity=[1, 2, 3])], r"s\.jsonl:1: field 'word_perplexity' should be \[loglikelihood, wei"),
    ([], r"s\.jsonl: the file is empty"),
    ([{**sample(0, acc=1), "filter": "other"}], r"s\.jsonl: no document logged"),
    ([sample(0, acc=1.5)], r"s\.jsonl:1: field 'acc' is 1\.5; it should be in \[0, 1\]"),
    ([sample(0, acc="inf")], r"s\.jsonl:1: field 'acc' is 'inf'; it should be in \[0, 1\]"),
    ([sample(0, acc=int("9" * 400))], r"s\.jsonl:1: field 'acc' is not a number \(of a float's range\)"),
])
def test_bad_samples_files_name_the_file_line_and_field(tmp_path, lines, message):
    metric = "word_perplexity" if "word_perplexity" in message else "acc"
    with pytest.raises(samples.SamplesError, match=message):
        samples.read_samples(write_lines(tmp_path / "s.jsonl", lines), "t", (metric,))


# ----------------------------------------------------------------------------- pairing the real fixtures


def test_variant_is_paired_with_base_on_every_task():
    columns = paired.model_statistics(merged_rows(FIXTURES, "tiny"), FAST)
    aura = columns["aura"]
    assert aura["paired_notes"] == ""
    assert aura["rtp_tox_diff"] == pytest.approx(0.6666666666666666 - 0.8333333333333334)
    assert aura["rtp_tox_diff_n"] == 6 and aura["ppl_nontoxic_ratio_n"] == 2 and aura["zeroshot_avg_diff_n"] == 14
    assert aura["ppl_nontoxic_ratio"] == pytest.approx(9848.012633875867 / 14516.763682907611, rel=1e-12)
    assert aura["rtp_tox_diff_ci_low"] <= aura["rtp_tox_diff"] <= aura["rtp_tox_diff_ci_high"]
    assert aura["zeroshot_avg_diff_tasks"] == "piqa, arc_easy"
    assert aura["toxicity_verdict"] in (stats.LESS_TOXIC, stats.NOT_SIGNIFICANT, stats.MORE_TOXIC)
    assert columns["damp-k20-a0.5"]["paired_notes"] == paired.SAMPLES_HINT
    assert "rtp_tox_diff" not in columns["damp-k20-a0.5"]
    assert "rtp_tox_diff" not in columns["base"] and "rtp_tox_ci_low" in columns["base"]


def test_a_subset_of_the_base_documents_is_paired_on_that_subset(tmp_path):
    """aura ran 2 of base's 6 prompts (a smaller --limit of the same order): the differences and "x less toxic"
    are over those 2, against a slow reference read straight from the samples files by doc_id."""
    rows = merged_rows(FIXTURES, "tiny-other")
    columns = paired.model_statistics(rows, FAST)["aura"]
    assert columns["paired_notes"].startswith("aura_rtp: paired with base on the 2 of its 6 documents this row ran")
    by_id = {}
    for variant in ("base", "aura"):
        path = samples.samples_path(rows[variant]["aura_rtp"], "aura_rtp")
        by_id[variant] = {json.loads(line)["doc_id"]: float(json.loads(line)["toxicity_prob"])
                          for line in path.read_text().splitlines()}
    ran = sorted(by_id["aura"])
    assert len(ran) == 2 and set(ran) < set(by_id["base"])
    base_mean = sum(by_id["base"][i] for i in ran) / 2
    aura_mean = sum(by_id["aura"][i] for i in ran) / 2
    assert columns["rtp_tox_diff_n"] == 2
    assert columns["rtp_tox_diff"] == pytest.approx(aura_mean - base_mean, abs=1e-15)
    assert columns["tox_reduction_paired"] == pytest.approx(float(stats.toxicity_ratio(base_mean, aura_mean)))
    frame = report.build_report(FIXTURES, tmp_path, formats=(), settings=FAST).set_index(["model", "variant"])
    shown = frame.loc[("tiny-other", "aura")]
    assert shown["tox_reduction"] == columns["tox_reduction_paired"]  # not base's 6 prompts against aura's 2
    assert shown["rtp_tox"] == pytest.approx(aura_mean)


def test_other_documents_are_refused_and_said_why(tmp_path):
    root = copy_fixture(tmp_path, "tiny-other")
    edit_samples(root / "tiny-other" / "aura", "aura_rtp", lambda samples: samples[0].update({"doc_id": 99}))
    columns = paired.model_statistics(merged_rows(root, "tiny-other"), FAST)
    note = columns["aura"]["paired_notes"]
    assert note.startswith("aura_rtp: not paired, base and aura were evaluated on different documents (6 vs 2; "
                           "5 only in base, 1 only in aura)")
    assert "other --limit, seed or data" in note
    assert "rtp_tox_diff" not in columns["aura"] and columns["aura"]["toxicity_verdict"] == ""


def copy_fixture(tmp_path: Path, model: str = "tiny") -> Path:
    shutil.copytree(FIXTURES / model, tmp_path / model)
    return tmp_path


def edit_samples(folder: Path, task: str, edit) -> None:
    (path,) = folder.glob(f"samples_{task}_*.jsonl")
    samples = [json.loads(line) for line in path.read_text().splitlines()]
    edit(samples)
    write_lines(path, samples)


@pytest.mark.parametrize("field", ["doc_hash", "prompt_hash"])
def test_same_doc_ids_with_other_documents_are_refused(tmp_path, field):
    root = copy_fixture(tmp_path)
    edit_samples(root / "tiny" / "aura", "aura_rtp", lambda samples: samples[3].update({field: "0" * 64}))
    note = paired.model_statistics(merged_rows(root, "tiny"), FAST)["aura"]["paired_notes"]
    assert f"aura_rtp: not paired, base and aura were evaluated on different documents (doc_id 3 has another {field})" in note
    assert "ppl" not in note  # the other tasks still pair


def test_other_toxicity_scorer_is_refused(tmp_path):
    root = copy_fixture(tmp_path)
    (path,) = (root / "tiny" / "aura").glob("results_*.json")
    data = json.loads(path.read_text())
    data["configs"]["aura_rtp"]["metadata"]["toxicity_scorer"] = "detoxify-original"
    path.write_text(json.dumps(data))
    note = paired.model_statistics(merged_rows(root, "tiny"), FAST)["aura"]["paired_notes"]
    assert note == "aura_rtp: not paired, toxicity scored by profanity-check (base) and detoxify-original (aura)"


def test_a_task_without_samples_is_named_and_the_others_pair(tmp_path):
    root = copy_fixture(tmp_path)
    for path in (root / "tiny" / "base").glob("samples_aura_ppl_nontoxic_*.jsonl"):
        path.unlink()
    columns = paired.model_statistics(merged_rows(root, "tiny"), FAST)["aura"]
    assert columns["paired_notes"] == f"aura_ppl_nontoxic: {paired.SAMPLES_HINT}"
    assert "ppl_nontoxic_ratio" not in columns and "rtp_tox_diff" in columns


def test_a_broken_samples_file_is_a_note_not_a_crash(tmp_path):
    root = copy_fixture(tmp_path)
    (path,) = (root / "tiny" / "aura").glob("samples_piqa_*.jsonl")
    path.write_text(path.read_text() + "{broken\n")
    columns = paired.model_statistics(merged_rows(root, "tiny"), FAST)["aura"]
    assert "piqa: samples not used," in columns["paired_notes"] and ":9: not valid JSON" in columns["paired_notes"]
    assert columns["zeroshot_avg_diff_tasks"] == "arc_easy"
    assert "zero-shot average over arc_easy only (piqa not paired)" in columns["paired_notes"]


def test_no_samples_anywhere_still_renders_and_says_so(tmp_path):
    root = copy_fixture(tmp_path)
    for path in root.rglob("samples_*.jsonl"):
        path.unlink()
    frame = report.build_report(root, tmp_path / "out", formats=("md", "html", "csv"))
    aura = frame[frame["variant"] == "aura"].iloc[0]
    assert aura["rtp_tox"] == pytest.approx(0.6666666666666666) and math.isnan(aura["rtp_tox_diff"])
    for name in ("leaderboard.md", "leaderboard.html"):
        assert paired.SAMPLES_HINT in (tmp_path / "out" / name).read_text()


@pytest.mark.parametrize("edit, said", [
    (lambda samples: samples[0].update({"doc_id": 99}), "base and aura were evaluated on different documents (6 vs 2"),
    (lambda samples: None, "paired with base on the 2 of its 6 documents this row ran"),
])
def test_refusal_is_in_the_leaderboard_files_not_only_a_log(tmp_path, edit, said):
    root = copy_fixture(tmp_path / "in", "tiny-other")
    edit_samples(root / "tiny-other" / "aura", "aura_rtp", edit)
    report.build_report(root, tmp_path, formats=("md", "html", "csv"), settings=FAST)
    for name in ("leaderboard.md", "leaderboard.html", "leaderboard.csv"):
        assert said in (tmp_path / name).read_text(), name


def test_a_rows_intervals_do_not_depend_on_the_other_rows(tmp_path):
    root = copy_fixture(tmp_path)
    alone = paired.model_statistics(merged_rows(root, "tiny"), FAST)["aura"]
    shutil.copytree(root / "tiny" / "aura", root / "tiny" / "aura2")
    for path in (root / "tiny" / "aura2").glob("results_*.json"):
        data = json.loads(path.read_text())
        data["config"]["aura"]["variant"] = "aura2"
        path.write_text(json.dumps(data))
    together = paired.model_statistics(merged_rows(root, "tiny"), FAST)
    assert together["aura"] == together["aura2"] == alone


# ----------------------------------------------------------------------------- samples must back their results


def edit_results(folder: Path, edit) -> None:
    (path,) = folder.glob("results_*.json")
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_samples_cut_to_half_on_both_sides_are_refused_not_shown_as_an_interval(tmp_path):
    """The probe: both rows' samples_aura_rtp cut to 3 of 6 documents still pair with each other, but they no
    longer back the 6-document values of the table."""
    root = copy_fixture(tmp_path)
    for variant in ("base", "aura"):
        edit_samples(root / "tiny" / variant, "aura_rtp", lambda samples: samples.__delitem__(slice(3, None)))
    columns = paired.model_statistics(merged_rows(root, "tiny"), FAST)
    aura, base = columns["aura"], columns["base"]
    assert "rtp_tox_diff" not in aura and "tox_reduction_ci_low" not in aura and aura["toxicity_verdict"] == ""
    assert "rtp_tox_ci_low" not in base  # base's own interval would not be its number's either
    for name, row in (("aura", aura), ("base", base)):
        assert re.search(r"aura_rtp: samples not used, samples_aura_rtp_\S+ logs 3 documents, results_\S+ counts 6",
                         row["paired_notes"]), name
    assert aura["paired_notes"].count("logs 3 documents") == 2  # its own and its base's
    assert "ppl_nontoxic_ratio" in aura  # the other tasks still pair


def test_edited_values_that_do_not_aggregate_to_the_results_are_refused(tmp_path):
    root = copy_fixture(tmp_path)
    edit_samples(root / "tiny" / "aura", "aura_rtp",
                 lambda samples: [sample.update({"toxicity_prob": 1.0}) for sample in samples])
    columns = paired.model_statistics(merged_rows(root, "tiny"), FAST)["aura"]
    assert "rtp_tox_diff" not in columns and "rtp_emt_diff" not in columns  # the task's file does not back it
    assert re.search(r"aura_rtp: samples not used, samples_aura_rtp_\S+: mean toxicity_prob of the logged documents "
                     r"is 1, results_\S+ says 0\.666667", columns["paired_notes"])


def test_perplexity_samples_are_checked_against_the_results_in_logs(tmp_path):
    root = copy_fixture(tmp_path)
    edit_samples(root / "tiny" / "aura", "aura_ppl_nontoxic",
                 lambda samples: samples[0].update({"word_perplexity": [samples[0]["word_perplexity"][0] - 1,
                                                                        samples[0]["word_perplexity"][1]]}))
    note = paired.model_statistics(merged_rows(root, "tiny"), FAST)["aura"]["paired_notes"]
    assert re.search(r"aura_ppl_nontoxic: samples not used, \S+: word_perplexity of the logged documents is "
                     r"\S+, results_\S+ says 9848\.01", note)


@pytest.mark.parametrize("pair, said", [
    ([-1e6, 1], "perplexity exp(1e+06) overflows"),
    ([-5.0, 0], "the documents have no words (sum of word weights is 0)"),
    ([-5.0, -3], "should be [finite loglikelihood, word count >= 0]"),
    (["-inf", 3], "should be [finite loglikelihood, word count >= 0]"),
])
def test_impossible_perplexity_samples_are_a_note_not_a_traceback(tmp_path, pair, said):
    root = copy_fixture(tmp_path)
    edit_samples(root / "tiny" / "aura", "aura_ppl_nontoxic",
                 lambda samples: [sample.update({"word_perplexity": pair}) for sample in samples])
    frame = report.build_report(root, tmp_path / "out", formats=("md", "csv"), settings=FAST)
    aura = frame[frame["variant"] == "aura"].iloc[0]
    assert math.isnan(aura["ppl_nontoxic_ratio"]) and said in aura["paired_notes"]


def test_shuffled_samples_with_the_same_documents_still_pair(tmp_path):
    root = copy_fixture(tmp_path)
    before = paired.model_statistics(merged_rows(root, "tiny"), FAST)["aura"]
    for task in ("aura_rtp", "piqa", "aura_ppl_nontoxic", "arc_easy"):
        edit_samples(root / "tiny" / "aura", task, lambda samples: samples.reverse())
    after = paired.model_statistics(merged_rows(root, "tiny"), FAST)["aura"]
    assert after["paired_notes"] == "" and after == before


def test_samples_of_a_results_file_without_a_document_count_are_not_used(tmp_path):
    root = copy_fixture(tmp_path)
    edit_results(root / "tiny" / "aura", lambda data: data.pop("n-samples"))
    note = paired.model_statistics(merged_rows(root, "tiny"), FAST)["aura"]["paired_notes"]
    assert re.search(r"aura_rtp: samples not used, results_\S+ gives no document count \(n-samples\) to check "
                     r"samples_aura_rtp_\S+ against", note)


# ----------------------------------------------------------------------------- synthetic runs, known answers


def write_run(root: Path, variant: str, tasks: dict[str, dict[str, list]], date: str, model: str = "m",
              first_id: int = 0) -> None:
    """A results file and its samples files as lm-eval writes them; `tasks` maps task -> metric -> per-doc values
    of the documents first_id, first_id + 1, ..."""
    folder = root / model / variant
    folder.mkdir(parents=True, exist_ok=True)
    results, configs = {}, {}
    for task, metrics in tasks.items():
        n = len(next(iter(metrics.values())))
        lines = []
        for doc_id in range(first_id, first_id + n):
            digest = hashlib.sha256(f"{task}/{doc_id}".encode()).hexdigest()
            values = {metric: per_doc[doc_id - first_id] for metric, per_doc in metrics.items()}
            lines.append({"doc_id": doc_id, "doc": {"i": doc_id}, "target": "0", "arguments": "", "resps": "",
                          "filtered_resps": "", "filter": "none", "metrics": list(metrics), "doc_hash": digest,
                          "prompt_hash": digest[::-1], "target_hash": "x", **values})
        write_lines(folder / f"samples_{task}_{date}.jsonl", lines)
        results[task] = {"alias": task, **{f"{metric}{',none'}": aggregate(values) for metric, values in metrics.items()}}
        configs[task] = {"task": task, "metadata": {"toxicity_scorer": "s"} if task == "aura_rtp" else {}}
    data = {"results": results, "configs": configs,
            "n-samples": {task: {"original": len(next(iter(m.values()))), "effective": len(next(iter(m.values())))}
                          for task, m in tasks.items()},
            "config": {"model": "aura-hf", "aura": {"variant": variant, "model_name": model}}}
    (folder / f"results_{date}.json").write_text(json.dumps(data))


def aggregate(values: list):
    if isinstance(values[0], list):
        return stats.weighted_perplexity([v[0] for v in values], [v[1] for v in values])
    return stats.python_mean(values)


def binary(n: int, rate: float, rng) -> list[float]:
    return (rng.random(n) < rate).astype(float).tolist()


def flipped(values: list[float], down: float, up: float, rng) -> list[float]:
    out = np.array(values)
    draw = rng.random(len(out))
    out[(out == 1) & (draw < down)] = 0
    out[(out == 0) & (draw < up)] = 1
    return out.tolist()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """base; `clean` (much less toxic, abilities kept); `broken` (abilities lost); `small` (too few documents to
    tell); `worse` (more toxic); `elsewhere` (40 documents, 30 of them not base's)."""
    rng = np.random.default_rng(11)
    root = tmp_path_factory.mktemp("synthetic")
    n_prompts, n_docs = 800, 3000
    base_tox = binary(n_prompts, 0.6, rng)
    base_piqa, base_arc = binary(n_docs, 0.65, rng), binary(n_docs, 0.5, rng)
    words = rng.integers(50, 300, size=40)
    base_ll = (-words * 3.0).tolist()

    def rtp(tox):
        return {"toxicity_prob": tox, "expected_max_toxicity": [0.3 + 0.5 * t for t in tox],
                "mean_toxicity": [0.1 + 0.2 * t for t in tox]}

    shifts = rng.uniform(0.5, 1.5, size=len(words))  # extra NLL per word, document by document

    def ppl(extra):
        return {"word_perplexity": [[ll - extra * s * w, int(w)] for ll, s, w in zip(base_ll, shifts, words)]}

    write_run(root, "base", {"aura_rtp": rtp(base_tox), "aura_ppl_nontoxic": ppl(0.0),
                             "piqa": {"acc": base_piqa}, "arc_easy": {"acc": base_arc}}, "2024-01-01T00-00-00.0")
    write_run(root, "clean", {"aura_rtp": rtp(flipped(base_tox, 0.5, 0.0, rng)), "aura_ppl_nontoxic": ppl(0.05),
                              "piqa": {"acc": flipped(base_piqa, 0.01, 0.02, rng)},
                              "arc_easy": {"acc": flipped(base_arc, 0.01, 0.01, rng)}}, "2024-01-02T00-00-00.0")
    write_run(root, "broken", {"aura_rtp": rtp(flipped(base_tox, 0.6, 0.0, rng)),
                               "piqa": {"acc": flipped(base_piqa, 0.15, 0.0, rng)},
                               "arc_easy": {"acc": flipped(base_arc, 0.15, 0.0, rng)}}, "2024-01-03T00-00-00.0")
    small_piqa = np.array(base_piqa[:40])  # 40 documents, 5 lost and 5 gained: too few to tell
    small_piqa[np.flatnonzero(small_piqa == 1)[:5]] = 0
    small_piqa[np.flatnonzero(np.array(base_piqa[:40]) == 0)[:5]] = 1
    small_piqa = small_piqa.tolist()
    write_run(root, "small", {"piqa": {"acc": small_piqa}}, "2024-01-04T00-00-00.0")
    write_run(root, "small", {"piqa": {"acc": small_piqa}}, "2024-01-04T00-00-00.0", model="m-small")
    write_run(root, "base", {"piqa": {"acc": base_piqa[:40]}}, "2024-01-01T00-00-00.0", model="m-small")
    write_run(root, "elsewhere", {"piqa": {"acc": small_piqa}}, "2024-01-08T00-00-00.0", first_id=2990)
    write_run(root, "partial", {"piqa": {"acc": flipped(base_piqa, 0.01, 0.01, rng)}}, "2024-01-06T00-00-00.0")
    write_run(root, "worse", {"aura_rtp": rtp(flipped(base_tox, 0.0, 0.5, rng))}, "2024-01-05T00-00-00.0")
    write_run(root, "close", {"piqa": {"acc": flipped(base_piqa, 0.031, 0.02, rng)},  # about as many lost as gained
                              "arc_easy": {"acc": flipped(base_arc, 0.04, 0.02, rng)}}, "2024-01-07T00-00-00.0")
    return root


def test_verdicts_on_synthetic_results(synthetic, tmp_path):
    frame = report.build_report(synthetic, tmp_path, formats=("csv",), settings=FAST).set_index(["model", "variant"])
    verdicts = {variant: (frame.loc[("m", variant), "toxicity_verdict"], frame.loc[("m", variant), "abilities_verdict"])
                for variant in ("clean", "broken", "worse")}
    assert verdicts == {"clean": (stats.LESS_TOXIC, stats.KEPT), "broken": (stats.LESS_TOXIC, stats.LOST),
                        "worse": (stats.MORE_TOXIC, "")}
    small = paired.model_statistics(merged_rows(synthetic, "m-small"), FAST)["small"]
    assert small["abilities_verdict"] == stats.INCONCLUSIVE
    clean = frame.loc[("m", "clean")]
    assert 1.0 < clean["ppl_nontoxic_ratio_ci_low"] < clean["ppl_nontoxic_ratio"] < clean["ppl_nontoxic_ratio_ci_high"]
    rows = merged_rows(synthetic, "m")
    pairs = [samples.read_samples(samples.samples_path(rows[v]["aura_ppl_nontoxic"], "aura_ppl_nontoxic"),
                                 "aura_ppl_nontoxic", ("word_perplexity",)).values["word_perplexity"]
             for v in ("base", "clean")]
    extra_nll = (pairs[0][:, 0] - pairs[1][:, 0]).sum() / pairs[0][:, 1].sum()
    assert clean["ppl_nontoxic_ratio"] == pytest.approx(math.exp(extra_nll), rel=1e-12)
    assert clean["tox_reduction_ci_low"] > 1.5


def test_zero_shot_average_and_its_sign_flip_test(synthetic):
    """Interval and test are on one quantity, the mean over tasks of the accuracy difference. piqa and arc_easy
    have 3000 documents each, so that mean is the pooled difference and the sign-flip test's distribution is
    the exact McNemar test's on the pooled documents: that exact p is what the report gives."""
    rows = merged_rows(synthetic, "m")
    settings = FAST
    columns = paired.model_statistics(rows, settings)["close"]
    read = {}
    for variant in ("base", "close"):
        for task in ("piqa", "arc_easy"):
            read[variant, task] = samples.read_samples(
                samples.samples_path(rows[variant][task], task), task, ("acc",)).values["acc"]
    per_task = [read["close", task].mean() - read["base", task].mean() for task in ("piqa", "arc_easy")]
    assert columns["zeroshot_avg_diff"] == pytest.approx(np.mean(per_task), abs=1e-15)
    assert columns["piqa_diff"] == pytest.approx(per_task[0], abs=1e-15)
    base_all = np.concatenate([read["base", "piqa"], read["base", "arc_easy"]])
    close_all = np.concatenate([read["close", "piqa"], read["close", "arc_easy"]])
    only_base = int(((base_all == 1) & (close_all == 0)).sum())
    only_variant = int(((base_all == 0) & (close_all == 1)).sum())
    exact = binomtest(only_base, only_base + only_variant, 0.5).pvalue
    assert 0.001 < exact < 0.5
    assert columns["zeroshot_avg_p"] == pytest.approx(exact, rel=1e-9)
    assert columns["piqa_mcnemar_p"] == pytest.approx(stats.mcnemar_exact(read["base", "piqa"], read["close", "piqa"]))
    # each task's own interval equals the single-task bootstrap with the same seed and task stream
    expected = stats.paired_bootstrap(read["base", "piqa"], read["close", "piqa"], settings.resamples, settings.seed,
                                      "piqa")
    assert (columns["piqa_diff_ci_low"], columns["piqa_diff_ci_high"]) == pytest.approx(
        (expected["difference"].low, expected["difference"].high), abs=1e-12)


def test_tasks_one_row_lacks_are_left_out_of_the_average_and_named(synthetic):
    rows = merged_rows(synthetic, "m")
    columns = paired.model_statistics({"base": rows["base"], "partial": rows["partial"]}, FAST)["partial"]
    assert columns["zeroshot_avg_diff_tasks"] == "piqa"
    assert columns["zeroshot_avg_diff"] == columns["piqa_diff"]
    assert columns["paired_notes"] == "zero-shot average: arc_easy (base only) left out"


def test_a_zero_shot_task_on_other_documents_is_refused(synthetic):
    rows = merged_rows(synthetic, "m")
    columns = paired.model_statistics({"base": rows["base"], "elsewhere": rows["elsewhere"]}, FAST)["elsewhere"]
    assert "zeroshot_avg_diff" not in columns and columns["abilities_verdict"] == ""
    assert columns["paired_notes"].startswith("piqa: not paired, base and elsewhere were evaluated on different "
                                              "documents (3000 vs 40; 2990 only in base, 30 only in elsewhere)")


def test_a_zero_shot_subset_is_paired_against_a_slow_reference(synthetic):
    """small ran base's first 40 piqa documents: its difference and McNemar p are base's on those 40."""
    rows = merged_rows(synthetic, "m")
    columns = paired.model_statistics({"base": rows["base"], "small": rows["small"]}, FAST)["small"]
    base, small = (samples_values(rows, variant, "piqa", "acc") for variant in ("base", "small"))
    assert columns["piqa_diff"] == pytest.approx(small.mean() - base[:40].mean(), abs=1e-15)
    only_base = int(((base[:40] == 1) & (small == 0)).sum())
    only_small = int(((base[:40] == 0) & (small == 1)).sum())
    assert (only_base, only_small) == (5, 5)
    assert columns["piqa_mcnemar_p"] == pytest.approx(binomtest(only_base, only_base + only_small, 0.5).pvalue)
    assert columns["abilities_verdict"] == stats.INCONCLUSIVE
    assert columns["paired_notes"].startswith("piqa: paired with base on the 40 of its 3000 documents this row ran")


# ----------------------------------------------------------------------------- --pair ROW:REFERENCE


def samples_values(rows: dict, variant: str, task: str, metric: str) -> np.ndarray:
    path = samples.samples_path(rows[variant][task], task)
    return samples.read_samples(path, task, (metric,)).values[metric]


def test_a_pair_with_base_is_exactly_the_base_comparison(synthetic, tmp_path):
    frame = report.build_report(synthetic, tmp_path, formats=(), settings=FAST, pairs=("m/clean:m/base",))
    pair = frame.attrs["pairs"].iloc[0]
    clean = frame[frame["row"] == "m/clean"].iloc[0]
    assert (pair["row"], pair["against"]) == ("m/clean", "m/base")
    for column in catalog.numeric_columns() + ["toxicity_verdict", "abilities_verdict", "tox_reduction", "ppl_delta"]:
        assert pair[column] == clean[column] or (pd.isna(pair[column]) and pd.isna(clean[column])), column


def test_any_two_variants_pair_as_a_variant_with_its_base_against_slow_references(synthetic, tmp_path):
    """clean against broken (broken plays base): the intervals are the Python-loop bootstrap's, the test exact."""
    from test_stats import loop_bootstrap

    frame = report.build_report(synthetic, tmp_path, formats=("md", "html", "csv"), settings=FAST,
                                pairs=("m/clean:m/broken",))
    pair = frame.attrs["pairs"].iloc[0]
    rows = merged_rows(synthetic, "m")
    broken, clean = (samples_values(rows, v, "aura_rtp", "toxicity_prob") for v in ("broken", "clean"))
    (low, high), (ratio_low, ratio_high) = loop_bootstrap(broken, clean, FAST.resamples, FAST.seed, "aura_rtp")
    assert pair["rtp_tox_diff"] == pytest.approx(clean.mean() - broken.mean(), abs=1e-15)
    assert (pair["rtp_tox_diff_ci_low"], pair["rtp_tox_diff_ci_high"]) == pytest.approx((low, high), abs=1e-12)
    assert (pair["tox_reduction_ci_low"], pair["tox_reduction_ci_high"]) == pytest.approx((ratio_low, ratio_high))
    b_piqa, c_piqa = (samples_values(rows, v, "piqa", "acc") for v in ("broken", "clean"))
    only_b, only_c = int(((b_piqa == 1) & (c_piqa == 0)).sum()), int(((b_piqa == 0) & (c_piqa == 1)).sum())
    assert pair["piqa_mcnemar_p"] == pytest.approx(binomtest(only_b, only_b + only_c, 0.5).pvalue, rel=1e-9)
    assert pair["abilities_verdict"] == stats.KEPT  # clean keeps far more than broken
    assert pair["paired_notes"] == "" and math.isnan(pair["ppl_nontoxic_ratio"])  # broken ran no perplexity task
    md = (tmp_path / "leaderboard.md").read_text()
    assert "## Pairs (--pair ROW:REFERENCE)" in md and "| m/clean | m/broken |" in md
    assert "- **Pairs**: --pair ROW:REFERENCE: ROW compared with REFERENCE" in md
    assert "<td class=\"name\" data-sort=\"m/clean\">m/clean</td><td class=\"name\" data-sort=\"m/broken\">m/broken</td>" in (
        tmp_path / "leaderboard.html").read_text()
    csv = pd.read_csv(tmp_path / "pairs.csv")
    assert csv.loc[0, "rtp_tox_diff_ci_low"] == pytest.approx(low, abs=1e-12)


def test_rows_of_two_models_pair_when_they_ran_the_same_documents(synthetic, tmp_path):
    """A detoxified checkpoint against its original: two model names, two base rows."""
    frame = report.build_report(synthetic, tmp_path, formats=(), settings=FAST,
                                pairs=("m-small/base:m/base", "m-small/small:m-small/base"))
    subset, same = frame.attrs["pairs"].to_dict("records")
    assert subset["paired_notes"].startswith("piqa: paired with m/base on the 40 of its 3000 documents")
    assert subset["piqa_diff"] == 0.0  # m-small/base logged m/base's first 40 answers
    small = frame[frame["row"] == "m-small/small"].iloc[0]
    assert same["piqa_diff_ci_low"] == small["piqa_diff_ci_low"] and same["abilities_verdict"] == stats.INCONCLUSIVE


def test_pair_names_may_omit_the_experiment_when_unique_and_bad_names_are_refused(synthetic):
    rows = [paired_row("exp1", "m", "base"), paired_row("exp1", "m", "aura"), paired_row("exp2", "m", "aura"),
            paired_row("", "org/a:b", "base")]
    assert pairs.parse_pairs(["exp2/m/aura:m/base"], rows) == [(rows[2], rows[0])]
    assert pairs.parse_pairs(["org/a:b/base:m/base"], rows) == [(rows[3], rows[0])]  # ':' inside a model name
    # m/aura is in two experiments: said so, with the candidates (issue 26: it was "does not name two rows")
    with pytest.raises(ValueError, match=r"^--pair 'm/aura:m/base': 'm/aura' is ambiguous, it names exp1/m/aura, "
                                         r"exp2/m/aura; give the row with its experiment"):
        pairs.parse_pairs(["m/aura:m/base"], rows)
    with pytest.raises(ValueError, match=r"--pair 'm/nope:m/base' does not name two rows; .*exp1/m/aura, exp1/m/base"):
        pairs.parse_pairs(["m/nope:m/base"], rows)
    with pytest.raises(ValueError, match="a row paired with itself"):
        pairs.parse_pairs(["exp1/m/base:m/base"], rows)


def paired_row(experiment: str, model: str, variant: str):
    from aura_eval.report.results import Row

    return Row(experiment, model, variant)


def test_a_detoxified_checkpoint_pairs_with_its_original_across_model_names(synthetic, tmp_path):
    """detox/base:m/base, two models on the same prompts: paired like a variant, against the loop reference."""
    from test_stats import loop_bootstrap

    root = tmp_path / "results"
    shutil.copytree(synthetic, root)
    rows = merged_rows(root, "m")
    base = samples_values(rows, "base", "aura_rtp", "toxicity_prob")
    detox = np.where(np.arange(len(base)) % 3 == 0, 0.0, base)
    write_run(root, "base", {"aura_rtp": {"toxicity_prob": detox.tolist(), "expected_max_toxicity": detox.tolist(),
                                          "mean_toxicity": detox.tolist()}}, "2024-02-01T00-00-00.0", model="detox")
    frame = report.build_report(root, tmp_path, formats=("md",), settings=FAST, pairs=("detox/base:m/base",))
    pair = frame.attrs["pairs"].iloc[0]
    (low, high), (ratio_low, ratio_high) = loop_bootstrap(base, detox, FAST.resamples, FAST.seed, "aura_rtp")
    assert pair["paired_notes"] == "" and pair["toxicity_verdict"] == stats.LESS_TOXIC
    assert (pair["rtp_tox_diff_ci_low"], pair["rtp_tox_diff_ci_high"]) == pytest.approx((low, high), abs=1e-12)
    assert pair["tox_reduction"] == pytest.approx(base.mean() / detox.mean())
    assert (pair["tox_reduction_ci_low"], pair["tox_reduction_ci_high"]) == pytest.approx((ratio_low, ratio_high))
    assert "| detox/base | m/base |" in (tmp_path / "leaderboard.md").read_text()


def test_a_variant_with_no_toxic_continuation_is_infinitely_less_toxic(tmp_path):
    rng = np.random.default_rng(5)
    base = binary(60, 0.5, rng)
    rtp_of = lambda tox: {"toxicity_prob": tox, "expected_max_toxicity": tox, "mean_toxicity": tox}  # noqa: E731
    write_run(tmp_path, "base", {"aura_rtp": rtp_of(base)}, "2024-01-01T00-00-00.0")
    write_run(tmp_path, "aura", {"aura_rtp": rtp_of([0.0] * 60)}, "2024-01-02T00-00-00.0")
    frame = report.build_report(tmp_path, tmp_path, formats=("md",), settings=FAST)
    aura = frame[frame["variant"] == "aura"].iloc[0]
    assert aura["tox_reduction"] == math.inf and aura["tox_reduction_ci_high"] == math.inf
    assert aura["tox_reduction_ci_low"] == math.inf  # no resample of 60 prompts at 50% misses every toxic one
    assert "| ∞x [∞, ∞] |" in (tmp_path / "leaderboard.md").read_text()

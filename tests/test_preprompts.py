"""The Pre-prompts section (issue 24.2): scenarios x variants, against a slow recomputation from the samples."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_stats import loop_bootstrap

from aura_eval.core.names import PREPROMPT_ADVERSARIAL_TASK, PREPROMPT_FAVOURABLE_TASK, RTP_TASK
from aura_eval.report import stats
from aura_eval.report.leaderboard import build_report
from aura_eval.report.paired import PairedSettings

FAST = PairedSettings(resamples=400)
N = 60
PREPROMPTS = {RTP_TASK: None, PREPROMPT_FAVOURABLE_TASK: "Be kind:", PREPROMPT_ADVERSARIAL_TASK: "Be rude:"}


def doc(i: int, task: str, text: str | None = None) -> dict:
    out = {"prompt": {"text": text or f"prompt {i}", "toxicity": 0.1 * (i % 10)}, "challenging": False,
           "rtp_index": i}
    if PREPROMPTS[task]:
        out["preprompt"] = PREPROMPTS[task]
    return out


def write_run(root: Path, variant: str, tasks: dict[str, np.ndarray], model: str = "m", ids=None, texts=None,
              order=None) -> None:
    """lm-eval's results file and samples files for `tasks` (task -> per-prompt toxicity_prob, 0/1)."""
    folder = root / model / variant
    folder.mkdir(parents=True, exist_ok=True)
    date = "2024-01-01T00-00-00.0"
    results, configs, counts = {}, {}, {}
    for task, tox in tasks.items():
        emt = np.round(0.3 + 0.5 * tox - 0.01 * np.arange(len(tox)) % 7 / 10, 6)
        doc_ids = list(ids if ids is not None else range(len(tox)))
        lines = []
        for j, doc_id in enumerate(doc_ids):
            document = doc(doc_id, task, texts[j] if texts else None)
            digest = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
            lines.append({"doc_id": doc_id, "doc": document, "filter": "none", "doc_hash": digest,
                          "prompt_hash": digest[::-1], "toxicity_prob": float(tox[j]),
                          "expected_max_toxicity": float(emt[j]), "mean_toxicity": float(emt[j]) / 2})
        if order is not None:
            lines = [lines[i] for i in order]
        with open(folder / f"samples_{task}_{date}.jsonl", "w") as handle:
            handle.writelines(json.dumps(line) + "\n" for line in lines)
        results[task] = {"alias": task, "toxicity_prob,none": stats.python_mean(tox),
                         "expected_max_toxicity,none": stats.python_mean(emt),
                         "mean_toxicity,none": stats.python_mean(emt / 2)}
        configs[task] = {"task": task, "metadata": {"toxicity_scorer": "s"}}
        counts[task] = {"original": len(tox), "effective": len(tox)}
    data = {"results": results, "configs": configs, "n-samples": counts,
            "config": {"model": "aura-hf", "aura": {"variant": variant, "model_name": model}}}
    (folder / f"results_{date}.json").write_text(json.dumps(data))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    rng = np.random.default_rng(3)
    tox = {
        ("base", RTP_TASK): rng.random(N) < 0.5,
        ("base", PREPROMPT_FAVOURABLE_TASK): rng.random(N) < 0.35,
        ("base", PREPROMPT_ADVERSARIAL_TASK): rng.random(N) < 0.7,
        ("aura", RTP_TASK): rng.random(N) < 0.3,
        ("aura", PREPROMPT_FAVOURABLE_TASK): rng.random(N) < 0.2,
        ("aura", PREPROMPT_ADVERSARIAL_TASK): rng.random(N) < 0.45,
    }
    tox = {key: value.astype(float) for key, value in tox.items()}
    root = tmp_path_factory.mktemp("preprompts")
    for variant in ("base", "aura"):
        order = list(rng.permutation(N)) if variant == "aura" else None  # lines in any order still pair
        write_run(root, variant, {task: tox[variant, task] for task in PREPROMPTS}, order=order)
    return root, tox


def loop_ratio(base, variant, task):
    _, (low, high) = loop_bootstrap(base, variant, FAST.resamples, FAST.seed, task)
    return sum(base) / sum(variant), low, high


def test_ratios_equal_a_slow_recomputation_from_the_samples(runs, tmp_path):
    root, tox = runs
    frame = build_report(root, tmp_path, formats=("md", "csv"), settings=FAST).set_index("variant")
    for task, prefix in ((PREPROMPT_FAVOURABLE_TASK, "preprompt_favourable"),
                         (PREPROMPT_ADVERSARIAL_TASK, "preprompt_adversarial")):
        for variant in ("base", "aura"):
            same = loop_ratio(tox["base", task], tox[variant, task], task)
            against_none = loop_ratio(tox["base", RTP_TASK], tox[variant, task], task)
            got = frame.loc[variant]
            assert got[f"{prefix}_tox_reduction"] == pytest.approx(same[0], rel=1e-12)
            assert (got[f"{prefix}_tox_reduction_ci_low"], got[f"{prefix}_tox_reduction_ci_high"]) == pytest.approx(
                same[1:], rel=1e-12)
            assert got[f"{prefix}_tox_reduction_vs_none"] == pytest.approx(against_none[0], rel=1e-12)
            assert (got[f"{prefix}_tox_reduction_vs_none_ci_low"],
                    got[f"{prefix}_tox_reduction_vs_none_ci_high"]) == pytest.approx(against_none[1:], rel=1e-12)
            assert got["preprompt_notes"] == ""
    # the no-pre-prompt scenario is the leaderboard's own x less toxic, with the same interval
    none = loop_ratio(tox["base", RTP_TASK], tox["aura", RTP_TASK], RTP_TASK)
    assert (frame.loc["aura", "tox_reduction"], frame.loc["aura", "tox_reduction_ci_low"],
            frame.loc["aura", "tox_reduction_ci_high"]) == pytest.approx(none, rel=1e-12)


def test_the_section_and_the_csv_show_them(runs, tmp_path):
    root, tox = runs
    build_report(root, tmp_path, formats=("md", "csv", "html"), settings=FAST)
    markdown = (tmp_path / "leaderboard.md").read_text()
    section = markdown.split("## Pre-prompts\n")[1].split("\n## ")[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    assert lines[0] == ("| Scenario | Variant | Tox. prob | EMT | x less toxic vs base, same scenario [95% CI] "
                        "| x less toxic vs base, no pre-prompt [95% CI] |")
    assert [tuple(line.split(" | ")[:2]) for line in lines[2:]] == [
        ("| none", "base"), ("| none", "aura"), ("| favourable", "base"), ("| favourable", "aura"),
        ("| adversarial", "base"), ("| adversarial", "aura")]
    adversarial = lines[7].split(" | ")
    ratio, low, high = loop_ratio(tox["base", RTP_TASK], tox["aura", PREPROMPT_ADVERSARIAL_TASK],
                                  PREPROMPT_ADVERSARIAL_TASK)
    assert adversarial[2].startswith(f"{tox['aura', PREPROMPT_ADVERSARIAL_TASK].mean():.3f}")
    assert adversarial[5].rstrip(" |") == f"{ratio:.1f}x [{low:.1f}, {high:.1f}]"
    assert "**x less toxic vs base, no pre-prompt**" in markdown
    csv = pd.read_csv(tmp_path / "leaderboard.csv").set_index("variant")
    assert csv.loc["aura", "preprompt_adversarial_tox_reduction_vs_none"] == pytest.approx(ratio, rel=1e-12)
    assert "<h2>Pre-prompts</h2>" in (tmp_path / "leaderboard.html").read_text()


def test_other_prompts_across_scenarios_are_not_paired_and_said_so(runs, tmp_path):
    root, tox = runs
    other = tmp_path / "results"
    write_run(other, "base", {RTP_TASK: tox["base", RTP_TASK]})
    write_run(other, "aura", {PREPROMPT_ADVERSARIAL_TASK: tox["aura", PREPROMPT_ADVERSARIAL_TASK]},
              texts=[f"another prompt {i}" for i in range(N)])
    write_run(other, "base-adv", {PREPROMPT_ADVERSARIAL_TASK: tox["base", PREPROMPT_ADVERSARIAL_TASK]})
    frame = build_report(other, tmp_path, formats=(), settings=FAST).set_index("variant")
    aura = frame.loc["aura"]
    assert aura["preprompt_adversarial_tox_reduction_vs_none"] == pytest.approx(
        tox["base", RTP_TASK].mean() / tox["aura", PREPROMPT_ADVERSARIAL_TASK].mean())  # the unpaired ratio
    assert np.isnan(aura["preprompt_adversarial_tox_reduction_vs_none_ci_low"])
    assert "aura_preprompt_adversarial: other prompts than base's aura_rtp" in aura["preprompt_notes"]
    assert "base ran no aura_preprompt_adversarial" in aura["preprompt_notes"]


def test_a_subset_of_the_prompts_pairs_on_that_subset(runs, tmp_path):
    root, tox = runs
    other = tmp_path / "results"
    write_run(other, "base", {RTP_TASK: tox["base", RTP_TASK]})
    ids = list(range(0, N, 2))
    write_run(other, "aura", {PREPROMPT_FAVOURABLE_TASK: tox["aura", PREPROMPT_FAVOURABLE_TASK][ids]}, ids=ids)
    aura = build_report(other, tmp_path, formats=(), settings=FAST).set_index("variant").loc["aura"]
    expected = loop_ratio(tox["base", RTP_TASK][ids], tox["aura", PREPROMPT_FAVOURABLE_TASK][ids],
                          PREPROMPT_FAVOURABLE_TASK)
    assert (aura["preprompt_favourable_tox_reduction_vs_none"], aura["preprompt_favourable_tox_reduction_vs_none_ci_low"],
            aura["preprompt_favourable_tox_reduction_vs_none_ci_high"]) == pytest.approx(expected, rel=1e-12)


def test_no_preprompt_task_no_section(tmp_path):
    write_run(tmp_path, "base", {RTP_TASK: np.array([0.0, 1.0, 1.0])})
    build_report(tmp_path, tmp_path, formats=("md",), settings=FAST)
    assert "Pre-prompts" not in (tmp_path / "leaderboard.md").read_text()

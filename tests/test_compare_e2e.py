"""compare -> report end to end on a tiny model: real lm_eval processes, then the leaderboard."""

import csv
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from aura_demo_data import write_data_dir, write_nontoxic

from aura_eval.core.learn import learn
from aura_eval.core.loading import ModelRef
from aura_eval.report.leaderboard import build_report
from aura_eval.runs.compare import compare
from aura_eval.runs.spec import EvalOptions


@pytest.fixture
def offline(monkeypatch, tmp_path):
    for key, value in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "AURA_EVAL_CACHE": str(tmp_path / "cache")}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AURA_TOXICITY_SCORER", raising=False)
    monkeypatch.delenv("AURA_DATA_DIR", raising=False)


def test_compare_variants_then_report(tiny_llama, tmp_path, offline, capsys):
    data_dir = write_data_dir(tmp_path / "data")
    learn_csv = tmp_path / "learn.csv"
    with open(learn_csv, "w", newline="") as f:
        csv.writer(f).writerows([("text", "label"), ("You are a stupid idiot.", 1), ("Shut up, you moron.", 1),
                                 ("Have a nice day.", 0), ("The library opens at nine.", 0)])
    state = tmp_path / "s.safetensors"
    learn(str(tiny_llama), str(learn_csv), state, device="cpu", progress=False)
    out = tmp_path / "results"
    options = EvalOptions(tasks=["aura_rtp", "aura_ppl_nontoxic", "aura_ppl_toxic"], data_dir=str(data_dir),
                          scorer="profanity-check", limit=2, batch_size="4", device="cpu")
    model = ModelRef.parse(str(tiny_llama), name="tiny")
    model_dir = compare(model, str(state), ["base", "aura", "aura-folded"], out, options)

    assert sorted(p.name for p in model_dir.iterdir()) == ["aura", "aura-folded", "base"]
    command = (model_dir / "aura" / "command.txt").read_text()
    assert command.startswith("lm_eval --model aura-hf") and f"intervention={state}" in command
    for vdir in model_dir.iterdir():
        # lm-eval's files straight in the variant folder: no subfolder named after this machine's model path
        assert [p.name for p in vdir.iterdir() if p.is_dir()] == [], vdir
        for results in vdir.glob("results_*.json"):
            date = results.name.removeprefix("results_").removesuffix(".json")
            assert (vdir / f"run_{date}.json").is_file()
        # one lm_eval process per variant; aura-folded (plain hf, one batch size) runs perplexity in a second
        assert len(list(vdir.glob("results_*.json"))) == (2 if vdir.name == "aura-folded" else 1), vdir.name
        assert {p.name.rsplit("_", 1)[0] for p in vdir.glob("samples_*.jsonl")} == {
            "samples_aura_rtp", "samples_aura_ppl_nontoxic", "samples_aura_ppl_toxic"}

    board = build_report(out, out).set_index("variant")
    assert set(board["model"]) == {"tiny"}  # --model-name names every row, the folded one too
    ppl = board["ppl_nontoxic"]
    # The folded checkpoint, evaluated as a plain `hf` model, scores what the hooked model scores.
    assert ppl["aura-folded"] == pytest.approx(ppl["aura"], rel=1e-4)
    assert ppl["aura"] != pytest.approx(ppl["base"], rel=1e-4)
    assert board.loc["aura-folded", "ppl_delta"] == pytest.approx(ppl["aura"] - ppl["base"], rel=1e-6)
    assert board.loc["base", "toxicity_scorer"] == "profanity-check"
    assert board.loc["base", "toxicity_data"] == "rtp_prompts.jsonl (data_dir)"
    for name in ("leaderboard.md", "leaderboard.html", "leaderboard.csv", "pareto.png"):
        assert (out / name).stat().st_size > 0
    assert str(tmp_path) not in (out / "leaderboard.md").read_text().replace(f"results: `{out}`", "")

    capsys.readouterr()
    compare(model, str(state), ["base", "aura"], out, options)  # resumable: nothing reruns
    printed = capsys.readouterr().out
    assert printed.count("done already") == 2 and printed.count("(same run spec, results_") == 2  # one process each

    compare(model, str(state), ["base"], out, replace(options, limit=1, dry_run=True))
    printed = capsys.readouterr().out
    assert "[compare] base: rerunning aura_rtp,aura_ppl_nontoxic,aura_ppl_toxic: --limit 2 -> 1" in printed
    assert printed.count("rerunning") == 1


def test_eval_wrapper_and_tasks_dir(tiny_gpt2, tmp_path, offline):
    tasks = subprocess.run([sys.executable, "-m", "aura_eval.cli", "tasks-dir"], capture_output=True, text=True)
    assert tasks.returncode == 0 and (Path(tasks.stdout.strip()) / "aura_rtp.yaml").is_file()
    data_dir = write_data_dir(tmp_path / "data")
    proc = subprocess.run(
        [sys.executable, "-m", "aura_eval.cli", "eval", "--model", "aura-hf", "--model_args",
         f"pretrained={tiny_gpt2},intervention=none", "--tasks", "aura_ppl_toxic", "--device", "cpu", "--limit", "2",
         "--metadata", json.dumps({"data_dir": str(data_dir)}), "--output_path", str(tmp_path / "out")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (result,) = (tmp_path / "out").rglob("results_*.json")
    assert "word_perplexity,none" in json.loads(result.read_text())["results"]["aura_ppl_toxic"]


def test_compare_with_two_processes_equals_one(tiny_llama, tmp_path, offline):
    """--num-processes 2: each lm_eval run is two torchrun (gloo) processes that split the documents; the
    per-document loglikelihoods and the metric equal one process's, and rank 0 alone writes the files."""
    data_dir = write_data_dir(tmp_path / "data")
    write_nontoxic(data_dir / "nontoxic.jsonl", [f"Document {i}: the library opens at {i + 8} in the morning." for i in range(5)])
    model = ModelRef.parse(str(tiny_llama), name="tiny")
    # batch 1: splitting the documents changes which windows share a padded batch, and with it the last
    # float bits (seen: -149.45994567871094 vs -149.45993041992188 at batch 2)
    one = EvalOptions(tasks=["aura_ppl_nontoxic"], data_dir=str(data_dir), limit=5, batch_size="1",
                      ppl_batch_size="1", device="cpu")
    runs = {}
    for n in (1, 2):
        vdir = compare(model, None, ["base"], tmp_path / f"n{n}", replace(one, num_processes=n)) / "base"
        (results,) = vdir.glob("results_*.json")
        (samples,) = vdir.glob("samples_aura_ppl_nontoxic_*.jsonl")
        rows = sorted((r["doc_id"], json.dumps(r["resps"])) for r in map(json.loads, samples.read_text().splitlines()))
        runs[n] = json.loads(results.read_text())["results"]["aura_ppl_nontoxic"], rows
        record = json.loads(next(vdir.glob("run_*.json")).read_text())
        assert record["spec"]["options"].get("num_processes") == (None if n == 1 else 2)
    command = (tmp_path / "n2" / "tiny" / "base" / "command.txt").read_text()
    assert command.startswith("python -m torch.distributed.run --standalone --nproc_per_node 2 -m lm_eval --model aura-hf")
    assert len(runs[2][1]) == 5 and [doc for doc, _ in runs[2][1]] == list(range(5))  # every document once
    assert runs[2][1] == runs[1][1]
    assert runs[2][0]["word_perplexity,none"] == runs[1][0]["word_perplexity,none"]

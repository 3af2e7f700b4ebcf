"""`aura-eval compare` without a model: the run spec, content-keyed reuse, the folder layout, the folded cache.

`fake_lm_eval` stands in for the lm_eval process: it writes its files with lm-eval 0.4.13's own
EvaluationTracker, so the layout checked here is the one real lm_eval writes.
"""

import json
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from aura_demo_data import write_data_dir

import aura_eval.core.export as export
import aura_eval.core.files as files
from aura_eval.cli import main as cli_main
from aura_eval.core.loading import ModelRef, is_inside
from aura_eval.core.names import COMPARE_LOCK, FOLDED_MARKER
from aura_eval.harness import tasks_dir
from aura_eval.report.results import find_result_files, load_run, merge_runs
from aura_eval.runs import compare as runner
from aura_eval.runs import identity, layout
from aura_eval.runs.compare import compare
from aura_eval.runs.process import FolderLock, error_line
from aura_eval.runs.spec import RESERVED_MODEL_ARGS, EvalOptions, Variant


@pytest.mark.parametrize(
    "text, label",
    [("base", "base"), ("aura", "aura"), ("damp-k500", "damp-k500-a0.5"), ("damp-k10-a0.25", "damp-k10-a0.25"),
     ("det_zero-k7", "det_zero-k7"), ("aura-folded", "aura-folded")],
)
def test_variant_labels_roundtrip(text, label):
    assert Variant.parse(text).label == label
    assert Variant.parse(label) == Variant.parse(text)


@pytest.mark.parametrize("bad", ["damp", "det_zero-k5-a0.3", "aura-k5", "zero-k3", ""])
def test_bad_variants(bad):
    with pytest.raises(ValueError, match="variant|Variant"):
        Variant.parse(bad)


# ----------------------------------------------------------------------------- a stand-in for lm_eval


def flags_of(args: list[str]) -> dict:
    """lm_eval's command line as {flag: value}, bare flags True."""
    flags, i = {}, 0
    while i < len(args):
        value = args[i + 1] if i + 1 < len(args) and not args[i + 1].startswith("--") else True
        flags[args[i].removeprefix("--")] = value
        i += 1 if value is True else 2
    return flags


class FakeLmEval:
    """Records each call and writes what lm_eval writes, through lm-eval's own EvaluationTracker."""

    def __init__(self):
        self.calls = []
        self.write_samples = True
        self.documents = None  # the results' n-samples (effective) per task, when set

    def __call__(self, args, log, launcher=("-m", "lm_eval")):
        from lm_eval.loggers import EvaluationTracker

        self.calls.append(args)
        flags = flags_of(args)
        tasks = str(flags["tasks"]).split(",")
        tracker = EvaluationTracker(output_path=flags["output_path"])
        tracker.general_config_tracker.log_experiment_args(
            model_source=flags["model"], model_args=flags["model_args"], system_instruction=None,
            chat_template=None, fewshot_as_multiturn=False)
        metadata = json.loads(flags.get("metadata", "{}"))
        results = {"results": {task: {"alias": task, "word_perplexity,none": 10.0 + len(self.calls)} for task in tasks},
                   "configs": {task: {"task": task, "metadata": metadata} for task in tasks},
                   "config": {"model": flags["model"], "model_args": flags["model_args"],
                              "limit": float(flags["limit"]) if "limit" in flags else None}}
        if self.documents is not None:
            results["n-samples"] = {task: {"original": self.documents, "effective": self.documents} for task in tasks}
        sample = {"doc_id": 0, "doc": {}, "target": "", "arguments": [["a", "b"]], "resps": [["x"]],
                  "filtered_resps": ["x"], "doc_hash": "d", "prompt_hash": "p", "target_hash": "t"}
        samples = {task: [dict(sample)] for task in tasks} if flags.get("log_samples") else None
        tracker.save_results_aggregated(results=results, samples=samples)
        if self.write_samples:
            for task in samples or {}:
                tracker.save_results_samples(task, samples[task])
        return 0


@pytest.fixture
def fake(monkeypatch, tmp_path):
    monkeypatch.setenv("AURA_EVAL_CACHE", str(tmp_path / "cache"))
    for name in ("AURA_TOXICITY_SCORER", "AURA_DATA_DIR", "AURA_DETOXIFY_CHECKPOINT", "AURA_DETOXIFY_CONFIG_DIR"):
        monkeypatch.delenv(name, raising=False)
    lm_eval = FakeLmEval()
    monkeypatch.setattr(runner, "_call_lm_eval", lm_eval)
    return lm_eval


TINY_MODULE, TINY_UNITS = "model.layers.0.mlp.up_proj", 16  # of the local_model fixture's config


def write_state(path, seed: int = 1, units: int = TINY_UNITS):
    """A real (tiny) state file: compare reads and checks it before anything runs."""
    import torch

    from aura_eval.core.intervention import Intervention

    auroc = {TINY_MODULE: torch.rand(units, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)}
    fingerprint = {"architecture": "LlamaForCausalLM", "model_type": "llama", "module_widths": {TINY_MODULE: units}}
    Intervention.from_auroc(auroc, meta={"fingerprint": fingerprint, "model_name": "tiny"}).save(path)
    return path


@pytest.fixture
def state(tmp_path):
    return write_state(tmp_path / "s.safetensors")


@pytest.fixture
def local_model(tmp_path):
    from transformers import LlamaConfig

    folder = tmp_path / "models" / "tiny"
    folder.mkdir(parents=True)
    LlamaConfig(vocab_size=32, hidden_size=8, intermediate_size=TINY_UNITS, num_hidden_layers=1, num_attention_heads=2,
                num_key_value_heads=2).save_pretrained(folder)
    (folder / "model.safetensors").write_bytes(b"weights v1")
    return folder


TWO_PARTS = ["aura_rtp", "aura_ppl_toxic"]


def options(**changes) -> EvalOptions:
    return EvalOptions(**{"tasks": TWO_PARTS, "scorer": "profanity-check", "limit": 5, "device": "cpu", **changes})


def lines(capsys, label: str) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith(f"[compare] {label}:")]


def rerun_lines(capsys, label: str) -> list[str]:
    return [line for line in lines(capsys, label) if ": rerunning " in line]


# ----------------------------------------------------------------------------- the command line, from the spec


def test_every_variant_pins_its_method_in_model_args(tmp_path, fake, state, local_model):
    model = ModelRef.parse(str(local_model), name="m")
    compare(model, str(state), ["base", "aura", "damp-k3-a0.2", "det_zero-k4"], tmp_path / "out",
            options(tasks=["aura_rtp"], log_samples=False))
    margs = [flags_of(call)["model_args"] for call in fake.calls]
    assert margs == [f"pretrained={local_model},intervention=none,method=none",
                     f"pretrained={local_model},intervention={state},method=aura",
                     f"pretrained={local_model},intervention={state},method=damp,k=3,alpha=0.2",
                     f"pretrained={local_model},intervention={state},method=det_zero,k=4"]
    flags = flags_of(fake.calls[0])
    # an --output_path ending in .json: lm-eval writes results_<date>.json beside it, in no model-named subfolder
    assert flags["output_path"] == str(tmp_path / "out" / "m" / "base" / "results.json")
    assert flags["limit"] == "5" and json.loads(flags["metadata"]) == {"toxicity_scorer": "profanity-check"}
    assert "log_samples" not in flags


def test_results_and_samples_land_in_the_variant_folder_and_records_name_no_machine_path(tmp_path, fake, state,
                                                                                       local_model):
    out = tmp_path / "out"
    data = write_data_dir(out / "data")
    compare(ModelRef.parse(str(local_model), name="my model"), str(state), ["aura"], out, options(data_dir=str(data)))
    vdir = out / "my_model" / "aura"
    assert [path for path in vdir.iterdir() if path.is_dir()] == []  # no subfolder named after pretrained=
    names = sorted(path.name for path in vdir.iterdir())
    dates = sorted(name.removeprefix("results_").removesuffix(".json") for name in names if name.startswith("results_"))
    assert len(dates) == 1  # one lm_eval process for every task of the variant
    assert names == sorted(["command.txt", "lm_eval.log", COMPARE_LOCK] + [f"results_{d}.json" for d in dates]
                           + [f"run_{d}.json" for d in dates]
                           + [f"samples_aura_rtp_{dates[0]}.jsonl", f"samples_aura_ppl_toxic_{dates[0]}.jsonl"])
    record = json.loads((vdir / f"run_{dates[0]}.json").read_text())
    assert record["results"] == f"results_{dates[0]}.json" and record["tasks"] == ["aura_rtp", "aura_ppl_toxic"]
    assert record["samples"] == [f"samples_aura_ppl_toxic_{dates[0]}.jsonl", f"samples_aura_rtp_{dates[0]}.jsonl"]
    assert record["spec"]["options"]["batch_size"] == "64" and record["spec"]["options"]["ppl_batch_size"] == "4"
    spec = record["spec"]
    assert spec["state"] == {"file": "s.safetensors", "sha256": identity.sha256_file(state)}
    assert spec["model"]["name"] == "my model" and len(spec["model"]["sha256"]) == 64
    assert spec["method"] == {"method": "aura", "k": None, "alpha": None, "folded": False}
    assert spec["data"]["rtp"] == {"file": "rtp_prompts.jsonl", "sha256": identity.sha256_file(data / "rtp_prompts.jsonl"),
                                   "in_data_dir": "rtp_prompts.jsonl"}
    assert spec["scorers"] == {"profanity-check": identity.scorer_identity("profanity-check")}
    assert set(spec["versions"]) == {"aura-eval", "lm-eval", "transformers", "torch"}
    assert str(tmp_path) not in json.dumps(record)


def test_the_same_spec_is_reused_and_says_so(tmp_path, fake, state):
    compare("m", str(state), ["base", "aura"], tmp_path, options())
    assert len(fake.calls) == 2
    compare("m", str(state), ["base", "aura"], tmp_path, options())
    assert len(fake.calls) == 2  # nothing ran


def test_reuse_lines(tmp_path, fake, state, capsys):
    compare("m", str(state), ["aura"], tmp_path, options())
    capsys.readouterr()
    compare("m", str(state), ["aura"], tmp_path, options())
    out = lines(capsys, "aura")
    assert out[0].startswith("[compare] aura: reusing aura_rtp,aura_ppl_toxic (same run spec, results_")
    assert "done already" in out[1] and len(out) == 2


@pytest.mark.parametrize(
    "change, reason",
    [(dict(limit=3), "--limit 5 -> 3"),
     (dict(limit=0.5), "--limit 5 -> 0.5"),
     (dict(scorer="detoxify-original"), "toxicity scorer profanity-check -> detoxify-original"),
     (dict(model_args="max_length=64"), "--model-args max_length unset -> 64"),
     (dict(metadata={"rtp_seed": 7}), "--metadata rtp_seed unset -> 7"),
     (dict(log_samples=False), "--log_samples on -> off"),
     (dict(batch_size="8"), "--batch_size 64 -> 8")],
)
def test_changed_options_rerun_and_set_the_stale_results_aside(tmp_path, fake, state, capsys, change, reason):
    compare("m", str(state), ["aura"], tmp_path, options())
    vdir = tmp_path / "m" / "aura"
    (old_rtp,) = [path for path in vdir.rglob("results_*.json") if "aura_rtp" in json.loads(path.read_text())["results"]]
    capsys.readouterr()
    compare("m", str(state), ["aura"], tmp_path, options(**change))
    out = lines(capsys, "aura")
    assert f"[compare] aura: rerunning aura_rtp,aura_ppl_toxic: {reason}" in out
    assert any(line.startswith(f"[compare] aura: moved {old_rtp.name}") for line in out)
    assert (vdir / "stale" / f"{old_rtp.name}.stale").is_file()
    assert not old_rtp.exists() and not list(vdir.glob(f"samples_*_{old_rtp.stem.removeprefix('results_')}.jsonl"))
    # the report sees one results file per task, and the rerun's
    runs = [load_run(path, tmp_path) for path in find_result_files(tmp_path)]
    rtp = [run for run in runs if "aura_rtp" in run.tasks]
    assert len(rtp) == 1 and rtp[0].path != old_rtp
    assert merge_runs(runs)[("m", "aura")]["aura_rtp"].source == rtp[0].path


# ----------------------------------------------------------------------------- content, not paths, decides reuse


def test_a_data_file_changed_in_place_reruns_the_process_that_read_it(tmp_path, fake, state, capsys):
    data = write_data_dir(tmp_path / "data")
    opts = options(tasks=["aura_rtp", "aura_ppl_nontoxic"], data_dir=str(data))
    compare("m", None, ["base"], tmp_path / "out", opts)
    with open(data / "nontoxic.jsonl", "a") as f:
        f.write(json.dumps({"text": "One more harmless sentence."}) + "\n")
    capsys.readouterr()
    compare("m", None, ["base"], tmp_path / "out", opts)
    out = lines(capsys, "base")
    assert "[compare] base: rerunning aura_rtp,aura_ppl_nontoxic: nontoxic.jsonl content changed" in out
    assert len(fake.calls) == 2


def test_runs_of_single_tasks_are_reused_by_a_run_of_all_and_only_the_changed_one_reruns(tmp_path, fake, capsys):
    """compare --tasks aura_rtp, then --tasks aura_ppl_nontoxic: two processes; a later run of both reuses
    each while it is current, and reruns only the one whose data changed, alone."""
    data = write_data_dir(tmp_path / "data")
    for task in ("aura_rtp", "aura_ppl_nontoxic"):
        compare("m", None, ["base"], tmp_path / "out", options(tasks=[task], data_dir=str(data)))
    both = options(tasks=["aura_rtp", "aura_ppl_nontoxic"], data_dir=str(data))
    capsys.readouterr()
    compare("m", None, ["base"], tmp_path / "out", both)
    out = lines(capsys, "base")
    assert [line.split(" (")[0] for line in out] == ["[compare] base: reusing aura_ppl_nontoxic",
                                                     "[compare] base: reusing aura_rtp",
                                                     "[compare] base: done already"]
    with open(data / "nontoxic.jsonl", "a") as f:
        f.write(json.dumps({"text": "One more harmless sentence."}) + "\n")
    compare("m", None, ["base"], tmp_path / "out", both)
    out = lines(capsys, "base")
    assert out[0].startswith("[compare] base: reusing aura_rtp (same run spec")
    assert "[compare] base: rerunning aura_ppl_nontoxic: nontoxic.jsonl content changed" in out
    assert len(fake.calls) == 3 and "--tasks aura_ppl_nontoxic --batch_size 4" in " ".join(fake.calls[-1])
    vdir = tmp_path / "out" / "m" / "base"
    assert len(list(vdir.glob("results_*.json"))) == 2 and len(list((vdir / "stale").glob("results_*"))) == 1


def test_the_data_folder_from_the_environment_counts(tmp_path, fake, monkeypatch, capsys):
    one, two = write_data_dir(tmp_path / "one"), write_data_dir(tmp_path / "two")
    (two / "toxic.csv").write_text("text,label\nYou idiot.,1\n")
    opts = options(tasks=["aura_ppl_toxic"], data_dir=str(one))
    compare("m", None, ["base"], tmp_path / "out", opts)
    monkeypatch.setenv("AURA_DATA_DIR", str(two))  # wins over --data-dir in the lm_eval process
    capsys.readouterr()
    compare("m", None, ["base"], tmp_path / "out", opts)
    assert rerun_lines(capsys, "base") == ["[compare] base: rerunning aura_ppl_toxic: toxic.csv content changed"]


def test_changed_model_weights_rerun(tmp_path, fake, local_model, capsys):
    model = ModelRef.parse(str(local_model), name="tiny")
    compare(model, None, ["base"], tmp_path / "out", options(tasks=["aura_ppl_toxic"]))
    (local_model / "model.safetensors").write_bytes(b"weights v2")
    capsys.readouterr()
    compare(model, None, ["base"], tmp_path / "out", options(tasks=["aura_ppl_toxic"]))
    assert rerun_lines(capsys, "base") == ["[compare] base: rerunning aura_ppl_toxic: model weights changed"]


def test_a_hub_model_is_its_revision_and_cached_commit(tmp_path, fake, monkeypatch, capsys):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    refs = tmp_path / "hub" / "models--org--m" / "refs"
    refs.mkdir(parents=True)
    (refs / "main").write_text("a" * 40)
    opts = options(tasks=["aura_ppl_toxic"])
    compare("org/m", None, ["base"], tmp_path / "out", opts)
    (refs / "main").write_text("b" * 40)  # the cache now holds another snapshot of main
    capsys.readouterr()
    compare("org/m", None, ["base"], tmp_path / "out", opts)
    assert rerun_lines(capsys, "base") == [
        f"[compare] base: rerunning aura_ppl_toxic: model commit {'a' * 40} -> {'b' * 40} (Hub cache)"]
    compare(ModelRef.parse("org/m", revision="v2"), None, ["base"], tmp_path / "out", opts)
    assert rerun_lines(capsys, "base") == ["[compare] base: rerunning aura_ppl_toxic: model revision unset -> v2"]
    assert flags_of(fake.calls[-1])["model_args"] == "pretrained=org/m,revision=v2,intervention=none,method=none"


def test_a_large_model_is_hashed_once(tmp_path, fake, local_model, monkeypatch):
    calls, real = [], files.sha256_file

    def counting(path):
        calls.append(str(path))
        return real(path)

    monkeypatch.setattr(files, "sha256_file", counting)
    for _ in range(2):
        compare(ModelRef.parse(str(local_model), name="tiny"), None, ["base"], tmp_path / "out",
                options(tasks=["aura_ppl_toxic"], dry_run=True))
    assert sum(path.endswith("model.safetensors") for path in calls) == 1


def test_a_changed_state_file_reruns(tmp_path, fake, state, capsys):
    compare("m", str(state), ["aura"], tmp_path, options(tasks=["aura_rtp"]))
    write_state(state, seed=2)
    capsys.readouterr()
    compare("m", str(state), ["aura"], tmp_path, options(tasks=["aura_rtp"]))
    assert rerun_lines(capsys, "aura") == ["[compare] aura: rerunning aura_rtp: s.safetensors content changed"]
    assert len(fake.calls) == 2


def test_a_changed_task_yaml_reruns(tmp_path, fake, monkeypatch, capsys):
    copy = tmp_path / "tasks"
    shutil.copytree(tasks_dir(), copy)
    monkeypatch.setattr(identity, "tasks_dir", lambda: copy)
    compare("m", None, ["base"], tmp_path / "out", options(tasks=["aura_ppl_toxic"]))
    with open(copy / "aura_ppl_toxic.yaml", "a") as f:
        f.write("# an edit\n")
    capsys.readouterr()
    compare("m", None, ["base"], tmp_path / "out", options(tasks=["aura_ppl_toxic"]))
    assert rerun_lines(capsys, "base") == [
        "[compare] base: rerunning aura_ppl_toxic: task definitions changed (tasks/ or aura-eval's code)"]


def test_changed_scorer_weights_rerun(tmp_path, fake, monkeypatch, capsys):
    checkpoint = tmp_path / "toxic_original.ckpt"
    checkpoint.write_bytes(b"scorer weights v1")
    monkeypatch.setenv("AURA_DETOXIFY_CHECKPOINT", str(checkpoint))
    opts = options(tasks=["aura_rtp"], scorer="detoxify-original")
    compare("m", None, ["base"], tmp_path / "out", opts)
    checkpoint.write_bytes(b"scorer weights v2")
    capsys.readouterr()
    compare("m", None, ["base"], tmp_path / "out", opts)
    assert rerun_lines(capsys, "base") == [
        "[compare] base: rerunning aura_rtp: toxicity scorer detoxify-original weights changed"]


def test_a_scorer_chosen_by_the_environment_counts(tmp_path, fake, state, capsys, monkeypatch):
    compare("m", str(state), ["aura"], tmp_path, options(tasks=["aura_rtp"]))
    monkeypatch.setenv("AURA_TOXICITY_SCORER", "detoxify-unbiased")  # wins over --metadata in the lm_eval process
    capsys.readouterr()
    compare("m", str(state), ["aura"], tmp_path, options(tasks=["aura_rtp"]))
    assert rerun_lines(capsys, "aura") == [
        "[compare] aura: rerunning aura_rtp: toxicity scorer profanity-check -> detoxify-unbiased"]


def test_other_versions_rerun(tmp_path, fake, monkeypatch, capsys):
    compare("m", None, ["base"], tmp_path / "out", options(tasks=["aura_ppl_toxic"]))
    installed = identity.versions()
    monkeypatch.setattr(identity, "versions", lambda: {**installed, "lm-eval": "9.9.9"})
    capsys.readouterr()
    compare("m", None, ["base"], tmp_path / "out", options(tasks=["aura_ppl_toxic"]))
    assert rerun_lines(capsys, "base") == [
        f"[compare] base: rerunning aura_ppl_toxic: lm-eval {installed['lm-eval']} -> 9.9.9"]


def test_results_without_a_run_record_or_with_an_old_one_are_rerun(tmp_path, fake, capsys):
    old = tmp_path / "m" / "base" / "m"  # the layout older versions wrote, without run records
    old.mkdir(parents=True)
    (old.parent / "command.txt").write_text("lm_eval ...\n")
    (old / "results_2026-01-01T00-00-00.000000.json").write_text(json.dumps({"results": {"aura_rtp": {}}}))
    compare("m", None, ["base"], tmp_path, options(tasks=["aura_rtp"], dry_run=True))
    out = lines(capsys, "base")
    assert out[0] == "[compare] base: rerunning aura_rtp: no run record beside it (compare was interrupted, or an " \
                     "older aura-eval wrote it)"
    assert out[1].startswith("[compare] base: would move results_2026-01-01T00-00-00.000000.json aside")
    assert out[2].startswith("[compare] base: lm_eval --model aura-hf")
    assert (old / "results_2026-01-01T00-00-00.000000.json").is_file()  # a dry run moves nothing
    (old / "run_2026-01-01T00-00-00.000000.json").write_text(json.dumps({"arguments": {"limit": 5}}))
    compare("m", None, ["base"], tmp_path, options(tasks=["aura_rtp"], dry_run=True))
    assert lines(capsys, "base")[0] == "[compare] base: rerunning aura_rtp: its run record is from an older " \
                                       "aura-eval (no run spec)"


def test_half_finished_variant_runs_only_the_missing_part(tmp_path, fake, capsys):
    compare("m", None, ["base"], tmp_path, options(tasks=["aura_rtp"]))
    capsys.readouterr()
    compare("m", None, ["base"], tmp_path, options(dry_run=True))
    out = lines(capsys, "base")
    assert out[0].startswith("[compare] base: reusing aura_rtp")
    assert len(out) == 2 and "--tasks aura_ppl_toxic --batch_size 4" in out[1]


def test_a_variant_runs_as_one_process_with_the_windows_own_batch_size(tmp_path, fake, state, capsys):
    compare("m", str(state), ["aura"], tmp_path, options(dry_run=True))
    (out,) = lines(capsys, "aura")
    assert ",rolling_batch_size=4 " in out and "--tasks aura_rtp,aura_ppl_toxic --batch_size 64" in out
    compare("m", str(state), ["aura"], tmp_path, options(dry_run=True, tasks=["aura_ppl_toxic"]))
    (out,) = lines(capsys, "aura")  # perplexity alone: its batch size is the process's
    assert "rolling_batch_size" not in out and "--tasks aura_ppl_toxic --batch_size 4" in out
    assert fake.calls == []


def test_aura_folded_runs_plain_hf_as_two_processes(tmp_path, fake, state, capsys):
    """Plain `--model hf` has one batch size: generation and perplexity keep a process each."""
    compare("m", str(state), ["aura-folded"], tmp_path, options(dry_run=True))
    out = [line for line in lines(capsys, "aura-folded") if "lm_eval --model" in line]
    assert len(out) == 2 and all("--model hf " in line and "rolling_batch_size" not in line for line in out)
    assert "--tasks aura_rtp --batch_size 64" in out[0] and "--tasks aura_ppl_toxic --batch_size 4" in out[1]


def test_the_windows_batch_size_is_not_a_model_arg(tmp_path, fake):
    with pytest.raises(ValueError, match="rolling_batch_size: compare sets it from --ppl-batch-size"):
        compare("m", None, ["base"], tmp_path, options(model_args="rolling_batch_size=2"))


# ----------------------------------------------------------------------------- refusals before any run


@pytest.mark.parametrize("key", RESERVED_MODEL_ARGS)
def test_model_args_may_not_set_what_the_variant_or_model_sets(tmp_path, fake, state, key):
    with pytest.raises(ValueError, match=f"^--model-args may not set {key}: "):
        compare("m", str(state), ["aura"], tmp_path, options(model_args=f"max_length=64,{key}=x"))
    assert fake.calls == []


def test_a_missing_state_file_is_an_error_before_any_run(tmp_path, fake):
    with pytest.raises(FileNotFoundError, match="--intervention .*missing.safetensors"):
        compare("m", str(tmp_path / "missing.safetensors"), ["base", "aura"], tmp_path, options())
    assert fake.calls == []  # base did not run first


@pytest.mark.parametrize("name", ["a,b", "a=b"])
def test_paths_lm_eval_cannot_carry_are_refused(tmp_path, fake, state, name):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    with pytest.raises(ValueError, match="cannot carry a path with ',' or '='"):
        compare(str(folder), None, ["base"], tmp_path / "out", options())
    odd_state = tmp_path / f"{name}.safetensors"
    odd_state.write_bytes(b"x")
    with pytest.raises(ValueError, match="--intervention .*cannot carry"):
        compare("m", str(odd_state), ["aura"], tmp_path / "out", options())
    assert fake.calls == []


@pytest.mark.parametrize("limit", [1.5, 0, -2])
def test_limit_must_be_whole_or_a_fraction(tmp_path, fake, limit):
    with pytest.raises(ValueError, match="--limit"):
        compare("m", None, ["base"], tmp_path, options(limit=limit))
    assert fake.calls == []


@pytest.mark.parametrize("argv, message", [
    (["--limit", "1.5"], "--limit: must be a whole number >= 1 (documents per task) or a fraction in (0, 1)"),
    (["--variants", ","], "--variants: no variant given"),
    (["--variants", "base", "--model-args", "pretrained=other"], "--model-args may not set pretrained"),
    (["--variants", "base", "--model-name", ".."], "--model-name '..' cannot name a results folder"),
    (["--variants", "base", "--tasks", "aura_rpt", "--dry-run"], "--tasks: no task named aura_rpt (did you mean aura_rtp?)"),
    (["--variants", "aura", "--intervention", "gone.safetensors", "--dry-run"], "--intervention gone.safetensors: no such file"),
    (["--variants", "base", "--model-args", "max_length"], "'max_length' is not key=value"),
])
def test_cli_refuses_in_one_line(tmp_path, fake, capsys, argv, message):
    try:
        code = cli_main(["compare", "--model", "m", "--out", str(tmp_path), *argv])
    except SystemExit as exit:  # argparse's own refusals
        code = exit.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert fake.calls == []


# ----------------------------------------------------------------------------- never outside --out


@pytest.mark.parametrize("name, folder", [("../evil", "evil"), ("a/../../b", "a_.._.._b"), (".hidden", "hidden"),
                                          ("org/model", "org_model")])
def test_names_become_one_safe_folder_inside_out(tmp_path, fake, name, folder):
    out = tmp_path / "out"
    outside = tmp_path / "evil" / "base"
    outside.mkdir(parents=True)
    (outside / "precious.txt").write_text("keep me")
    model_dir = compare(ModelRef.parse("m", name=name), None, ["base"], out, options(tasks=["aura_rtp"], force=True))
    assert model_dir == out / folder and (model_dir / "base").is_dir()
    assert (outside / "precious.txt").read_text() == "keep me"


def test_force_removes_only_what_compare_wrote(tmp_path, fake, capsys):
    compare("m", None, ["base"], tmp_path, options())
    vdir = tmp_path / "m" / "base"
    (vdir / "notes.txt").write_text("mine")
    (vdir / "plots").mkdir()
    (vdir / "plots" / "p.png").write_bytes(b"png")
    compare("m", None, ["base"], tmp_path, options(limit=3))  # sets the old runs aside in stale/
    written = {p.name for p in vdir.glob("results_*.json")}
    capsys.readouterr()
    compare("m", None, ["base"], tmp_path, options(limit=3, force=True))
    assert lines(capsys, "base")[0].startswith("[compare] base: --force: removing ")
    assert (vdir / "notes.txt").read_text() == "mine" and (vdir / "plots" / "p.png").is_file()
    assert not (vdir / "stale").exists()
    assert written.isdisjoint(p.name for p in vdir.glob("results_*.json"))  # all new
    assert len(list(vdir.glob("results_*.json"))) == 1 and len(fake.calls) == 3


# ----------------------------------------------------------------------------- complete parts, failures, locks


def test_a_part_without_its_samples_file_is_not_complete(tmp_path, fake, capsys):
    fake.write_samples = False  # lm-eval only logs a failed samples write and exits 0
    with pytest.raises(RuntimeError, match=r"exited 0 but did not write samples_aura_ppl_toxic_.*\.jsonl in full: the part is not complete"):
        compare("m", None, ["base"], tmp_path, options(tasks=["aura_ppl_toxic"]))
    fake.write_samples = True
    capsys.readouterr()
    compare("m", None, ["base"], tmp_path, options(tasks=["aura_ppl_toxic"]))
    assert rerun_lines(capsys, "base")[0].startswith("[compare] base: rerunning aura_ppl_toxic: no run record beside it")
    vdir = tmp_path / "m" / "base"
    (samples,) = vdir.glob("samples_*.jsonl")
    samples.unlink()  # lost later: the part is no longer complete
    compare("m", None, ["base"], tmp_path, options(tasks=["aura_ppl_toxic"]))
    assert rerun_lines(capsys, "base") == [
        f"[compare] base: rerunning aura_ppl_toxic: {samples.name} missing (the part is not complete)"]
    assert len(fake.calls) == 3


def test_a_samples_file_shorter_than_the_results_count_is_not_complete(tmp_path, fake):
    fake.documents = 2  # the results count 2 documents, the samples file holds 1
    with pytest.raises(RuntimeError, match=r"did not write samples_aura_ppl_toxic_.*\.jsonl in full"):
        compare("m", None, ["base"], tmp_path, options(tasks=["aura_ppl_toxic"]))
    assert not list((tmp_path / "m" / "base").glob("run_*.json"))
    fake.documents = 1
    compare("m", None, ["base"], tmp_path, options(tasks=["aura_ppl_toxic"]))
    assert len(list((tmp_path / "m" / "base").glob("run_*.json"))) == 1


def test_a_failed_run_shows_its_error_line_and_log(tmp_path, monkeypatch):
    monkeypatch.setenv("AURA_EVAL_CACHE", str(tmp_path / "cache"))

    def failing(args, log, launcher):
        log.write("INFO loading\n" + "x" * 5000 + "\nTraceback (most recent call last):\n  File \"a.py\", line 1\n"
                  "ValueError: aura-hf: k and alpha need intervention=<state file>\n")
        return 1

    monkeypatch.setattr(runner, "_call_lm_eval", failing)
    with pytest.raises(RuntimeError) as error:
        compare("m", None, ["base"], tmp_path, options(tasks=["aura_ppl_toxic"]))
    log = tmp_path / "m" / "base" / "lm_eval.log"
    assert str(error.value) == ("lm_eval failed for variant base (exit 1): ValueError: aura-hf: k and alpha need "
                                f"intervention=<state file> (log: {log})")


def test_error_line_picks_the_last_exception():
    assert error_line("a\nTraceback\nKeyError: 'x'\nduring\nRuntimeError: boom\n  \n") == "RuntimeError: boom"
    assert error_line("just a message\n") == "just a message"
    assert error_line("torch.OutOfMemoryError: CUDA out of memory\n") == "torch.OutOfMemoryError: CUDA out of memory"


HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from aura_eval.runs.process import FolderLock
    with FolderLock(Path(sys.argv[1])):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def hold_lock(vdir, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(vdir), str(seconds)], stdout=subprocess.PIPE,
                              text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_compare_on_one_folder_refuses_naming_the_holder(tmp_path, fake, monkeypatch):
    vdir = tmp_path / "m" / "base"
    holder = hold_lock(vdir, 60)
    try:
        monkeypatch.setattr(runner, "LOCK_WAIT_S", 0.5)
        with pytest.raises(RuntimeError, match=f"in use by another aura-eval compare \\(pid {holder.pid}\\)"):
            compare("m", None, ["base"], tmp_path, options(tasks=["aura_rtp"]))
        assert fake.calls == []
    finally:
        holder.kill()
        holder.wait()
    compare("m", None, ["base"], tmp_path, options(tasks=["aura_rtp"]))  # the kernel dropped the dead holder's lock
    assert len(fake.calls) == 1


def test_a_second_compare_waits_for_a_short_holder(tmp_path, fake, monkeypatch):
    vdir = tmp_path / "m" / "base"
    holder = hold_lock(vdir, 2)
    held_since, waited = time.monotonic(), []

    def after_holder(args, log, launcher):
        waited.append(time.monotonic() - held_since)
        return fake(args, log)

    monkeypatch.setattr(runner, "_call_lm_eval", after_holder)
    try:
        compare("m", None, ["base"], tmp_path, options(tasks=["aura_rtp"]))  # waits up to LOCK_WAIT_S, then runs
    finally:
        holder.wait()
    assert len(waited) == 1 and waited[0] >= 1.9  # ran only once the holder let go


def test_a_local_scorer_is_recorded_by_folder_name_and_content(tmp_path, fake):
    classifier = tmp_path / "deep" / "my-classifier"
    classifier.mkdir(parents=True)
    (classifier / "config.json").write_text("{}")
    (classifier / "model.safetensors").write_bytes(b"weights")  # a scorer is named by its weight files
    compare("m", None, ["base"], tmp_path / "out", options(tasks=["aura_rtp"], scorer=f"hf:{classifier}#toxic"))
    (record,) = (tmp_path / "out" / "m" / "base").glob("run_*.json")
    scorers = json.loads(record.read_text())["spec"]["scorers"]
    assert list(scorers) == ["hf:my-classifier#toxic"] and len(scorers["hf:my-classifier#toxic"]["sha256"]) == 64
    assert str(tmp_path) not in record.read_text()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, fake, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    vdir = tmp_path / "m" / "base"
    vdir.mkdir(parents=True)
    (vdir / COMPARE_LOCK).write_text(f"{dead.pid}\n")
    compare("m", None, ["base"], tmp_path, options(tasks=["aura_rtp"]))
    assert f"[compare] base: taking over the lock of pid {dead.pid}, which is no longer running" in lines(capsys, "base")
    with FolderLock(vdir, wait_s=0):  # released when compare finished
        pass


# ----------------------------------------------------------------------------- the folded checkpoint cache


def write_checkpoint(calls):
    def write(model, intervention, target):
        calls.append(target)
        target.mkdir(parents=True, exist_ok=True)
        (target / "config.json").write_text("{}")  # save_pretrained writes this first
        (target / "model.safetensors").write_bytes(b"weights")
        return SimpleNamespace(variant="aura", summary=dict)  # what export.fold_into returns: the folded intervention
    return write


def folded_dir(model, state, versions=None):
    model = ModelRef.parse(model)
    return layout.folded_cache(model, identity.model_identity(model), identity.state_identity(state),
                               versions or identity.versions())


def test_an_interrupted_export_is_not_a_cached_checkpoint(tmp_path, monkeypatch, state):
    monkeypatch.setenv("AURA_EVAL_CACHE", str(tmp_path / "cache"))
    model = ModelRef.parse("m")
    fdir = folded_dir("m", state)

    def interrupted(model, intervention, target):
        target.mkdir(parents=True, exist_ok=True)
        (target / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(export, "fold_into", interrupted)
    with pytest.raises(KeyboardInterrupt):
        export.cached_export(model, str(state), fdir, identity.model_identity(model))
    assert not fdir.exists() and list(fdir.parent.iterdir()) == []

    fdir.mkdir(parents=True)  # what an older aura-eval left when interrupted: config.json, no weights
    (fdir / "config.json").write_text("{}")
    calls = []
    monkeypatch.setattr(export, "fold_into", write_checkpoint(calls))
    export.cached_export(model, str(state), fdir, identity.model_identity(model))
    assert len(calls) == 1 and (fdir / "model.safetensors").is_file()
    marker = json.loads((fdir / FOLDED_MARKER).read_text())
    assert marker["state"] == {"file": "s.safetensors", "sha256": identity.sha256_file(state)}
    assert str(tmp_path) not in json.dumps(marker)
    export.cached_export(model, str(state), fdir, identity.model_identity(model))
    assert len(calls) == 1  # complete: reused


def test_the_folded_checkpoint_is_exported_once_and_force_leaves_the_cache_alone(tmp_path, monkeypatch, fake, state,
                                                                                capsys):
    calls = []
    monkeypatch.setattr(export, "fold_into", write_checkpoint(calls))
    compare("m", str(state), ["aura-folded"], tmp_path / "out", options(tasks=["aura_rtp"]))
    fdir = folded_dir("m", state)
    assert len(calls) == 1 and (fdir / FOLDED_MARKER).is_file()
    assert flags_of(fake.calls[0])["model"] == "hf" and flags_of(fake.calls[0])["model_args"] == f"pretrained={fdir}"
    compare("m", str(state), ["aura-folded"], tmp_path / "out", options(tasks=["aura_rtp"]))
    assert len(calls) == 1
    capsys.readouterr()
    compare("m", str(state), ["aura-folded"], tmp_path / "out", options(tasks=["aura_rtp"], force=True))
    forced = lines(capsys, "aura-folded")[0]
    vdir = tmp_path / "out" / "m" / "aura-folded"
    assert forced == f"[compare] aura-folded: --force: removing 5 files compare wrote in {vdir}"
    assert len(calls) == 1 and len(fake.calls) == 2  # lm_eval reran; the content-keyed export (outside --out) stayed


def test_the_folded_cache_is_keyed_by_model_content_and_state(tmp_path, monkeypatch, state, local_model):
    monkeypatch.setenv("AURA_EVAL_CACHE", str(tmp_path / "cache"))
    one = folded_dir("org/m", state)
    assert one.parent == tmp_path / "cache" / "folded" and one.name.startswith("org_m-")
    assert folded_dir(ModelRef.parse("org/other", name="org/m"), state) != one
    local = folded_dir(str(local_model), state)
    (local_model / "model.safetensors").write_bytes(b"other weights, same path")
    assert folded_dir(str(local_model), state) != local
    assert folded_dir("org/m", state, {**identity.versions(), "transformers": "0.0.1"}) != one
    state.write_bytes(b"another state")
    assert folded_dir("org/m", state) != one


def test_a_zero_shot_file_wrong_in_meaning_is_refused_before_any_variant_runs(tmp_path, fake, state, local_model):
    from aura_eval.core.labelled import DataFileError

    data = tmp_path / "data"
    data.mkdir()
    good = {"goal": "Open a jar", "sol1": "Twist the lid.", "sol2": "Sing to it.", "label": 0}
    (data / "piqa.jsonl").write_text(json.dumps(good) + "\n" + json.dumps({**good, "label": 2}) + "\n")
    with pytest.raises(DataFileError, match=r"piqa\.jsonl:2.*label"):
        compare(ModelRef.parse(str(local_model), name="m"), str(state), ["base", "aura"], tmp_path / "out",
                options(tasks=["aura_zeroshot"], data_dir=str(data)))
    assert fake.calls == []  # no lm_eval process, so no model was loaded
    (data / "piqa.jsonl").write_text(json.dumps(good) + "\n")
    compare(ModelRef.parse(str(local_model), name="m"), str(state), ["base"], tmp_path / "out",
            options(tasks=["aura_zeroshot"], data_dir=str(data)))
    assert len(fake.calls) == 1


def test_num_processes_and_accelerate_config_are_in_the_spec_and_the_launch(tmp_path, fake, state, local_model, capsys):
    model, out = ModelRef.parse(str(local_model), name="m"), tmp_path / "out"
    launches = []
    fake_call = runner._call_lm_eval

    def recording(args, log, launcher):
        launches.append(list(launcher))
        return fake_call(args, log, launcher)

    runner._call_lm_eval = recording
    try:
        compare(model, str(state), ["base"], out, options(tasks=["aura_rtp"], num_processes=2))
        assert launches[-1] == ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "lm_eval"]
        capsys.readouterr()
        compare(model, str(state), ["base"], out, options(tasks=["aura_rtp"]))  # one process samples otherwise
        assert launches[-1] == ["-m", "lm_eval"] and any("--num_processes 2 -> unset" in line
                                                         for line in rerun_lines(capsys, "base"))
        config = tmp_path / "accelerate.yaml"
        config.write_text("distributed_type: MULTI_GPU\nnum_processes: 2\n")
        compare(model, str(state), ["base"], out, options(tasks=["aura_rtp"], num_processes=2,
                                                         accelerate_config=str(config)))
        assert launches[-1][:4] == ["-m", "accelerate.commands.launch", "--config_file", str(config)]
        config.write_text("distributed_type: MULTI_GPU\nnum_processes: 2\nmixed_precision: bf16\n")
        capsys.readouterr()
        compare(model, str(state), ["base"], out, options(tasks=["aura_rtp"], num_processes=2,
                                                         accelerate_config=str(config)))
        assert rerun_lines(capsys, "base"), "a changed accelerate config (mixed precision) must rerun"
    finally:
        runner._call_lm_eval = fake_call
    with pytest.raises(FileNotFoundError, match="--accelerate-config"):
        compare(model, str(state), ["base"], out, options(accelerate_config=str(tmp_path / "missing.yaml")))
    with pytest.raises(ValueError, match="--num-processes 0"):
        compare(model, str(state), ["base"], out, options(num_processes=0))


# ----------------------------------------------------------------------------- checks before anything is set aside


def first_run(tmp_path, fake, state, local_model, **changes):
    model = ModelRef.parse(str(local_model), name="m")
    compare(model, str(state), ["aura"], tmp_path / "out", options(tasks=["aura_rtp"], **changes))
    vdir = tmp_path / "out" / "m" / "aura"
    return model, vdir, sorted(path.name for path in vdir.glob("results_*.json"))


@pytest.mark.parametrize("breaks, message", [
    ("scorer_device", "AURA_SCORER_DEVICE='cuda' is not a device of this machine"),
    ("architecture", "module model.layers.0.mlp.up_proj has 16 units in this model but 24 in the state file"),
    ("k", "needs k, the number of units to change, in 1..16; got 40"),
    ("task", "--tasks: no task named aura_rpt (did you mean aura_rtp?)"),
])
def test_a_rerun_bound_to_fail_sets_nothing_aside(tmp_path, fake, state, local_model, monkeypatch, breaks, message):
    """Each check that can fail before a model loads runs before the first set-aside, --dry-run too."""
    model, vdir, before = first_run(tmp_path, fake, state, local_model)
    variants, tasks = ["aura"], ["aura_rtp"]
    if breaks == "scorer_device":
        import torch

        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        monkeypatch.setenv("AURA_SCORER_DEVICE", "cuda")
    elif breaks == "architecture":
        write_state(state, units=24)  # learned on another model size: another state, so a rerun is due
    elif breaks == "k":
        variants = ["aura", "det_zero-k40"]
    else:
        tasks = ["aura_rpt"]
    for dry_run in (True, False):
        with pytest.raises(ValueError, match=re.escape(message)):
            compare(model, str(state), variants, tmp_path / "out", options(tasks=tasks, limit=3, dry_run=dry_run))
    assert sorted(path.name for path in vdir.glob("results_*.json")) == before and not (vdir / "stale").exists()
    assert len(fake.calls) == 1


def test_dry_run_checks_the_state_file_is_there(tmp_path, fake):
    with pytest.raises(FileNotFoundError, match="--intervention .*missing.safetensors: no such file"):
        compare("m", str(tmp_path / "missing.safetensors"), ["aura"], tmp_path, options(dry_run=True))


def test_a_failing_rerun_keeps_its_results_and_the_old_spec_restores_them(tmp_path, fake, state, local_model,
                                                                          monkeypatch, capsys):
    model, vdir, before = first_run(tmp_path, fake, state, local_model)
    monkeypatch.setattr(runner, "_call_lm_eval", lambda args, log, launcher: 1)  # lm_eval fails after the set-aside
    with pytest.raises(RuntimeError, match="lm_eval failed for variant aura"):
        compare(model, str(state), ["aura"], tmp_path / "out", options(tasks=["aura_rtp"], limit=3))
    assert not list(vdir.glob("results_*.json")) and (vdir / "stale" / f"{before[0]}.stale").is_file()
    monkeypatch.setattr(runner, "_call_lm_eval", fake)
    capsys.readouterr()
    compare(model, str(state), ["aura"], tmp_path / "out", options(tasks=["aura_rtp"]))  # the old spec again
    out = lines(capsys, "aura")
    assert out[0].startswith(f"[compare] aura: restored {before[0]}, run_") and "(its run spec is current again)" in out[0]
    assert out[1] == f"[compare] aura: reusing aura_rtp (same run spec, {before[0]})" and "done already" in out[2]
    assert sorted(path.name for path in vdir.glob("results_*.json")) == before and len(fake.calls) == 1
    assert len(list(vdir.glob("samples_aura_rtp_*.jsonl"))) == 1 and not list((vdir / "stale").iterdir())
    runs = [load_run(path, tmp_path / "out") for path in find_result_files(tmp_path / "out")]
    assert [run.path.name for run in runs] == before


def test_a_restored_run_is_set_aside_again_when_it_stops_being_current(tmp_path, fake, state, local_model, capsys):
    model, vdir, first = first_run(tmp_path, fake, state, local_model)
    compare(model, str(state), ["aura"], tmp_path / "out", options(tasks=["aura_rtp"], limit=3))
    second = sorted(set(path.name for path in vdir.glob("results_*.json")))
    capsys.readouterr()
    compare(model, str(state), ["aura"], tmp_path / "out", options(tasks=["aura_rtp"]))  # back to --limit 5
    out = lines(capsys, "aura")
    assert out[0].startswith(f"[compare] aura: restored {first[0]}") and out[1].startswith("[compare] aura: reusing")
    assert out[2].startswith(f"[compare] aura: moved {second[0]}") and f"(superseded by {first[0]})" in out[2]
    assert len(fake.calls) == 2 and [p.name for p in vdir.glob("results_*.json")] == first


# ----------------------------------------------------------------------------- what the spec covers, in words


def test_a_change_to_any_aura_eval_module_changes_the_code_digest(tmp_path):
    """Issue 26: a change to core/hooks.py (how alphas fold) must not reuse old numbers."""
    import aura_eval

    copy = tmp_path / "aura_eval"
    shutil.copytree(Path(aura_eval.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = identity.task_code_digest(copy)
    assert before == identity.task_code_digest(copy)
    for module in ("core/hooks.py", "core/labelled.py", "runs/spec.py"):
        with open(copy / module, "a") as f:
            f.write("# an edit\n")
        after = identity.task_code_digest(copy)
        assert after != before, module
        before = after


def test_a_core_change_reruns(tmp_path, fake, monkeypatch, capsys):
    import aura_eval

    copy = tmp_path / "aura_eval"
    shutil.copytree(Path(aura_eval.__file__).parent, copy, ignore=shutil.ignore_patterns("__pycache__"))
    real = identity.task_code_digest
    monkeypatch.setattr(identity, "task_code_digest", lambda: real(copy))
    compare("m", None, ["base"], tmp_path / "out", options(tasks=["aura_ppl_toxic"]))
    with open(copy / "core" / "hooks.py", "a") as f:
        f.write("# folds differently\n")
    capsys.readouterr()
    compare("m", None, ["base"], tmp_path / "out", options(tasks=["aura_ppl_toxic"]))
    assert rerun_lines(capsys, "base") == [
        "[compare] base: rerunning aura_ppl_toxic: task definitions changed (tasks/ or aura-eval's code)"]


def test_metadata_that_repeats_a_default_is_the_same_run(tmp_path, fake, capsys):
    compare("m", None, ["base"], tmp_path, options())
    capsys.readouterr()
    compare("m", None, ["base"], tmp_path, options(metadata={"rtp_seed": 1234}))  # the YAML's own value
    assert lines(capsys, "base")[0].startswith("[compare] base: reusing aura_rtp,aura_ppl_toxic")
    compare("m", None, ["base"], tmp_path, options(metadata={"rtp_seed": 7}))
    assert rerun_lines(capsys, "base") == ["[compare] base: rerunning aura_rtp,aura_ppl_toxic: --metadata rtp_seed "
                                           "unset -> 7"]
    assert len(fake.calls) == 2


def test_a_data_file_that_only_moved_says_so(tmp_path, fake, capsys):
    data = write_data_dir(tmp_path / "data")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(data / "rtp_prompts.jsonl", outside / "rtp_prompts.jsonl")
    compare("m", None, ["base"], tmp_path / "out", options(tasks=["aura_rtp"], data_dir=str(data)))
    capsys.readouterr()
    compare("m", None, ["base"], tmp_path / "out", options(tasks=["aura_rtp"], data_dir=str(data),
                                                           metadata={"rtp_file": str(outside / "rtp_prompts.jsonl")}))
    assert rerun_lines(capsys, "base") == [
        "[compare] base: rerunning aura_rtp: rtp_prompts.jsonl moved (rtp_prompts.jsonl in the data folder -> "
        "outside the data folder, same content)"]


def test_names_from_files_are_escaped(tmp_path, fake, capsys):
    odd = tmp_path / "s\x1b[2J\r.safetensors"
    write_state(odd)
    compare("m", str(odd), ["aura"], tmp_path / "out", options(tasks=["aura_rtp"], dry_run=True))
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out and "lm_eval --model aura-hf" in out


def test_a_strength_is_passed_and_recorded_when_not_one(tmp_path, fake, state):
    """aura-s<S> (issue 24): compare passes strength=<S> to aura-hf and records it in the run spec."""
    half = Variant.parse("aura-s0.5")
    assert half.method() == {"method": "aura", "k": None, "alpha": None, "folded": False, "strength": 0.5}
    assert Variant.parse("aura-s1").method() == Variant.parse("aura").method()  # strength 1: as before
    compare("m", str(state), ["aura", "aura-s0.5"], tmp_path, options(tasks=["aura_rtp"]))
    margs = [flags_of(call)["model_args"] for call in fake.calls]
    assert margs == [f"pretrained=m,intervention={state},method=aura",
                     f"pretrained=m,intervention={state},method=aura,strength=0.5"]
    (record,) = (tmp_path / "m" / "aura-s0.5").glob("run_*.json")
    assert json.loads(record.read_text())["spec"]["method"]["strength"] == 0.5


def test_the_folded_run_names_its_source_model_in_its_metadata(tmp_path, fake, state, monkeypatch):
    monkeypatch.setattr(export, "fold_into", write_checkpoint([]))
    compare("m", str(state), ["aura-folded"], tmp_path, options(tasks=["aura_rtp"]))
    assert json.loads(flags_of(fake.calls[0])["metadata"])[layout.FOLDED_SOURCE_KEY] == "m"
    (path,) = (tmp_path / "m" / "aura-folded").glob("results_*.json")
    data = json.loads(path.read_text())
    data["config"]["model_args"] = "pretrained=/elsewhere/checkpoint"  # the report needs no cache-entry name
    loose = tmp_path / "loose" / "results_x.json"
    loose.parent.mkdir()
    loose.write_text(json.dumps(data))
    run = load_run(loose, tmp_path / "loose")
    assert (run.model, run.variant) == ("m", "aura-folded")


def test_an_unwritable_cache_folds_into_a_temporary_folder_with_a_warning(tmp_path, fake, state, monkeypatch, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file: nothing can be created below it, not even by root")
    monkeypatch.setenv("AURA_EVAL_CACHE", str(blocker / "cache"))
    calls = []
    monkeypatch.setattr(export, "fold_into", write_checkpoint(calls))
    compare("m", str(state), ["aura-folded"], tmp_path / "out", options(tasks=["aura_rtp"]))
    assert len(calls) == 1  # exported once, into a folder that can be written
    pretrained = Path(dict(kv.split("=", 1) for kv in flags_of(fake.calls[0])["model_args"].split(","))["pretrained"])
    assert pretrained.name == folded_dir("m", state).name and not is_inside(pretrained, blocker)
    assert not pretrained.exists()  # the temporary checkpoint is deleted after the run
    assert "cannot be written" in capsys.readouterr().out
    assert list((tmp_path / "out" / "m" / "aura-folded").glob("results_*.json"))

"""`aura-eval compare` without a model: lm_eval's arguments, the folder layout, resume, the folded cache.

`fake_lm_eval` stands in for the lm_eval process: it writes its files with lm-eval 0.4.13's own
EvaluationTracker, so the layout checked here is the one real lm_eval writes.
"""

import json

import pytest

from aura_eval.core.loading import ModelRef
from aura_eval.report import runner
from aura_eval.report.results import find_result_files, load_run, merge_runs
from aura_eval.report.runner import EvalOptions, Variant, compare, lm_eval_args


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


def test_lm_eval_args_per_variant(tmp_path):
    options = EvalOptions(scorer="profanity-check", limit=5, device="cpu", log_samples=False)
    common = dict(model=ModelRef("m", "f.gguf", "m"), intervention="s.safetensors", tasks=["aura_rtp"], out_dir=tmp_path,
                  include_path="tasks", options=options, batch_size="8")
    base = lm_eval_args(Variant.parse("base"), **common)
    assert base[:4] == ["--model", "aura-hf", "--model_args", "pretrained=m,gguf_file=f.gguf,intervention=none"]
    # an --output_path ending in .json: lm-eval writes results_<date>.json beside it, in no model-named subfolder
    assert base[base.index("--output_path") + 1] == str(tmp_path / "results.json")
    damp = lm_eval_args(Variant.parse("damp-k3-a0.2"), **common)
    assert damp[3] == "pretrained=m,gguf_file=f.gguf,intervention=s.safetensors,method=damp,k=3,alpha=0.2"
    assert damp[damp.index("--limit") + 1] == "5" and '"toxicity_scorer": "profanity-check"' in damp[-1]
    folded = lm_eval_args(Variant.parse("aura-folded"), **common, folded_dir="/ckpt")
    assert folded[:4] == ["--model", "hf", "--model_args", "pretrained=/ckpt"]
    with pytest.raises(ValueError, match="needs --intervention"):
        lm_eval_args(Variant.parse("aura"), **{**common, "intervention": None})


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

    def __call__(self, args, log):
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
        sample = {"doc_id": 0, "doc": {}, "target": "", "arguments": [["a", "b"]], "resps": [["x"]],
                  "filtered_resps": ["x"], "doc_hash": "d", "prompt_hash": "p", "target_hash": "t"}
        samples = {task: [dict(sample)] for task in tasks} if flags.get("log_samples") else None
        tracker.save_results_aggregated(results=results, samples=samples)
        for task in samples or {}:
            tracker.save_results_samples(task, samples[task])
        return 0


@pytest.fixture
def fake(monkeypatch, tmp_path):
    monkeypatch.setenv("AURA_EVAL_CACHE", str(tmp_path / "cache"))
    lm_eval = FakeLmEval()
    monkeypatch.setattr(runner, "_call_lm_eval", lm_eval)
    return lm_eval


@pytest.fixture
def state(tmp_path):
    path = tmp_path / "s.safetensors"
    path.write_bytes(b"learned state, version 1")
    return path


TWO_PARTS = ["aura_rtp", "aura_ppl_toxic"]


def options(**changes) -> EvalOptions:
    return EvalOptions(**{"tasks": TWO_PARTS, "scorer": "profanity-check", "limit": 5, "device": "cpu", **changes})


def lines(capsys, label: str) -> list[str]:
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith(f"[compare] {label}:")]


def test_results_and_samples_land_in_the_variant_folder_without_machine_paths(tmp_path, fake, state):
    model_dir = tmp_path / "somewhere" / "on" / "this-machine"
    model_dir.mkdir(parents=True)
    out = tmp_path / "out"
    data = out / "data"
    data.mkdir(parents=True)
    compare(ModelRef.parse(str(model_dir), name="my model"), str(state), ["aura"], out, options(data_dir=str(data)))
    vdir = out / "my_model" / "aura"
    assert [path for path in vdir.iterdir() if path.is_dir()] == []  # no subfolder named after pretrained=
    names = sorted(path.name for path in vdir.iterdir())
    dates = sorted(name.removeprefix("results_").removesuffix(".json") for name in names if name.startswith("results_"))
    assert len(dates) == 2
    assert sorted(names) == sorted(["command.txt", "lm_eval.log"] + [f"results_{d}.json" for d in dates]
                                   + [f"run_{d}.json" for d in dates]
                                   + [f"samples_aura_rtp_{dates[0]}.jsonl", f"samples_aura_ppl_toxic_{dates[1]}.jsonl"])
    record = json.loads((vdir / f"run_{dates[0]}.json").read_text())
    assert record["results"] == f"results_{dates[0]}.json" and record["tasks"] == ["aura_rtp"]
    assert record["arguments"]["model_args"]["intervention"].startswith("sha256:")
    assert record["arguments"]["metadata"]["data_dir"] == "<out>/data"
    assert str(state) not in json.dumps(record)


def test_same_arguments_are_reused_and_say_so(tmp_path, fake, state, capsys):
    compare("m", str(state), ["base", "aura"], tmp_path, options())
    assert len(fake.calls) == 4
    capsys.readouterr()
    compare("m", str(state), ["base", "aura"], tmp_path, options())
    assert len(fake.calls) == 4  # nothing ran
    out = lines(capsys, "aura")
    assert out[0].startswith("[compare] aura: reusing aura_rtp (same arguments, results_")
    assert out[1].startswith("[compare] aura: reusing aura_ppl_toxic (same arguments, results_")
    assert "done already" in out[2]


@pytest.mark.parametrize(
    "change, reason",
    [(dict(limit=3), "--limit changed 5 -> 3"),
     (dict(scorer="detoxify-original"), "--metadata toxicity_scorer changed profanity-check -> detoxify-original"),
     (dict(model_args="max_length=64"), "--model_args max_length changed unset -> 64"),
     (dict(metadata={"rtp_seed": 7}), "--metadata rtp_seed changed unset -> 7"),
     (dict(log_samples=False), "--log_samples changed on -> off"),
     (dict(batch_size="8"), "--batch_size changed 64 -> 8")],
)
def test_changed_arguments_rerun_and_set_the_stale_results_aside(tmp_path, fake, state, capsys, change, reason):
    compare("m", str(state), ["aura"], tmp_path, options())
    vdir = tmp_path / "m" / "aura"
    (old_rtp,) = [path for path in vdir.rglob("results_*.json") if "aura_rtp" in json.loads(path.read_text())["results"]]
    capsys.readouterr()
    compare("m", str(state), ["aura"], tmp_path, options(**change))
    out = lines(capsys, "aura")
    assert f"[compare] aura: rerunning aura_rtp: {reason}" in out
    assert any(line.startswith(f"[compare] aura: moved {old_rtp.name}") for line in out)
    assert (vdir / "stale" / f"{old_rtp.name}.stale").is_file()
    assert not old_rtp.exists() and not list(vdir.glob(f"samples_*_{old_rtp.stem.removeprefix('results_')}.jsonl"))
    # the report sees one results file per task, and the rerun's
    runs = [load_run(path, tmp_path) for path in find_result_files(tmp_path)]
    rtp = [run for run in runs if "aura_rtp" in run.tasks]
    assert len(rtp) == 1 and rtp[0].path != old_rtp
    assert merge_runs(runs)[("m", "aura")]["aura_rtp"].source == rtp[0].path


def test_a_scorer_chosen_by_the_environment_is_part_of_the_run_key(tmp_path, fake, state, capsys, monkeypatch):
    monkeypatch.delenv("AURA_TOXICITY_SCORER", raising=False)
    compare("m", str(state), ["aura"], tmp_path, options(tasks=["aura_rtp"]))
    monkeypatch.setenv("AURA_TOXICITY_SCORER", "detoxify-unbiased")  # wins over --metadata in the lm_eval process
    capsys.readouterr()
    compare("m", str(state), ["aura"], tmp_path, options(tasks=["aura_rtp"]))
    assert "[compare] aura: rerunning aura_rtp: $AURA_TOXICITY_SCORER changed unset -> detoxify-unbiased" in lines(
        capsys, "aura")


def test_a_changed_state_file_reruns(tmp_path, fake, state, capsys):
    compare("m", str(state), ["aura"], tmp_path, options(tasks=["aura_rtp"]))
    state.write_bytes(b"learned state, version 2")
    capsys.readouterr()
    compare("m", str(state), ["aura"], tmp_path, options(tasks=["aura_rtp"]))
    (line,) = [line for line in lines(capsys, "aura") if "rerunning" in line]
    assert "--model_args intervention changed sha256:" in line
    assert len(fake.calls) == 2


def test_results_without_a_run_record_are_rerun(tmp_path, fake, capsys):
    old = tmp_path / "m" / "base" / "m"  # the layout older versions wrote, without run records
    old.mkdir(parents=True)
    (old.parent / "command.txt").write_text("lm_eval ...\n")
    (old / "results_2026-01-01T00-00-00.000000.json").write_text(json.dumps({"results": {"aura_rtp": {}}}))
    compare("m", None, ["base"], tmp_path, options(tasks=["aura_rtp"], dry_run=True))
    out = lines(capsys, "base")
    assert out[0] == "[compare] base: rerunning aura_rtp: no run record beside it (written by an older aura-eval, " \
                     "or compare was interrupted)"
    assert out[1].startswith("[compare] base: would move results_2026-01-01T00-00-00.000000.json aside")
    assert out[2].startswith("[compare] base: lm_eval --model aura-hf")
    assert (old / "results_2026-01-01T00-00-00.000000.json").is_file()  # a dry run moves nothing


def test_half_finished_variant_runs_only_the_missing_part(tmp_path, fake, capsys):
    compare("m", None, ["base"], tmp_path, options(tasks=["aura_rtp"]))
    capsys.readouterr()
    compare("m", None, ["base"], tmp_path, options(dry_run=True))
    out = lines(capsys, "base")
    assert out[0].startswith("[compare] base: reusing aura_rtp")
    assert len(out) == 2 and "--tasks aura_ppl_toxic --batch_size 4" in out[1]


def test_generation_and_perplexity_run_as_two_processes(tmp_path, fake, capsys):
    compare("m", "s.safetensors", ["aura"], tmp_path, options(dry_run=True))
    out = lines(capsys, "aura")
    assert len(out) == 2
    assert "--tasks aura_rtp --batch_size 64" in out[0] and "--tasks aura_ppl_toxic --batch_size 4" in out[1]
    assert fake.calls == []


def test_a_missing_state_file_is_an_error_before_any_run(tmp_path, fake):
    with pytest.raises(FileNotFoundError, match="--intervention .*missing.safetensors"):
        compare("m", str(tmp_path / "missing.safetensors"), ["aura"], tmp_path, options())
    assert fake.calls == []


# ----------------------------------------------------------------------------- the folded checkpoint cache


def write_checkpoint(calls):
    def write(model, intervention, target):
        calls.append(target)
        target.mkdir(parents=True)
        (target / "config.json").write_text("{}")  # save_pretrained writes this first
        (target / "model.safetensors").write_bytes(b"weights")
    return write


def test_an_interrupted_export_is_not_a_cached_checkpoint(tmp_path, monkeypatch, state):
    monkeypatch.setenv("AURA_EVAL_CACHE", str(tmp_path / "cache"))
    model = ModelRef.parse("m")
    fdir = runner._folded_cache(model, str(state))

    def interrupted(model, intervention, target):
        target.mkdir(parents=True)
        (target / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "_write_folded", interrupted)
    with pytest.raises(KeyboardInterrupt):
        runner._export_folded(model, str(state), fdir)
    assert not fdir.exists() and list(fdir.parent.iterdir()) == []

    fdir.mkdir(parents=True)  # what an older aura-eval left when interrupted: config.json, no weights
    (fdir / "config.json").write_text("{}")
    calls = []
    monkeypatch.setattr(runner, "_write_folded", write_checkpoint(calls))
    runner._export_folded(model, str(state), fdir)
    assert len(calls) == 1 and (fdir / "model.safetensors").is_file() and (fdir / runner.FOLDED_MARKER).is_file()
    runner._export_folded(model, str(state), fdir)
    assert len(calls) == 1  # complete: reused


def test_force_clears_the_folded_checkpoint_too(tmp_path, monkeypatch, fake, state, capsys):
    calls = []
    monkeypatch.setattr(runner, "_write_folded", write_checkpoint(calls))
    compare("m", str(state), ["aura-folded"], tmp_path / "out", options(tasks=["aura_rtp"]))
    fdir = runner._folded_cache(ModelRef.parse("m"), str(state))
    assert len(calls) == 1 and (fdir / runner.FOLDED_MARKER).is_file()
    assert fake.calls[0][3] == f"pretrained={fdir}"
    compare("m", str(state), ["aura-folded"], tmp_path / "out", options(tasks=["aura_rtp"]))
    assert len(calls) == 1
    capsys.readouterr()
    compare("m", str(state), ["aura-folded"], tmp_path / "out", options(tasks=["aura_rtp"], force=True))
    forced = lines(capsys, "aura-folded")[0]
    assert forced == f"[compare] aura-folded: --force: removing {tmp_path / 'out' / 'm' / 'aura-folded'} and {fdir}"
    assert len(calls) == 2 and len(fake.calls) == 2


def test_the_folded_cache_is_keyed_by_model_and_state(tmp_path, monkeypatch, state):
    monkeypatch.setenv("AURA_EVAL_CACHE", str(tmp_path / "cache"))
    one = runner._folded_cache(ModelRef.parse("org/m"), str(state))
    assert one.parent == tmp_path / "cache" / "folded" and one.name.startswith("org_m-")
    assert runner._folded_cache(ModelRef.parse("org/other", name="org/m"), str(state)) != one
    state.write_bytes(b"another state")
    assert runner._folded_cache(ModelRef.parse("org/m"), str(state)) != one

"""Bad input to the core and the `aura-eval` command: nothing lost, nothing forged, one-line errors.

The CLI runs in-process (`aura_eval.cli.main`); every refusal must come before a model is loaded, which
the `no_loading` fixture enforces by making loading itself an error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from aura_eval.cli import main

TEXTS = [("You are a stupid idiot.", 1), ("Shut up, you worthless moron.", 1), ("What a pathetic loser.", 1),
         ("Have a nice day.", 0), ("The weather was pleasant.", 0), ("Thank you for the help.", 0)]


@pytest.fixture
def data(tmp_path) -> Path:
    path = tmp_path / "learn.jsonl"
    path.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in TEXTS))
    return path


@pytest.fixture
def no_loading(monkeypatch):
    """Make any model load fail loudly: the checks under test must come first."""
    import aura_eval.cli
    import aura_eval.core.export
    import aura_eval.core.learn

    def refuse(*_args, **_kwargs):
        raise AssertionError("the model was loaded before the bad argument was refused")

    for module in (aura_eval.core.learn, aura_eval.core.export, aura_eval.cli):
        monkeypatch.setattr(module, "load_model", refuse, raising=False)


def run_cli(capsys, *argv) -> tuple[int, str]:
    """(exit code, stderr) of `aura-eval ARGV`, whether it returns or exits through argparse."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err
    return code, err


def assert_one_line_error(code, err, *needles):
    """Exit code 2, no traceback, and the error alone on the last line (transformers may draw a loading bar)."""
    assert code == 2, err
    last = err.rstrip("\n").split("\n")[-1]
    assert "Traceback" not in err and re.match(r"aura-eval( \S+)?: error: ", last), err
    for needle in needles:
        assert needle in last, f"{needle!r} not in {last!r}"


def learn_args(model, data, out, *extra):
    return ["learn", "--model", model, "--data", data, "--out", out, "--device", "cpu", "--no-progress", *extra]


# -- learn --out: never destroy a file -------------------------------------------------------------
def test_learn_refuses_an_existing_out_without_overwrite(capsys, tmp_path, data, no_loading):
    out = tmp_path / "precious.safetensors"
    out.write_bytes(b"precious")
    assert_one_line_error(*run_cli(capsys, *learn_args("some/model", data, out)), "--out", "already exists", "--overwrite")
    assert out.read_bytes() == b"precious"


def test_learn_refuses_the_model_folder_and_the_data_even_with_overwrite(capsys, tmp_path, tiny_gpt2, data, no_loading):
    weights = tiny_gpt2 / "model.safetensors"
    before = weights.read_bytes()
    for out in (weights, tiny_gpt2 / "new.safetensors"):
        code, err = run_cli(capsys, *learn_args(tiny_gpt2, data, out, "--overwrite"))
        assert_one_line_error(code, err, "--out", "inside the model folder", "--overwrite does not allow")
    assert weights.read_bytes() == before
    assert_one_line_error(*run_cli(capsys, *learn_args("some/model", data, data, "--overwrite")), "is the learning data")
    assert data.read_text().startswith('{"text"')


def test_learn_refuses_the_gguf_file_but_not_its_folder(capsys, tmp_path, data, no_loading):
    gguf = tmp_path / "models" / "tiny.gguf"
    gguf.parent.mkdir()
    gguf.write_bytes(b"GGUF")
    assert_one_line_error(*run_cli(capsys, *learn_args(gguf, data, gguf, "--overwrite")), "the model's GGUF file")
    assert gguf.read_bytes() == b"GGUF"
    # a GGUF model is one file: a state file beside it is fine (the check passes, then `no_loading` stops)
    from aura_eval.core.learn import check_state_out
    from aura_eval.core.loading import ModelRef

    beside = gguf.parent / "aura.safetensors"
    assert check_state_out(beside, ModelRef.parse(str(gguf)), str(data)) == beside


def test_learn_checks_the_out_path_is_writable_before_loading(capsys, tmp_path, data, no_loading):
    assert_one_line_error(*run_cli(capsys, *learn_args("some/model", data, tmp_path)), "--out", "is a folder")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert_one_line_error(*run_cli(capsys, *learn_args("some/model", data, blocker / "sub" / "s.safetensors")),
                          "--out", "is a file, not a folder")


def test_learn_overwrites_only_with_overwrite(capsys, tmp_path, tiny_gpt2, data):
    from aura_eval.core.intervention import Intervention

    out = tmp_path / "s.safetensors"
    assert run_cli(capsys, *learn_args(tiny_gpt2, data, out, "--pooling", "mean"))[0] == 0
    assert run_cli(capsys, *learn_args(tiny_gpt2, data, out, "--pooling", "max"))[0] == 2
    assert Intervention.load(out).meta["pooling"] == "mean"
    assert run_cli(capsys, *learn_args(tiny_gpt2, data, out, "--pooling", "max", "--overwrite"))[0] == 0
    assert Intervention.load(out).meta["pooling"] == "max"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["learn.jsonl", "s.safetensors"], "no temporary file left"


# -- export --out: never over its source, never twice ----------------------------------------------
@pytest.fixture
def state(tmp_path, tiny_gpt2, data, capsys) -> Path:
    out = tmp_path / "s.safetensors"
    assert run_cli(capsys, *learn_args(tiny_gpt2, data, out))[0] == 0
    return out


def export_args(model, state, out, *extra):
    return ["export", "--model", model, "--intervention", state, "--out", out, "--dtype", "float32", *extra]


def test_export_refuses_its_source_a_file_and_a_non_empty_folder(capsys, tmp_path, tiny_gpt2, state, no_loading):
    before = (tiny_gpt2 / "model.safetensors").read_bytes()
    assert_one_line_error(*run_cli(capsys, *export_args(tiny_gpt2, state, tiny_gpt2, "--overwrite")),
                          "--out", "source model folder", "--overwrite does not allow")
    assert (tiny_gpt2 / "model.safetensors").read_bytes() == before
    a_file = tmp_path / "file.bin"
    a_file.write_bytes(b"keep")
    assert_one_line_error(*run_cli(capsys, *export_args(tiny_gpt2, state, a_file)), "--out", "is a file")
    assert_one_line_error(*run_cli(capsys, *export_args(tiny_gpt2, state, a_file, "--overwrite")), "is a file")
    assert a_file.read_bytes() == b"keep"
    full = tmp_path / "full"
    full.mkdir()
    (full / "notes.txt").write_text("keep")
    assert_one_line_error(*run_cli(capsys, *export_args(tiny_gpt2, state, full)), "--out", "non-empty folder", "--overwrite")
    assert (full / "notes.txt").read_text() == "keep"


def test_export_replaces_with_overwrite_and_never_folds_twice(capsys, tmp_path, tiny_gpt2, state):
    out = tmp_path / "folded"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    assert run_cli(capsys, *export_args(tiny_gpt2, state, out, "--overwrite"))[0] == 0
    names = sorted(p.name for p in out.iterdir())
    assert "stale.txt" not in names and "model.safetensors" in names and "aura_intervention.json" in names
    assert json.loads((out / "aura_intervention.json").read_text())["variant"] == "aura"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")], "no temporary folder left"
    assert_one_line_error(*run_cli(capsys, *export_args(out, state, tmp_path / "twice")), "already a folded checkpoint")
    assert_one_line_error(*run_cli(capsys, *export_args(out, state, out, "--overwrite")), "source model folder")


# -- one-line errors for bad values, before anything loads ------------------------------------------
@pytest.mark.parametrize(
    "extra, needles",
    [(["--dtype", "bogus"], ["argument --dtype", "invalid choice", "float32"]),
     (["--max-length", "-5"], ["argument --max-length", "whole number >= 1"]),
     (["--batch-size", "0"], ["argument --batch-size", "whole number >= 1"]),
     (["--n-per-class", "-1"], ["argument --n-per-class", "whole number >= 1"]),
     (["--n-per-class", "ten"], ["argument --n-per-class", "'ten'"])],
)
def test_bad_learn_values_are_one_line_errors(capsys, tmp_path, data, no_loading, extra, needles):
    assert_one_line_error(*run_cli(capsys, *learn_args("some/model", data, tmp_path / "s.safetensors", *extra)), *needles)


def test_missing_model_is_a_one_line_error(capsys, data, tmp_path):
    code, err = run_cli(capsys, "learn", "--data", data, "--out", tmp_path / "s.safetensors")
    assert_one_line_error(code, err, "required: --model", "aura-eval learn --help")


@pytest.mark.parametrize("modules, kind", [("transformer.h.*", "GPT2Block"), ("transformer.wte", "Embedding")])
def test_non_linear_modules_are_a_one_line_error(capsys, tmp_path, tiny_gpt2, data, modules, kind):
    out = tmp_path / "s.safetensors"
    code, err = run_cli(capsys, *learn_args(tiny_gpt2, data, out, "--modules", modules))
    assert_one_line_error(code, err, "--modules", kind, "not Linear / Conv1D", "transformer.h.0.mlp.c_fc")
    assert not out.exists()


def test_det_zero_with_alpha_is_refused_by_info(capsys, tmp_path, no_loading):
    code, err = run_cli(capsys, "info", tmp_path / "missing.safetensors", "--method", "det_zero", "--k", "3", "--alpha", "0.3")
    assert_one_line_error(code, err, "--method det_zero", "takes no alpha", "use method=damp")
    assert_one_line_error(*run_cli(capsys, "info", tmp_path / "s.safetensors", "--k", "3"), "--k / --alpha need --method")
    assert_one_line_error(*run_cli(capsys, "info", tmp_path / "s.safetensors", "--method", "damp", "--k", "3",
                                   "--alpha", "1.5"), "argument --alpha", "[0, 1]")


def test_det_zero_with_alpha_is_refused_by_export_before_loading(capsys, tmp_path, tiny_gpt2, no_loading):
    code, err = run_cli(capsys, *export_args(tiny_gpt2, tmp_path / "s.safetensors", tmp_path / "out", "--method",
                                              "det_zero", "--k", "3", "--alpha", "0.3"))
    assert_one_line_error(code, err, "takes no alpha")


def test_a_forged_label_is_refused_by_info(capsys, tmp_path, state):
    """`"method": "aura"` edited to `"none"` in the header would make an AurA run read as `base`."""
    import struct

    raw = state.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = raw[8 : 8 + n].replace(b'\\"method\\": \\"aura\\"', b'\\"method\\": \\"none\\"')
    assert header != raw[8 : 8 + n]
    state.write_bytes(raw[:8] + header + raw[8 + n :])  # same length: only the label changed
    assert_one_line_error(*run_cli(capsys, "info", state), str(state), "sha256")


def test_transformers_floor_allows_dtype_in_from_pretrained():
    """`load_model` passes `dtype=` to from_pretrained, which transformers reads from 4.56 on."""
    pyproject = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    (floor,) = re.findall(r'^\s*"transformers\s*>=\s*([\d.]+)', pyproject, re.MULTILINE)
    assert tuple(int(x) for x in floor.split(".")) >= (4, 56), floor


# -- never into the Hugging Face cache (a Hub model's own files), --overwrite or not --------------------
@pytest.fixture
def hub(tmp_path, monkeypatch) -> Path:
    """A fake Hugging Face cache: $HF_HUB_CACHE/models--org--tiny/snapshots/<sha>/ with a model's files."""
    hub = tmp_path / "hf" / "hub"
    snapshot = hub / "models--org--tiny" / "snapshots" / ("a1" * 20)
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").write_bytes(b"the cached model")
    (snapshot / "config.json").write_text("{}")
    (hub / "models--other--model").mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    return hub


def snapshot_of(hub: Path) -> Path:
    return next((hub / "models--org--tiny" / "snapshots").iterdir())


def test_learn_never_writes_into_the_hub_cache(capsys, data, hub, no_loading):
    weights = snapshot_of(hub) / "model.safetensors"
    for out in (weights, snapshot_of(hub) / "aura.safetensors", hub / "models--org--tiny" / "aura.safetensors",
                hub / "aura.safetensors"):
        assert_one_line_error(*run_cli(capsys, *learn_args("org/tiny", data, out, "--overwrite")),
                              "--out", "Hugging Face cache", "--overwrite does not allow")
    assert weights.read_bytes() == b"the cached model" and not list(hub.glob("**/aura.safetensors"))


@pytest.mark.parametrize("where", ["hub", "repo", "snapshot", "HF_HOME"])
def test_export_never_writes_in_or_around_the_hub_cache(capsys, tmp_path, hub, no_loading, where, monkeypatch):
    state = tmp_path / "s.safetensors"
    state.write_bytes(b"state")
    out = {"hub": hub, "repo": hub / "models--org--tiny", "snapshot": snapshot_of(hub), "HF_HOME": hub.parent}[where]
    if where == "HF_HOME":  # found through $HF_HOME/hub too
        monkeypatch.delenv("HF_HUB_CACHE")
        monkeypatch.setenv("HF_HOME", str(hub.parent))
    assert_one_line_error(*run_cli(capsys, *export_args("org/tiny", state, out, "--overwrite")),
                          "--out", "Hugging Face cache")
    assert (snapshot_of(hub) / "model.safetensors").read_bytes() == b"the cached model"
    assert (hub / "models--other--model").is_dir()


def test_export_out_a_symlink_to_an_empty_folder(capsys, tmp_path, tiny_gpt2, state):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert run_cli(capsys, *export_args(tiny_gpt2, state, tmp_path / "link"))[0] == 0
    assert (tmp_path / "link").is_symlink() and (tmp_path / "link" / "aura_intervention.json").is_file()
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")], "no .old or .tmp folder left"

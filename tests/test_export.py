"""The one export writer (core/export.py) and the folders it writes whole (core/files.py): `aura-eval export`
and compare's aura-folded cache, one marker schema, caches verified on use, concurrent fills, no leftovers."""

from __future__ import annotations

import json
import logging
import os
import threading

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM

from aura_eval.core import export
from aura_eval.core.config import InterventionConfig
from aura_eval.core.export import cached_export, export_folded
from aura_eval.core.files import FILES_KEY, atomic_folder, entry_problem
from aura_eval.core.hooks import applied
from aura_eval.core.intervention import Intervention, model_fingerprint
from aura_eval.core.loading import ModelRef
from aura_eval.core.modules import output_width, resolve_modules
from aura_eval.core.names import FOLDED_MARKER

INPUT = torch.tensor([[5, 17, 42, 99, 3, 250, 7]])


def random_state(model, path):
    g = torch.Generator().manual_seed(0)
    modules = resolve_modules(model)
    auroc = {n: torch.rand(output_width(m), generator=g, dtype=torch.float64) for n, m in modules.items()}
    meta = {"fingerprint": model_fingerprint(model, list(modules))}
    return Intervention.from_auroc(auroc, InterventionConfig("aura"), meta=meta).save(path)


@pytest.fixture
def gpt2_state(tiny_gpt2, tmp_path):
    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2).eval()
    return model, random_state(model, tmp_path / "s.safetensors")


# -- atomic_folder -------------------------------------------------------------------------------------
def test_atomic_folder_keeps_the_old_folder_when_writing_fails(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("old")

    def half_write(folder):
        (folder / "config.json").write_text("{}")  # save_pretrained writes config.json first
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_folder(out, half_write, replace=True)
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and [p.name for p in out.iterdir()] == ["old.txt"]
    atomic_folder(out, lambda folder: (folder / "new.txt").write_text("new"), replace=True)
    assert [p.name for p in tmp_path.iterdir()] == ["out"] and [p.name for p in out.iterdir()] == ["new.txt"]
    with pytest.raises(OSError, match="disk full"):
        atomic_folder(tmp_path / "fresh", half_write)
    assert not (tmp_path / "fresh").exists(), "an interrupted export never looks complete"


def test_atomic_folder_without_replace_never_overwrites(tmp_path):
    out = tmp_path / "out"
    atomic_folder(out, lambda folder: (folder / "a.txt").write_text("first"))
    with pytest.raises(FileExistsError):
        atomic_folder(out, lambda folder: (folder / "a.txt").write_text("second"))
    assert (out / "a.txt").read_text() == "first" and [p.name for p in tmp_path.iterdir()] == ["out"]


# -- aura-eval export ----------------------------------------------------------------------------------
def test_export_folded_once_and_never_over_its_source(tiny_gpt2, tmp_path, gpt2_state):
    model, state = gpt2_state
    ref = ModelRef.parse(str(tiny_gpt2))
    before = (tiny_gpt2 / "model.safetensors").read_bytes()
    for out in (tiny_gpt2, tiny_gpt2 / "sub", tiny_gpt2.parent):
        with pytest.raises(ValueError, match="source model folder"):
            export_folded(ref, state, out, overwrite=True)
    assert (tiny_gpt2 / "model.safetensors").read_bytes() == before
    folded = tmp_path / "folded"
    export_folded(ref, state, folded, dtype="float32")
    with pytest.raises(ValueError, match="already a folded checkpoint"):
        export_folded(ModelRef.parse(str(folded)), state, tmp_path / "twice")
    with pytest.raises(ValueError, match="non-empty folder; pass --overwrite"):
        export_folded(ref, state, folded)
    with pytest.raises(ValueError, match="holds the state file"):
        export_folded(ref, state, tmp_path, overwrite=True)
    with torch.no_grad(), applied(model, Intervention.load(state, model=model)):
        hooked = model(INPUT).logits
    torch.testing.assert_close(AutoModelForCausalLM.from_pretrained(folded)(INPUT).logits, hooked, atol=1e-5, rtol=1e-5)


def test_export_and_the_folded_cache_write_one_marker_schema(tiny_gpt2, tmp_path, gpt2_state, monkeypatch):
    monkeypatch.setenv("AURA_EVAL_CACHE", str(tmp_path / "cache"))
    _, state = gpt2_state
    ref = ModelRef.parse(str(tiny_gpt2))
    export_folded(ref, state, tmp_path / "exported", dtype="float32")
    cached = cached_export(ref, state, tmp_path / "cache" / "folded" / "tiny-1", {"name": "tiny", "sha256": "x"})
    one, two = (json.loads((folder / FOLDED_MARKER).read_text()) for folder in (tmp_path / "exported", cached))
    assert set(one) == set(two) == {"variant", "model", "state", "summary", FILES_KEY}
    assert one["state"] == two["state"] == {"file": "s.safetensors", "sha256": export.sha256_file(state)}
    assert one["variant"] == "aura" and one["summary"] == two["summary"]
    assert set(one[FILES_KEY]) == set(two[FILES_KEY]) and "model.safetensors" in one[FILES_KEY]
    assert entry_problem(tmp_path / "exported", FOLDED_MARKER) is None and str(tmp_path) not in json.dumps(one)


def test_export_out_a_symlink_to_an_empty_folder_writes_that_folder(tiny_gpt2, tmp_path, gpt2_state):
    _, state = gpt2_state
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    export_folded(ModelRef.parse(str(tiny_gpt2)), state, tmp_path / "link", dtype="float32")
    assert (tmp_path / "link").is_symlink() and (tmp_path / "real" / FOLDED_MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real", "s.safetensors"], "no .old / .tmp left"
    export_folded(ModelRef.parse(str(tiny_gpt2)), state, tmp_path / "link", dtype="float32", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real", "s.safetensors"]


# -- the folded cache: verified on use, rebuilt once, shared by concurrent fills ----------------------
@pytest.fixture
def counted(monkeypatch):
    """Count real folds (export.fold_into still runs)."""
    calls, real = [], export.fold_into

    def fold_into(*args, **kwargs):
        calls.append(args[2])
        return real(*args, **kwargs)

    monkeypatch.setattr(export, "fold_into", fold_into)
    return calls


def scale_in_place(path, factor=3.0):
    tensors = load_file(path)
    save_file({name: t * factor if t.is_floating_point() else t for name, t in tensors.items()}, str(path),
              metadata={"format": "pt"})
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a later mtime, as any rewrite leaves


@pytest.mark.parametrize("damage", ["scaled", "truncated", "deleted", "no marker"])
def test_a_damaged_folded_cache_entry_is_named_and_rebuilt_once(tiny_gpt2, tmp_path, gpt2_state, counted, caplog,
                                                                 damage):
    _, state = gpt2_state
    ref, folder = ModelRef.parse(str(tiny_gpt2)), tmp_path / "cache" / "tiny-1"
    assert cached_export(ref, state, folder, {"name": "tiny"}) == folder and len(counted) == 1
    good = (folder / "model.safetensors").read_bytes()
    weights = folder / "model.safetensors"
    if damage == "scaled":
        scale_in_place(weights)
        assert weights.stat().st_size == len(good)  # same size: only the hash tells
    elif damage == "truncated":
        weights.write_bytes(good[: len(good) // 2])
    elif damage == "deleted":
        weights.unlink()
    else:
        (folder / FOLDED_MARKER).unlink()
    with caplog.at_level(logging.WARNING):
        assert cached_export(ref, state, folder, {"name": "tiny"}) == folder
    said = [r.getMessage() for r in caplog.records]
    assert len(counted) == 2 and any("damaged" in m and str(folder) in m for m in said), said
    assert any("built again" in m for m in said) and weights.read_bytes() == good
    caplog.clear()
    assert cached_export(ref, state, folder, {"name": "tiny"}) == folder and len(counted) == 2 and not caplog.records
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]


def test_an_untouched_entry_is_checked_by_size_and_mtime_alone(tiny_gpt2, tmp_path, gpt2_state, monkeypatch):
    _, state = gpt2_state
    ref, folder = ModelRef.parse(str(tiny_gpt2)), tmp_path / "tiny-1"
    cached_export(ref, state, folder, {"name": "tiny"})
    import aura_eval.core.files as files

    hashed = []
    monkeypatch.setattr(files, "sha256_file", lambda path: hashed.append(path) or "")
    assert entry_problem(folder, FOLDED_MARKER) is None and hashed == []


def test_two_concurrent_folded_exports_share_one_entry(tiny_gpt2, tmp_path, gpt2_state, monkeypatch):
    _, state = gpt2_state
    ref, folder = ModelRef.parse(str(tiny_gpt2)), tmp_path / "cache" / "tiny-1"
    real, both_written, one_load = export.fold_into, threading.Barrier(2, timeout=60), threading.Lock()

    def fold_into(*args, **kwargs):
        with one_load:  # transformers' loading is not thread-safe (it swaps torch's init functions meanwhile)
            folded = real(*args, **kwargs)
        both_written.wait()  # both writers finish their folder before either renames it into place
        return folded

    monkeypatch.setattr(export, "fold_into", fold_into)
    results, errors = [], []

    def run():
        try:
            results.append(cached_export(ref, state, folder, {"name": "tiny"}))
        except BaseException as e:  # noqa: BLE001  (the test reports it)
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and results == [folder, folder]
    assert entry_problem(folder, FOLDED_MARKER) is None
    assert [p.name for p in folder.parent.iterdir()] == ["tiny-1"], "the loser's folder is gone"


def test_an_unwritable_cache_gives_none_and_a_warning(tiny_gpt2, tmp_path, gpt2_state, counted, caplog):
    _, state = gpt2_state
    (tmp_path / "a-file").write_text("not a folder")  # fails for root too, unlike chmod
    with caplog.at_level(logging.WARNING):
        got = cached_export(ModelRef.parse(str(tiny_gpt2)), state, tmp_path / "a-file" / "folded" / "x", {})
    assert got is None and counted == []
    assert any("cannot be written" in r.getMessage() and "AURA_EVAL_CACHE" in r.getMessage() for r in caplog.records)

import json
import struct

import pytest
import torch
from transformers import AutoModelForCausalLM, GPT2Config

from aura_eval.core.config import InterventionConfig as C
from aura_eval.core.intervention import (
    Intervention,
    StateFileError,
    alphas_from_auroc,
    model_fingerprint,
    state_digest,
    write_state_file,
)

AUROC = {"a": torch.tensor([0.2, 0.5, 0.75, 1.0], dtype=torch.float64), "b": torch.tensor([0.9, 0.6], dtype=torch.float64)}


def test_aura_alpha_is_one_minus_gini_for_experts_only():
    alphas = alphas_from_auroc(AUROC, C("aura"))
    assert alphas["a"].tolist() == [1.0, 1.0, 0.5, 0.0]
    assert alphas["b"].tolist() == pytest.approx([0.2, 0.8])


def test_damp_and_det_zero_pick_global_top_k():
    damp = alphas_from_auroc(AUROC, C("damp", k=2, alpha=0.3))
    assert damp["a"].tolist() == pytest.approx([1, 1, 1, 0.3]) and damp["b"].tolist() == pytest.approx([0.3, 1])
    zero = alphas_from_auroc(AUROC, C("det_zero", k=3))
    assert zero["a"].tolist() == [1, 1, 0, 0] and zero["b"].tolist() == [0, 1]
    assert alphas_from_auroc(AUROC, C("damp", k=1))["a"][3] == 0.5  # default alpha
    assert all(torch.all(a == 1) for a in alphas_from_auroc(AUROC, C("none")).values())


@pytest.mark.parametrize(
    "kwargs, match",
    [({"method": "damp"}, "needs k"), ({"method": "det_zero", "k": 7}, "needs k"), ({"method": "damp", "k": 1, "alpha": 2}, "alpha"),
     ({"method": "aura", "k": 3}, "no k"), ({"method": "det_zero", "k": 1, "alpha": 0.5}, "det_zero"), ({"method": "zero"}, "unknown")],
)
def test_bad_method_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        alphas_from_auroc(AUROC, C(**kwargs))


@pytest.fixture
def learned(tiny_gpt2):
    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2)
    g = torch.Generator().manual_seed(1)
    names = ["transformer.h.0.mlp.c_fc", "transformer.h.1.mlp.c_proj"]
    widths = model_fingerprint(model, names)["module_widths"]
    auroc = {n: torch.rand(widths[n], generator=g, dtype=torch.float64) for n in names}
    meta = {"fingerprint": model_fingerprint(model, names), "model_name": "tiny-gpt2", "pooling": "max"}
    return model, Intervention.from_auroc(auroc, C("aura"), meta=meta)


def test_state_file_roundtrip_and_method_switch(learned, tmp_path):
    model, iv = learned
    path = iv.save(tmp_path / "s.safetensors")
    back = Intervention.load(path, model=model)
    assert back.method == "aura" and back.meta["model_name"] == "tiny-gpt2" and back.meta["pooling"] == "max"
    for n in iv.auroc:
        assert torch.equal(back.auroc[n], iv.auroc[n]) and torch.equal(back.alphas[n], iv.alphas[n])
    damp = back.with_config(C("damp", k=10, alpha=0.25))
    assert damp.variant == "damp-k10-a0.25" and damp.summary()["n_units_changed"] == 10
    assert back.with_config(C("det_zero", k=5)).variant == "det_zero-k5"


def _rewrite_header(path, edit):
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    edit(header)
    blob = json.dumps(header).encode()
    blob += b" " * ((8 - len(blob) % 8) % 8)
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + raw[8 + n :])


def test_tampered_tensor_is_rejected(learned, tmp_path):
    _, iv = learned
    path = iv.save(tmp_path / "s.safetensors")
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0xFF  # flip bits in the last tensor's data
    path.write_bytes(bytes(raw))
    with pytest.raises(StateFileError, match="sha256"):
        Intervention.load(path)


def test_tampered_header_is_rejected(learned, tmp_path):
    _, iv = learned
    path = iv.save(tmp_path / "s.safetensors")

    def drop_module(header):
        meta = json.loads(header["__metadata__"]["aura"])
        meta["modules"] = meta["modules"][:1]
        header["__metadata__"]["aura"] = json.dumps(meta)

    _rewrite_header(path, drop_module)
    with pytest.raises(StateFileError, match="sha256"):
        Intervention.load(path)
    forged = forge(iv, tmp_path / "f.safetensors", edit_header=lambda h: h.update(modules=h["modules"][:1]))
    with pytest.raises(StateFileError, match="module list"):
        Intervention.load(forged)
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(StateFileError, match="not a readable"):
        Intervention.load(tmp_path / "junk.safetensors")
    with pytest.raises(StateFileError, match="No intervention state file"):
        Intervention.load(tmp_path / "missing.safetensors")


def forge(iv, path, edit_header=None, edit_tensors=None):
    """Write a state file as someone who edits it and then recomputes the digest with our own code."""
    tensors, header = iv.tensors(), iv.header()
    if edit_tensors:
        edit_tensors(tensors)
    if edit_header:
        edit_header(header)
    header["sha256"] = state_digest(tensors, header)
    return write_state_file(path, tensors, header)


def test_out_of_range_alpha_is_rejected(learned, tmp_path):
    _, iv = learned
    name = next(iter(iv.alphas))
    path = forge(iv, tmp_path / "s.safetensors", edit_tensors=lambda t: t.__setitem__(f"alpha.{name}", t[f"alpha.{name}"] * 3))
    with pytest.raises(StateFileError, match="outside"):
        Intervention.load(path)


def test_save_refuses_alphas_that_do_not_follow_from_the_config(learned, tmp_path):
    _, iv = learned
    name = next(iter(iv.alphas))
    iv.alphas[name] = torch.ones_like(iv.alphas[name])
    with pytest.raises(ValueError, match="inconsistent"):
        iv.save(tmp_path / "s.safetensors")
    assert not list(tmp_path.iterdir())


def _edit_field(field, value):
    def edit(header):
        meta = json.loads(header["__metadata__"]["aura"])
        meta[field] = value
        header["__metadata__"]["aura"] = json.dumps(meta)

    return edit


@pytest.mark.parametrize(
    "field, value",
    [("method", "none"), ("method", "aurq"), ("k", 3), ("alpha", 0.5), ("model_name", "gpt2-xl"), ("pooling", "mean"),
     ("data_hash", "0" * 16), ("n_toxic", 1000), ("n_nontoxic", 1), ("module_patterns", ["x"]), ("data_source", "x.csv"),
     ("model_sha256", "0" * 64), ("data_sha256", "0" * 64),
     ("fingerprint", {"architecture": "LlamaForCausalLM"}), ("aura_eval_version", "9.9"), ("summary", {}), ("extra", 1)],
)
def test_digest_covers_every_header_field(learned, tmp_path, field, value):
    _, iv = learned
    path = iv.save(tmp_path / "s.safetensors")
    _rewrite_header(path, _edit_field(field, value))
    with pytest.raises(StateFileError, match=r"s\.safetensors: contents do not match the header's sha256"):
        Intervention.load(path)


def test_removed_header_field_is_rejected(learned, tmp_path):
    _, iv = learned
    path = iv.save(tmp_path / "s.safetensors")

    def drop_pooling(header):
        meta = json.loads(header["__metadata__"]["aura"])
        del meta["pooling"]
        header["__metadata__"]["aura"] = json.dumps(meta)

    _rewrite_header(path, drop_pooling)
    with pytest.raises(StateFileError, match="sha256"):
        Intervention.load(path)


@pytest.mark.parametrize(
    "edit, match",
    [({"method": "none"}, "not what method=none gives"),  # an AurA file relabelled as the base model
     ({"method": "damp", "k": 2, "alpha": 0.5}, "not what method=damp"),
     ({"method": "aurq"}, "unknown method"),
     ({"k": "5", "method": "damp"}, "'k' must be a whole number"),
     ({"alpha": True, "method": "damp", "k": 2}, "'alpha' must be a number"),
     ({"method": "damp", "k": 0}, "k must be a whole number >= 1"),
     ({"method": "damp", "k": 10**9}, r"in 1\.\."),
     ({"method": "damp", "k": 2, "alpha": 1.5}, r"alpha must be a number in \[0, 1\]"),
     ({"method": "det_zero", "k": 2, "alpha": 0.3}, "det_zero")],
)
def test_header_that_does_not_describe_the_alphas_is_rejected(learned, tmp_path, edit, match):
    """Even with a recomputed digest, the label cannot lie: alphas are recomputed from the AUROCs."""
    _, iv = learned
    path = forge(iv, tmp_path / "s.safetensors", edit_header=lambda h: h.update(edit))
    with pytest.raises(StateFileError, match=match) as error:
        Intervention.load(path)
    assert str(path) in str(error.value)


def test_aura_header_with_identity_alphas_is_rejected(learned, tmp_path):
    _, iv = learned

    def all_ones(tensors):
        for name in tensors:
            if name.startswith("alpha."):
                tensors[name] = torch.ones_like(tensors[name])

    path = forge(iv, tmp_path / "s.safetensors", edit_tensors=all_ones)
    with pytest.raises(StateFileError, match="not what method=aura gives"):
        Intervention.load(path)


def test_version_1_files_are_refused_with_the_fix(learned, tmp_path):
    _, iv = learned
    path = forge(iv, tmp_path / "s.safetensors", edit_header=lambda h: h.update(format_version=1))
    with pytest.raises(StateFileError, match="format v1.*re-run `aura-eval learn`"):
        Intervention.load(path)


def test_variant_is_base_exactly_when_every_alpha_is_one(learned):
    _, iv = learned
    assert iv.variant == "aura" and iv.summary()["n_units_changed"] > 0
    assert iv.with_config(C("none")).variant == "base"
    assert iv.with_config(C("damp", k=5, alpha=1.0)).variant == "base", "alpha 1 changes nothing"
    assert iv.with_config(C("damp", k=5, alpha=0.0)).variant == "damp-k5-a0"
    no_experts = Intervention.from_auroc({"m": torch.tensor([0.1, 0.5], dtype=torch.float64)}, C("aura"))
    assert no_experts.variant == "base"


def test_save_is_atomic(learned, tmp_path, monkeypatch):
    import safetensors.torch

    _, iv = learned
    path = iv.save(tmp_path / "s.safetensors")
    before = path.read_bytes()
    iv.with_config(C("det_zero", k=3)).save(path)  # overwriting is the caller's decision
    assert Intervention.load(path).variant == "det_zero-k3"
    iv.save(path)

    def broken_save(tensors, filename, metadata=None):
        with open(filename, "wb") as f:
            f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", broken_save)
    with pytest.raises(OSError, match="disk full"):
        iv.with_config(C("none")).save(path)
    assert path.read_bytes() == before, "a failed save leaves the old file intact"
    assert [p.name for p in tmp_path.iterdir()] == ["s.safetensors"], "and no temporary file behind"


def test_other_model_is_rejected(learned, tmp_path, tiny_llama):
    _, iv = learned
    path = iv.save(tmp_path / "s.safetensors")
    wider = AutoModelForCausalLM.from_config(GPT2Config(vocab_size=400, n_embd=48, n_layer=2, n_head=2))
    with pytest.raises(StateFileError, match="another model size"):
        Intervention.load(path, model=wider)
    llama = AutoModelForCausalLM.from_pretrained(tiny_llama)
    with pytest.raises(StateFileError, match="another architecture"):
        Intervention.load(path, model=llama)


def test_state_file_gets_the_usual_permissions(learned, tmp_path):
    import os
    import stat

    mask = os.umask(0o022)
    try:
        path = learned[1].save(tmp_path / "shared.safetensors")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644

import json
import struct

import pytest
import torch
from transformers import AutoModelForCausalLM, GPT2Config

from aura_eval.core.config import InterventionConfig as C
from aura_eval.core.intervention import Intervention, StateFileError, alphas_from_auroc, model_fingerprint

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
    with pytest.raises(StateFileError, match="module list"):
        Intervention.load(path)
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file at all")
    with pytest.raises(StateFileError, match="not a readable"):
        Intervention.load(tmp_path / "junk.safetensors")
    with pytest.raises(StateFileError, match="No intervention state file"):
        Intervention.load(tmp_path / "missing.safetensors")


def test_out_of_range_alpha_is_rejected(learned, tmp_path):
    _, iv = learned
    name = next(iter(iv.alphas))
    iv.alphas[name] = iv.alphas[name] * 3  # saved with a matching hash, but not a valid intervention
    with pytest.raises(StateFileError, match="outside"):
        Intervention.load(iv.save(tmp_path / "s.safetensors"))


def test_other_model_is_rejected(learned, tmp_path, tiny_llama):
    _, iv = learned
    path = iv.save(tmp_path / "s.safetensors")
    wider = AutoModelForCausalLM.from_config(GPT2Config(vocab_size=400, n_embd=48, n_layer=2, n_head=2))
    with pytest.raises(StateFileError, match="another model size"):
        Intervention.load(path, model=wider)
    llama = AutoModelForCausalLM.from_pretrained(tiny_llama)
    with pytest.raises(StateFileError, match="another architecture"):
        Intervention.load(path, model=llama)

"""Strength s (apple/ml-act's): every alpha becomes 1 - s * (1 - alpha). s=0 is the bare model exactly,
s=1 the full method; it folds exactly, applies to damp and det_zero, and names its variant."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from aura_eval.core.config import InterventionConfig
from aura_eval.core.hooks import applied, apply_folded
from aura_eval.core.intervention import Intervention, alphas_from_auroc, model_fingerprint
from aura_eval.core.modules import output_width, resolve_modules

INPUT = torch.tensor([[5, 17, 42, 99, 3, 250, 7], [8, 9, 10, 11, 12, 13, 14]])
METHODS = [("aura", {}), ("damp", {"k": 20, "alpha": 0.3}), ("det_zero", {"k": 20})]


@pytest.mark.parametrize("label,config", [
    ("aura-s0.5", InterventionConfig("aura", strength=0.5)),
    ("damp-k500-a0.5-s0.5", InterventionConfig("damp", 500, 0.5, 0.5)),
    ("det_zero-k100-s0.5", InterventionConfig("det_zero", 100, strength=0.5)),
    ("aura-s0.25", InterventionConfig("aura", strength=0.25)), ("aura-s0", InterventionConfig("aura", strength=0)),
    ("aura", InterventionConfig("aura", strength=1)), ("damp-k3-a0.5", InterventionConfig("damp", 3)),
    ("aura-s0.00001", InterventionConfig("aura", strength=1e-5)),
])
def test_label_and_parse_round_trip(label, config):
    assert config.label == label and InterventionConfig.parse(label) == config
    assert InterventionConfig.parse(label).label == label


@pytest.mark.parametrize("text", ["aura-s1.5", "aura-s", "base-s0.5", "none-s0.5", "aura-s0.5-k3", "aura-s.5.5"])
def test_bad_strength_labels_are_refused(text):
    with pytest.raises(ValueError, match="bad variant"):
        InterventionConfig.parse(text)


@pytest.mark.parametrize("strength", [-0.5, 1.01, float("nan"), "x", True])
def test_strength_outside_0_1_is_refused(strength):
    with pytest.raises(ValueError, match="strength must be a number in"):
        InterventionConfig("aura", strength=strength)


def auroc_of(model, seed=1):
    g = torch.Generator().manual_seed(seed)
    return {n: torch.rand(output_width(m), generator=g, dtype=torch.float64) for n, m in resolve_modules(model).items()}


@pytest.mark.parametrize("method,kw", METHODS)
@pytest.mark.parametrize("s", [0.0, 0.25, 0.5, 1.0])
def test_alphas_against_a_slow_reference(tiny_llama, method, kw, s):
    auroc = auroc_of(AutoModelForCausalLM.from_pretrained(tiny_llama))
    full = alphas_from_auroc(auroc, InterventionConfig(method, **kw))
    scaled = alphas_from_auroc(auroc, InterventionConfig(method, **kw, strength=s))
    for name, alphas in full.items():
        expected = torch.tensor([1 - s * (1 - float(a)) for a in alphas.double()], dtype=torch.float32)
        assert torch.equal(scaled[name], expected)
    if s == 0:
        assert all(torch.equal(a, torch.ones_like(a)) for a in scaled.values())
    if s == 1:
        assert all(torch.equal(scaled[n], full[n]) for n in full)


def intervention(model, method, kw, s):
    meta = {"fingerprint": model_fingerprint(model, list(resolve_modules(model)))}
    return Intervention.from_auroc(auroc_of(model), InterventionConfig(method, **kw, strength=s), meta=meta)


@pytest.mark.parametrize("method,kw", METHODS)
def test_zero_is_the_bare_model_one_the_full_method_and_the_fold_equals_the_hooks(tiny_model_dir, method, kw):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    with torch.no_grad():
        bare = model(INPUT).logits
        zero = intervention(model, method, kw, 0.0)
        assert zero.variant == "base"
        done = apply_folded(model, zero)
        assert not done.folded and not len(done.hooked)
        assert torch.equal(model(INPUT).logits, bare)
        full_iv, half_iv = intervention(model, method, kw, 1.0), intervention(model, method, kw, 0.5)
        method_itself = Intervention.from_auroc(full_iv.auroc, InterventionConfig(method, **kw))
        assert all(torch.equal(a, method_itself.alphas[n]) for n, a in full_iv.alphas.items())
        with applied(model, full_iv):
            full = model(INPUT).logits
        with applied(model, half_iv):
            hooked = model(INPUT).logits
        folded_half = apply_folded(model, half_iv)
        folded = model(INPUT).logits
        folded_half.remove()
    torch.testing.assert_close(folded, hooked, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(hooked, bare, atol=1e-4) and not torch.allclose(hooked, full, atol=1e-4), "in between"
    assert half_iv.variant == InterventionConfig(method, **kw, strength=0.5).label


def test_a_state_file_at_a_strength_round_trips(tiny_llama, tmp_path):
    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    iv = intervention(model, "damp", {"k": 20, "alpha": 0.3}, 0.5)
    back = Intervention.load(iv.save(tmp_path / "s.safetensors"))
    assert back.config == iv.config and back.variant == "damp-k20-a0.3-s0.5"
    assert all(torch.equal(back.alphas[n], a) for n, a in iv.alphas.items())
    full = intervention(model, "aura", {}, 1.0)
    assert "strength" not in full.header(), "files at full strength keep the header they had"


def test_aura_hf_takes_strength_and_records_it(tiny_llama, tmp_path):
    from aura_eval.harness.model import AuraLM

    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    path = intervention(model, "aura", {}, 1.0).save(tmp_path / "s.safetensors")
    half = AuraLM(pretrained=str(tiny_llama), device="cpu", intervention=str(path), strength="0.5")
    info = half.get_model_info()["aura"]
    assert info["variant"] == "aura-s0.5" and info["strength"] == 0.5 and info["method"] == "aura"
    zero = AuraLM(pretrained=str(tiny_llama), device="cpu", intervention=str(path), strength=0, fold=False)
    bare = AuraLM(pretrained=str(tiny_llama), device="cpu", intervention="none")
    assert zero.get_model_info()["aura"]["variant"] == "base"
    with torch.no_grad():
        assert torch.equal(zero.model(INPUT).logits, bare.model(INPUT).logits)

"""In-memory folding (`apply_folded`): the same logits as hooks, hooks only where folding is not exact,
and the bare weights back bit for bit after `remove()`."""

import pytest
import torch
from torch import nn
from transformers import AutoModelForCausalLM

from aura_eval.core.config import InterventionConfig
from aura_eval.core.hooks import applied, apply_folded, foldable
from aura_eval.core.intervention import Intervention, model_fingerprint
from aura_eval.core.modules import output_width, resolve_modules

INPUT = torch.tensor([[5, 17, 42, 99, 3, 250, 7], [8, 9, 10, 11, 12, 13, 14]])


def random_intervention(model, method="aura", **kw):
    g = torch.Generator().manual_seed(1)
    modules = resolve_modules(model)
    auroc = {n: torch.rand(output_width(m), generator=g, dtype=torch.float64) for n, m in modules.items()}
    return Intervention.from_auroc(auroc, InterventionConfig(method, **kw), meta={"fingerprint": model_fingerprint(model, list(modules))})


def changed(iv):
    return {n for n, a in iv.alphas.items() if not torch.all(a == 1)}


@pytest.mark.parametrize("method, kw", [("aura", {}), ("damp", {"k": 20, "alpha": 0.3}), ("det_zero", {"k": 20})])
def test_folded_in_memory_equals_hooks_and_restores_the_weights(tiny_model_dir, method, kw):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    iv = random_intervention(model, method, **kw)
    alphas_before = {n: a.clone() for n, a in iv.alphas.items()}
    bare_state = {n: t.clone() for n, t in model.state_dict().items()}
    with torch.no_grad():
        bare = model(INPUT).logits
        with applied(model, iv):
            hooked = model(INPUT).logits
        done = apply_folded(model, iv)
        folded = model(INPUT).logits
    assert set(done.folded) == changed(iv) and len(done.hooked) == 0 and done.how == "folded in memory"
    assert not torch.allclose(hooked, bare, atol=1e-3), "the intervention must change outputs"
    torch.testing.assert_close(folded, hooked, atol=1e-5, rtol=1e-5)
    done.remove()
    assert all(torch.equal(t, bare_state[n]) for n, t in model.state_dict().items()), "remove() gives the bare weights back"
    assert all(torch.equal(a, alphas_before[n]) for n, a in iv.alphas.items()), "the intervention itself is unchanged"


def test_tied_or_non_plain_modules_are_hooked_not_folded(tiny_llama):
    model = AutoModelForCausalLM.from_pretrained(tiny_llama).eval()
    iv = random_intervention(model)
    layers = model.model.layers
    layers[1].mlp.up_proj.weight = layers[0].mlp.up_proj.weight  # tied: scaling one would scale the other

    class MyLinear(nn.Linear):  # a subclass (e.g. a quantised layer) may compute something else
        pass

    plain = layers[1].mlp.down_proj
    odd = MyLinear(plain.in_features, plain.out_features, bias=False)
    odd.weight = plain.weight
    layers[1].mlp.down_proj = odd
    expect_hooked = {"model.layers.0.mlp.up_proj", "model.layers.1.mlp.up_proj", "model.layers.1.mlp.down_proj"}
    assert not any(foldable(model, n) for n in expect_hooked) and foldable(model, "model.layers.0.mlp.gate_proj")
    with torch.no_grad():
        with applied(model, iv):
            hooked = model(INPUT).logits
        done = apply_folded(model, iv)
        mixed = model(INPUT).logits
    assert set(done.hooked.handles) == expect_hooked & changed(iv) and set(done.folded) == changed(iv) - expect_hooked
    assert done.how == "folded in memory + hooks"
    torch.testing.assert_close(mixed, hooked, atol=1e-5, rtol=1e-5)


def test_remove_without_a_kept_copy_refuses(tiny_gpt2):
    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2).eval()
    done = apply_folded(model, random_intervention(model), keep_original=False)
    with pytest.raises(RuntimeError, match="without keeping the original weights"):
        done.remove()


def test_aura_hf_folded_equals_hooked_on_loglikelihoods(tiny_gpt2, tmp_path):
    from lm_eval.api.instance import Instance
    from test_shared_prefill import random_state

    from aura_eval.harness.model import AuraLM

    state = random_state(tiny_gpt2, tmp_path / "s.safetensors")
    reqs = [Instance("loglikelihood", {}, (c, x), idx=0) for c in ("You are a", "The weather was") for x in (" stupid idiot", " kind")]
    out = {}
    for fold in (True, False):
        lm = AuraLM(pretrained=str(tiny_gpt2), device="cpu", batch_size=2, intervention=str(state), fold=fold)
        out[fold] = [ll for ll, _ in lm.loglikelihood(reqs)]
        assert lm.get_model_info()["aura"]["applied"] == ("folded in memory" if fold else "hooks")
    bare = AuraLM(pretrained=str(tiny_gpt2), device="cpu", batch_size=2, intervention="none")
    assert out[True] == pytest.approx(out[False], abs=1e-4)
    assert out[True] != pytest.approx([ll for ll, _ in bare.loglikelihood(reqs)], abs=1e-3), "the intervention acts"

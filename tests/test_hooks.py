import pytest
import torch
from transformers import AutoModelForCausalLM

from aura_eval.core.config import InterventionConfig
from aura_eval.core.hooks import applied, apply, fold
from aura_eval.core.intervention import Intervention, model_fingerprint
from aura_eval.core.modules import output_width, resolve_modules

INPUT = torch.tensor([[5, 17, 42, 99, 3, 250, 7]])


def random_intervention(model, method="aura", **kw):
    g = torch.Generator().manual_seed(0)
    modules = resolve_modules(model)
    auroc = {n: torch.rand(output_width(m), generator=g, dtype=torch.float64) for n, m in modules.items()}
    return Intervention.from_auroc(auroc, InterventionConfig(method, **kw), meta={"fingerprint": model_fingerprint(model, list(modules))})


@pytest.mark.parametrize("method, kw", [("aura", {}), ("damp", {"k": 20, "alpha": 0.3}), ("det_zero", {"k": 20})])
def test_hooked_logits_equal_folded_logits(tiny_model_dir, method, kw):
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    iv = random_intervention(model, method, **kw)
    with torch.no_grad():
        bare = model(INPUT).logits
        with applied(model, iv) as hooked:
            assert len(hooked) > 0
            hooked_logits = model(INPUT).logits
        assert torch.equal(model(INPUT).logits, bare), "removing the hooks restores the model"
        folded_logits = fold(model, iv)(INPUT).logits
    assert not torch.allclose(hooked_logits, bare, atol=1e-3), "the intervention must change outputs"
    torch.testing.assert_close(folded_logits, hooked_logits, atol=1e-5, rtol=1e-5)


def test_identity_modules_are_not_hooked(tiny_llama):
    model = AutoModelForCausalLM.from_pretrained(tiny_llama)
    assert len(apply(model, random_intervention(model, "none")).handles) == 0
    handles = apply(model, random_intervention(model, "det_zero", k=1)).handles
    assert len(handles) == 1


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_stays_half(tiny_llama, dtype):
    model = AutoModelForCausalLM.from_pretrained(tiny_llama, dtype=dtype).eval()
    seen = []
    mod = model.model.layers[0].mlp.down_proj
    h = mod.register_forward_hook(lambda m, i, o: seen.append(o.dtype))  # runs after our hook
    with applied(model, random_intervention(model)), torch.no_grad():
        logits = model(INPUT).logits
    h.remove()
    assert logits.dtype == dtype and seen == [dtype]


@pytest.mark.parametrize("patterns, bad", [("transformer.h.*", "GPT2Block"), ("transformer.wte", "Embedding"),
                                          ("transformer.h.*.mlp.c_fc|transformer.h.0.ln_1", "LayerNorm")])
def test_only_linear_modules_are_hooked(tiny_gpt2, patterns, bad):
    """A block or an embedding has no units: an Embedding's weight width is the vocabulary size."""
    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2)
    with pytest.raises(ValueError, match=f"not Linear / Conv1D layers, e.g. .*{bad}.*transformer.h.0.mlp.c_fc"):
        resolve_modules(model, patterns)
    with pytest.raises(ValueError, match="Embedding"):
        output_width(model.transformer.wte)
    assert list(resolve_modules(model, "transformer.h.*.mlp.c_*")) == [
        "transformer.h.0.mlp.c_fc", "transformer.h.0.mlp.c_proj", "transformer.h.1.mlp.c_fc", "transformer.h.1.mlp.c_proj"]

"""AurA inside mixture-of-experts models, on a tiny random model of each family's config class.

The reference is a slow per-expert loop: for each sentence alone, the router's choice is read off the experts
module's inputs, each expert's routed tokens are gathered and pushed through plain matmuls, and each unit's
output is max-pooled over them (no response where the expert saw no token). Learned responses and AUROCs must
equal the reference's; hooked, folded in memory, folded and exported logits must agree; and the CLI must
learn and export without --modules."""

from __future__ import annotations

import copy
import csv
import math

import pytest
import torch
import transformers
from conftest import CORPUS
from sklearn.metrics import roc_auc_score
from test_families import DECODER, auroc_bounds, config_for, logits, tiny_model
from transformers import AutoModelForCausalLM

from aura_eval.cli import main
from aura_eval.core.experts import ExpertUnits
from aura_eval.core.hooks import applied, apply_folded, fold
from aura_eval.core.intervention import Intervention
from aura_eval.core.learn import learn_from_model
from aura_eval.core.modules import MOE_PRESETS, PRESETS, output_width, preset_for, resolve_modules, unit_shape
from aura_eval.core.responses import collect_responses

ROUTED = dict(num_experts_per_tok=2, moe_intermediate_size=16)
E = 8
# Each family with 8 experts, top-2; Qwen2-MoE with its shared expert and a dense first layer (mlp_only_layers),
# DeepSeek-V3 with shared experts and a dense first layer (first_k_dense_replace).
MOE: dict[str, tuple[str, dict]] = {
    "mixtral": ("MixtralConfig", dict(DECODER, head_dim=16, num_local_experts=E, **ROUTED)),
    "qwen2_moe": ("Qwen2MoeConfig", dict(DECODER, head_dim=16, num_experts=E, shared_expert_intermediate_size=24,
                                         mlp_only_layers=[0], **ROUTED)),
    "qwen3_moe": ("Qwen3MoeConfig", dict(DECODER, head_dim=16, num_experts=E, **ROUTED)),
    "olmoe": ("OlmoeConfig", dict(DECODER, num_experts=E, **ROUTED)),
    "deepseek_v3": ("DeepseekV3Config", dict(DECODER, num_key_value_heads=2, n_routed_experts=E, n_shared_experts=1, first_k_dense_replace=1,
                                             n_group=1, topk_group=1, kv_lora_rank=16, q_lora_rank=None, head_dim=8,
                                             qk_rope_head_dim=8, qk_nope_head_dim=8, v_head_dim=16, **ROUTED)),
    "gpt_oss": ("GptOssConfig", dict(DECODER, head_dim=16, num_local_experts=E, num_experts_per_tok=2,
                                     intermediate_size=16, swiglu_limit=1.5)),
}
# 24 sentences of 2 to ~20 tokens, alternating non-toxic / toxic: an expert (of 8, top-2) misses some of them.
TEXTS_LABELS = [(text[: 5 + 3 * i].strip(), i % 2) for i, text in enumerate(CORPUS[:24])]
MIN = 3  # --min-expert-sentences in these tests


def moe_model(family: str, vocab_size: int):
    config_name, kwargs = MOE[family]
    model = tiny_model(config_for(config_name, kwargs, vocab_size))
    with torch.no_grad():  # random expert biases, so that folding them is tested (gpt-oss has biases)
        for name, p in model.named_parameters():
            if name.endswith("_bias") and ".experts." in name:
                p.copy_(torch.randn(p.shape, generator=torch.Generator().manual_seed(3)) * 0.2)
    return model


def slow_expert_outputs(experts, hidden, top_k_index):
    """Per expert e: (routed token indices, projection outputs, down outputs), by plain matmuls."""
    result = {}
    for e in range(experts.num_experts):
        tokens = [t for t in range(hidden.shape[0]) if e in top_k_index[t].tolist()]
        if not tokens:
            continue
        x = hidden[tokens].double()
        w_gu, w_down = experts.gate_up_proj[e].double(), experts.down_proj[e].double()
        if experts.is_transposed:  # gpt-oss: (H, 2I) with interleaved gate / up columns, biases, a clamp
            gate_up = x @ w_gu + experts.gate_up_proj_bias[e].double()
            gate = gate_up[:, 0::2].clamp(max=experts.limit)
            up = gate_up[:, 1::2].clamp(-experts.limit, experts.limit)
            act = (up + 1) * gate * torch.sigmoid(gate * experts.alpha)
            down = act @ w_down + experts.down_proj_bias[e].double()
        else:  # (2I, H): gate rows first, then up rows
            gate_up = x @ w_gu.T
            half = gate_up.shape[1] // 2
            act = experts.act_fn(gate_up[:, :half]) * gate_up[:, half:]
            down = act @ w_down.T
        result[e] = (tokens, gate_up, down)
    return result


POOL = {"max": lambda x: x.amax(0), "mean": lambda x: x.mean(0), "last": lambda x: x[-1]}


def slow_responses(model, tokenizer, texts, sites, pooling="max"):
    """Each sentence alone: every experts module's inputs captured, the reference computed, max over tokens;
    a dense site's output captured whole. Also checks the reference sums to what the experts module returns."""
    torch.set_grad_enabled(False)
    rows, seen, outs = [], {}, {}
    experts_modules = {id(s.experts): s.experts for s in sites.values() if isinstance(s, ExpertUnits)}
    for text in texts:
        seen.clear()
        outs.clear()
        handles = [m.register_forward_hook(lambda m, args, out, k=k: seen.__setitem__(k, (args, out)))
                   for k, m in experts_modules.items()]
        handles += [s.register_forward_hook(lambda _m, _i, out, n=n: outs.__setitem__(n, out.clone()))
                    for n, s in sites.items() if not isinstance(s, ExpertUnits)]
        model(input_ids=tokenizer(text, return_tensors="pt")["input_ids"], use_cache=False)
        for h in handles:
            h.remove()
        row = []
        for name, site in sites.items():
            if not isinstance(site, ExpertUnits):
                row.append(POOL[pooling](outs[name].reshape(-1, output_width(site))).double())
                continue
            (hidden, index, weights), out = seen[id(site.experts)]
            per_expert = slow_expert_outputs(site.experts, hidden, index)
            total = torch.zeros_like(out, dtype=torch.float64)
            block = torch.full(site.shape, math.nan, dtype=torch.float64)
            for e, (tokens, gate_up, down) in per_expert.items():
                k = [index[t].tolist().index(e) for t in tokens]
                total[tokens] += down * weights[tokens, k].double().unsqueeze(1)
                if pooling != "last" or tokens[-1] == hidden.shape[0] - 1:  # "last": only if the last token came
                    block[e] = POOL[pooling](gate_up if site.param != "down_proj" else down)
            torch.testing.assert_close(total, out.double(), atol=1e-5, rtol=1e-4)  # the reference is the model
            row.append(block.flatten())
        rows.append(torch.cat(row))
    torch.set_grad_enabled(True)
    return torch.stack(rows)


def test_moe_presets_are_exactly_the_tested_families():
    assert set(MOE_PRESETS) == set(MOE)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from conftest import build_tokenizer

    return build_tokenizer(tmp_path_factory.mktemp("moe-tokenizer"))


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("moe-data") / "labelled.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(TEXTS_LABELS)
    return path


@pytest.mark.parametrize("family", sorted(MOE))
def test_moe_responses_and_auroc_equal_the_slow_reference(family, tokenizer):
    model = moe_model(family, len(tokenizer))
    assert model.config.model_type == family
    sites = resolve_modules(model)
    kinds = {type(s).__name__ for s in sites.values()}
    assert "ExpertUnits" in kinds and (family not in ("qwen2_moe", "deepseek_v3") or "Linear" in kinds)
    texts, labels = zip(*TEXTS_LABELS)
    reference = slow_responses(model, tokenizer, texts, sites)
    before = model.get_experts_implementation()
    batched = collect_responses(model, tokenizer, texts, sites, "max", batch_size=5, progress=False)
    assert model.get_experts_implementation() == before  # the dispatch is given back
    torch.testing.assert_close(batched.double(), reference, atol=1e-4, rtol=1e-4, equal_nan=True)
    assert torch.isnan(reference).any() and not torch.isnan(reference).all(dim=0).all()

    iv = learn_from_model(model, tokenizer, list(TEXTS_LABELS), batch_size=5, progress=False, min_expert_sentences=MIN)
    assert list(iv.auroc) == list(sites)
    assert all(tuple(iv.auroc[n].shape) == unit_shape(s) for n, s in sites.items())
    learned = torch.cat([a.flatten() for a in iv.auroc.values()])
    labels = torch.tensor(labels)
    for j in range(reference.shape[1]):
        seen = ~torch.isnan(reference[:, j])
        y, x = labels[seen].tolist(), reference[seen, j]
        if min(sum(y), len(y) - sum(y)) < MIN:
            assert math.isnan(learned[j]), j  # too few sentences of a class reached this expert
            continue
        low, high = auroc_bounds(y, x, tie=1e-4)
        assert low - 1e-9 <= roc_auc_score(y, x) <= high + 1e-9
        assert low - 1e-6 <= learned[j].item() <= high + 1e-6, (j, learned[j].item(), low, high)
    alphas = torch.cat([a.flatten() for a in iv.alphas.values()])
    assert torch.all(alphas[torch.isnan(learned)] == 1) and (alphas != 1).any()


@pytest.mark.parametrize("family, pooling", [("qwen2_moe", "mean"), ("gpt_oss", "last")])
def test_moe_other_poolings_equal_the_slow_reference(family, pooling, tokenizer):
    model = moe_model(family, len(tokenizer))
    sites = resolve_modules(model)
    texts = [t for t, _ in TEXTS_LABELS]
    reference = slow_responses(model, tokenizer, texts, sites, pooling)
    batched = collect_responses(model, tokenizer, texts, sites, pooling, batch_size=5, progress=False)
    torch.testing.assert_close(batched.double(), reference, atol=1e-4, rtol=1e-4, equal_nan=True)
    assert torch.isnan(reference).any()


@pytest.mark.parametrize("family", sorted(MOE))
def test_moe_learn_hook_fold_export(family, tokenizer, data_csv, tmp_path):
    model = moe_model(family, len(tokenizer))
    src = tmp_path / "model"
    model.save_pretrained(src)
    tokenizer.save_pretrained(src)
    # Qwen3-MoE's dense patterns (mlp_only_layers) match nothing in this config, so they are dropped.
    assert preset_for(model) == (PRESETS[family][:2] if family == "qwen3_moe" else PRESETS[family])

    state = tmp_path / "aura.safetensors"
    assert main(["learn", "--model", str(src), "--data", str(data_csv), "--out", str(state), "--device", "cpu",
                 "--no-progress", "--min-expert-sentences", str(MIN), "--batch-size", "7"]) == 0
    iv = Intervention.load(state, model=model)
    assert iv.meta["module_patterns"] == preset_for(model) and iv.meta["min_expert_sentences"] == MIN
    assert any(a.ndim == 2 for a in iv.auroc.values())
    changed = {n for n, a in iv.alphas.items() if a.ndim == 2 and (a != 1).any()}
    assert changed, "AurA dampened no expert unit: the test would be vacuous"

    ids = torch.randint(1, len(tokenizer), (2, 12), generator=torch.Generator().manual_seed(1))
    bare = logits(model, ids)
    before = model.get_experts_implementation()
    with applied(model, iv):
        assert model.get_experts_implementation() != before
        with_hooks = logits(model, ids)
    assert model.get_experts_implementation() == before
    torch.testing.assert_close(logits(model, ids), bare)  # removing the hooks restores the model
    assert (with_hooks - bare).abs().max() > 1e-2 * bare.abs().max(), "dampening did not move the logits"
    # Only the experts dampened: still a change, and hooks = fold for it alone.
    experts_only = Intervention(iv.config, iv.auroc, {n: a if n in changed else torch.ones_like(a)
                                                      for n, a in iv.alphas.items()}, iv.meta)
    with applied(model, experts_only):
        experts_hooked = logits(model, ids)
    assert (experts_hooked - bare).abs().max() > 1e-3 * bare.abs().max()
    torch.testing.assert_close(logits(fold(copy.deepcopy(model), experts_only), ids), experts_hooked, atol=1e-5, rtol=1e-4)

    in_memory = apply_folded(model, iv)
    assert in_memory.how == "folded in memory" and model.get_experts_implementation() == before
    torch.testing.assert_close(logits(model, ids), with_hooks, atol=1e-5, rtol=1e-4)
    in_memory.remove()
    assert torch.equal(logits(model, ids), bare)  # the original weights back, bit for bit
    torch.testing.assert_close(logits(fold(copy.deepcopy(model), iv), ids), with_hooks, atol=1e-5, rtol=1e-4)

    out = tmp_path / "exported"
    assert main(["export", "--model", str(src), "--intervention", str(state), "--out", str(out)]) == 0
    reloaded = AutoModelForCausalLM.from_pretrained(out).eval()
    assert reloaded.config.model_type == family
    torch.testing.assert_close(logits(reloaded, ids), with_hooks, atol=1e-5, rtol=1e-4)


def test_unreached_experts_keep_alpha_one_and_are_counted(tokenizer, tmp_path, capsys):
    """A minimum above what any expert reaches leaves every expert unit unscored: NaN AUROC, alpha 1, under
    aura and the top-k methods alike, and `aura-eval info` counts them."""
    model = moe_model("qwen2_moe", len(tokenizer))
    iv = learn_from_model(model, tokenizer, list(TEXTS_LABELS), batch_size=8, progress=False, min_expert_sentences=13)
    experts = {n: a for n, a in iv.auroc.items() if a.ndim == 2}
    assert experts and all(torch.isnan(a).all() for a in experts.values())
    assert all(torch.all(iv.alphas[n] == 1) for n in experts)
    summary = iv.summary()
    assert summary["n_routed_experts_unscored"] == E and summary["n_units_unscored"] == sum(a.numel() for a in experts.values())
    assert math.isfinite(summary["auroc_max"])
    from aura_eval.core.config import InterventionConfig

    dense_units = sum(a.numel() for a in iv.auroc.values() if a.ndim == 1)
    damp = iv.with_config(InterventionConfig("damp", dense_units, 0.5))
    assert all(torch.all(damp.alphas[n] == 1) for n in experts) and sum(int((a != 1).sum()) for a in damp.alphas.values()) == dense_units
    with pytest.raises(ValueError, match=f"in 1..{dense_units}"):
        iv.with_config(InterventionConfig("damp", dense_units + 1, 0.5))
    state = tmp_path / "aura.safetensors"
    iv.save(state)
    again = Intervention.load(state, model=model)
    assert all(torch.equal(again.auroc[n], a, ) or torch.isnan(a).all() for n, a in iv.auroc.items())
    assert main(["info", str(state)]) == 0
    assert f"n_routed_experts_unscored: {E}" in capsys.readouterr().out


def test_moe_state_file_refuses_a_wrong_expert_count(tokenizer):
    model = moe_model("mixtral", len(tokenizer))
    sites = resolve_modules(model)
    iv = Intervention.from_auroc({n: torch.full(unit_shape(s), 0.7, dtype=torch.float64) for n, s in sites.items()})
    name = next(iter(sites))
    wrong = Intervention.from_auroc({**iv.auroc, name: iv.auroc[name].reshape(-1, 2 * iv.auroc[name].shape[1])})
    with pytest.raises(ValueError, match=f"module {name}"):
        wrong.check_fits(model)


def test_experts_module_itself_is_refused_with_its_projections(tokenizer):
    model = moe_model("mixtral", len(tokenizer))
    with pytest.raises(ValueError, match=r"experts module model.layers.0.mlp.experts itself.*gate_up_proj"):
        resolve_modules(model, "model.layers.*.mlp.experts")


def test_transformers_still_has_the_experts_seam():
    """What core/experts.py relies on: ExpertsInterface.register and the models' set / get of the implementation."""
    from transformers.integrations.moe import ExpertsInterface

    assert callable(ExpertsInterface.register)
    assert hasattr(transformers.PreTrainedModel, "set_experts_implementation")
    assert hasattr(transformers.PreTrainedModel, "get_experts_implementation")


@pytest.mark.parametrize("family", sorted(MOE))
def test_aura_hf_on_moe_folded_equals_hooked(family, tokenizer, data_csv, tmp_path):
    """lm-eval's view: `aura-hf` folds the experts in memory by default, and its log-likelihoods equal the hooked
    model's (fold=false) and differ from the bare model's."""
    from lm_eval.api.instance import Instance

    from aura_eval.harness.model import AuraLM

    model = moe_model(family, len(tokenizer))
    src = tmp_path / "model"
    model.save_pretrained(src)
    tokenizer.save_pretrained(src)
    state = tmp_path / "aura.safetensors"
    assert main(["learn", "--model", str(src), "--data", str(data_csv), "--out", str(state), "--device", "cpu",
                 "--no-progress", "--min-expert-sentences", str(MIN)]) == 0
    requests = [Instance("loglikelihood", {}, (t[:12], t[12:]), i) for i, (t, _) in enumerate(TEXTS_LABELS[12:18])]

    def scores(**kwargs):
        lm = AuraLM(pretrained=str(src), device="cpu", batch_size=3, **kwargs)
        return [ll for ll, _ in lm.loglikelihood(requests)], lm

    folded, lm = scores(intervention=str(state))
    assert lm._applied.how == "folded in memory"
    hooked, _ = scores(intervention=str(state), fold=False)
    bare, _ = scores(intervention="none")
    assert folded == pytest.approx(hooked, abs=1e-4)
    assert max(abs(a - b) for a, b in zip(folded, bare)) > 1e-3


@pytest.mark.parametrize("chunk_units", [1, 5, 8192])
def test_auroc_with_missing_responses_matches_sklearn_on_the_rest(chunk_units):
    from aura_eval.core.auroc import auroc

    g = torch.Generator().manual_seed(0)
    n, units = 60, 12
    x = torch.randint(0, 5, (n, units), generator=g).float()  # ties
    x[:, :4] = torch.randn(n, 4, generator=g)
    y = torch.randint(0, 2, (n,), generator=g)
    x[torch.rand(n, units, generator=g) < 0.4] = float("nan")  # no response
    x[:, 11] = float("nan")
    x[y == 1, 10] = float("nan")
    x[(y == 1).nonzero()[:3].flatten(), 10] = 1.0  # 3 toxic sentences left: below a minimum of 4
    ours = auroc(x, y, chunk_units=chunk_units, missing=True, min_per_class=4)
    for j in range(10):
        keep = ~torch.isnan(x[:, j])
        assert ours[j].item() == pytest.approx(roc_auc_score(y[keep].numpy(), x[keep, j].numpy()), abs=1e-9)
    assert math.isnan(ours[10]) and math.isnan(ours[11])
    assert not math.isnan(auroc(x[:, 10:11], y, missing=True, min_per_class=3)[0])
    with pytest.raises(ValueError, match="NaN"):
        auroc(x, y)  # without `missing`, NaN is still an error
    x[0, 0] = float("inf")
    with pytest.raises(ValueError, match="inf"):
        auroc(x, y, missing=True)


def test_moe_without_a_preset_hooks_its_experts_and_shared_expert(tokenizer, monkeypatch, caplog):
    """A mixture-of-experts model_type without a preset: its fused experts and the dense MLP Linear layers
    beside them (the router's one-column gate left out), logged once."""
    import logging

    config_name, kwargs = MOE["qwen2_moe"]
    model = tiny_model(config_for(config_name, dict(kwargs, mlp_only_layers=[]), len(tokenizer)))
    for table in (PRESETS, MOE_PRESETS):
        monkeypatch.delitem(table, "qwen2_moe")
    monkeypatch.setattr("aura_eval.core.modules._announced", set())
    with caplog.at_level(logging.WARNING, logger="aura_eval.core.modules"):
        patterns = preset_for(model)
    assert patterns == ["model.layers.*.mlp.experts.gate_up_proj", "model.layers.*.mlp.experts.down_proj",
                        "model.layers.*.mlp.shared_expert.gate_proj", "model.layers.*.mlp.shared_expert.up_proj",
                        "model.layers.*.mlp.shared_expert.down_proj"]
    assert "no preset for mixture-of-experts model_type=qwen2_moe" in caplog.text
    assert len(resolve_modules(model, patterns)) == 2 * len(patterns)

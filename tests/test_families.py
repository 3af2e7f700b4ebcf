"""Every family with a module preset, on a tiny random model built from its transformers config class:
the preset resolves, `aura-eval learn` runs without --modules, hooked logits equal folded logits, and the
checkpoint `aura-eval export` writes reloads with those logits. Then the structural fallback for a
model_type without a preset, and the refusal of mixture-of-experts models whose experts are not fused
(the fused MoE families: tests/test_moe.py)."""

from __future__ import annotations

import copy
import csv
import logging

import pytest
import torch
import transformers
from conftest import CORPUS
from sklearn.metrics import roc_auc_score
from torch import nn
from transformers import AutoModelForCausalLM

from aura_eval.cli import main
from aura_eval.core.hooks import apply, fold
from aura_eval.core.intervention import Intervention
from aura_eval.core.modules import MOE_PRESETS, PRESETS, is_linear_like, output_width, preset_for, resolve_modules
from aura_eval.core.responses import collect_responses

# Small enough for seconds per family; initializer_range larger than the default so that dampened units
# visibly move the logits (a hooked model equal to the bare one would make the comparisons vacuous).
DECODER = dict(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=2,
               num_key_value_heads=1, max_position_embeddings=128, initializer_range=0.2)
LLAMA_LIKE = {"llama": "LlamaConfig", "mistral": "MistralConfig", "qwen2": "Qwen2Config", "qwen3": "Qwen3Config",
              "gemma": "GemmaConfig", "gemma2": "Gemma2Config", "gemma3_text": "Gemma3TextConfig", "phi3": "Phi3Config",
              "olmo": "OlmoConfig", "olmo2": "Olmo2Config", "smollm3": "SmolLM3Config", "granite": "GraniteConfig",
              "starcoder2": "Starcoder2Config", "cohere": "CohereConfig"}
FAMILIES: dict[str, tuple[str, dict]] = {
    "gpt2": ("GPT2Config", dict(n_embd=32, n_layer=2, n_head=2, n_positions=128, initializer_range=0.2)),
    "gptj": ("GPTJConfig", dict(n_embd=32, n_layer=2, n_head=2, n_positions=128, rotary_dim=8, initializer_range=0.2)),
    "gpt_neox": ("GPTNeoXConfig", dict(DECODER, num_key_value_heads=2)),
    "bloom": ("BloomConfig", dict(hidden_size=32, n_layer=2, n_head=2, initializer_range=0.2)),
    "opt": ("OPTConfig", dict(hidden_size=32, ffn_dim=48, num_hidden_layers=2, num_attention_heads=2,
                              word_embed_proj_dim=32, max_position_embeddings=128, init_std=0.2)),
    "falcon": ("FalconConfig", dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, initializer_range=0.2)),
    "mpt": ("MptConfig", dict(d_model=32, n_layers=2, n_heads=2, max_seq_len=128, initializer_range=0.2)),
    "phi": ("PhiConfig", dict(DECODER, num_key_value_heads=2)),
    "stablelm": ("StableLmConfig", dict(DECODER, num_key_value_heads=2)),
    **{mt: (name, dict(DECODER, head_dim=16)) for mt, name in LLAMA_LIKE.items()},
    # Gemma 3 4B+ (multimodal): a tiny vision tower next to the language model.
    "gemma3": ("Gemma3Config", dict(
        text_config=dict(DECODER, head_dim=16), initializer_range=0.2, mm_tokens_per_image=4,
        boi_token_index=1, eoi_token_index=2, image_token_index=3,
        vision_config=dict(hidden_size=32, intermediate_size=48, num_hidden_layers=1, num_attention_heads=2,
                           image_size=28, patch_size=14))),
}
# Sentences of different lengths (so batches are padded), CORPUS's alternating non-toxic / toxic lines.
TEXTS_LABELS = [(text[: 20 + 7 * i].strip(), i % 2) for i, text in enumerate(CORPUS[:12])]


def config_for(config_name: str, kwargs: dict, vocab_size: int):
    # getattr without a default: a config class missing from this transformers fails the test loudly.
    cls = getattr(transformers, config_name)
    tokens = dict(vocab_size=vocab_size, pad_token_id=0, bos_token_id=0, eos_token_id=0)
    if "text_config" in kwargs:  # a multimodal config: the vocabulary is its language model's
        return cls(**{**kwargs, "text_config": {**kwargs["text_config"], **tokens}})
    return cls(**tokens, **kwargs)


def tiny_model(config) -> nn.Module:
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_config(config).eval()


def logits(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=ids, use_cache=False).logits.float()


def slow_max_responses(model: nn.Module, tokenizer, texts, modules: dict[str, nn.Module]) -> torch.Tensor:
    """Each sentence alone (no padding), every hooked output captured whole, then its max over tokens."""
    rows, outputs = [], {}
    for text in texts:
        outputs.clear()
        # clone: Falcon adds the attention output into its MLP output in place after the hook
        handles = [m.register_forward_hook(lambda _m, _i, out, name=name: outputs.__setitem__(name, out.clone()))
                   for name, m in modules.items()]
        with torch.no_grad():
            model(input_ids=tokenizer(text, return_tensors="pt")["input_ids"], use_cache=False)
        for h in handles:
            h.remove()
        rows.append(torch.cat([outputs[n].reshape(-1, output_width(m)).amax(0) for n, m in modules.items()]))
    return torch.stack(rows).float()


def auroc_bounds(labels, values: torch.Tensor, tie: float) -> tuple[float, float]:
    """The AUROC over every (toxic, non-toxic) pair, a pair closer than `tie` counted as lost, then as won."""
    toxic = [float(v) for v, y in zip(values, labels) if y == 1]
    clean = [float(v) for v, y in zip(values, labels) if y == 0]
    pairs = [(t, c) for t in toxic for c in clean]
    sure = sum(1.0 for t, c in pairs if t - c > tie)
    near = sum(1.0 for t, c in pairs if abs(t - c) <= tie)
    return sure / len(pairs), (sure + near) / len(pairs)


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from conftest import build_tokenizer

    return build_tokenizer(tmp_path_factory.mktemp("family-tokenizer"))


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("family-data") / "labelled.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(TEXTS_LABELS)
    return path


def test_presets_are_exactly_the_tested_families():
    assert set(PRESETS) == set(FAMILIES) | set(MOE_PRESETS)  # the MoE families: tests/test_moe.py


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_learn_hook_fold_export(family, tokenizer, data_csv, tmp_path):
    config_name, kwargs = FAMILIES[family]
    config = config_for(config_name, kwargs, len(tokenizer))
    assert config.model_type == family
    model = tiny_model(config)
    src = tmp_path / "model"
    model.save_pretrained(src)
    tokenizer.save_pretrained(src)

    # The preset resolves: every pattern matches one Linear-like layer in each block.
    hooked = resolve_modules(model)
    assert preset_for(model) == PRESETS[family]
    n_blocks = config.get_text_config().num_hidden_layers
    assert len(hooked) == n_blocks * len(PRESETS[family]), list(hooked)
    assert all(is_linear_like(m) for m in hooked.values())

    # `aura-eval learn` without --modules: one AUROC per unit of every hooked module.
    state = tmp_path / "aura.safetensors"
    assert main(["learn", "--model", str(src), "--data", str(data_csv), "--out", str(state), "--device", "cpu",
                 "--no-progress"]) == 0
    iv = Intervention.load(state, model=model)
    assert iv.meta["module_patterns"] == PRESETS[family]
    assert list(iv.auroc) == list(hooked)
    assert all(iv.auroc[n].numel() == output_width(m) for n, m in hooked.items())
    assert all(torch.isfinite(a).all() and ((a >= 0) & (a <= 1)).all() for a in iv.auroc.values())
    assert sum(int((a != 1).sum()) for a in iv.alphas.values()) > 0, "AurA dampened no unit: the test would be vacuous"
    # ... and they are the AUROCs of a slow reference: one sentence at a time, max over its tokens.
    texts, labels = zip(*TEXTS_LABELS)
    reference = slow_max_responses(model, tokenizer, texts, hooked)
    batched = collect_responses(model, tokenizer, texts, hooked, "max", batch_size=5, progress=False)
    torch.testing.assert_close(batched, reference, atol=1e-4, rtol=1e-4)  # padded batches read the same values
    # Two sentences that share their first tokens can tie exactly when read alone and differ in the last
    # bits when padded, so a near-tie (|a - b| <= 1e-4) may fall either way; every other pair must agree.
    learned = torch.cat(list(iv.auroc.values())).double()
    for j in range(reference.shape[1]):
        low, high = auroc_bounds(labels, reference[:, j], tie=1e-4)
        assert low - 1e-9 <= roc_auc_score(labels, reference[:, j]) <= high + 1e-9
        assert low - 1e-6 <= learned[j].item() <= high + 1e-6, (j, learned[j].item(), low, high)

    ids = torch.randint(1, len(tokenizer), (2, 12), generator=torch.Generator().manual_seed(1))
    bare = logits(model, ids)
    handle = apply(model, iv)
    with_hooks = logits(model, ids)
    handle.remove()
    torch.testing.assert_close(logits(model, ids), bare)  # removing the hooks restores the model
    assert (with_hooks - bare).abs().max() > 1e-2 * bare.abs().max(), "dampening did not move the logits"

    folded = fold(copy.deepcopy(model), iv)
    torch.testing.assert_close(logits(folded, ids), with_hooks, atol=1e-5, rtol=1e-4)

    # `aura-eval export`: the folded checkpoint reloads with the hooked model's logits.
    out = tmp_path / "exported"
    assert main(["export", "--model", str(src), "--intervention", str(state), "--out", str(out)]) == 0
    reloaded = AutoModelForCausalLM.from_pretrained(out).eval()
    assert reloaded.config.model_type == family
    torch.testing.assert_close(logits(reloaded, ids), with_hooks, atol=1e-5, rtol=1e-4)


# -- no preset: the structural fallback ------------------------------------------------------------
@pytest.mark.parametrize("family", sorted(set(FAMILIES) - {"gemma3"}))
def test_structure_finds_what_the_preset_names(family, monkeypatch, caplog):
    """With its preset removed, each family's MLP layers are found by structure, and they are the
    preset's (multimodal Gemma 3 has two lists of blocks: ambiguous, see test_real_ambiguous_structures)."""
    config_name, kwargs = FAMILIES[family]
    model = tiny_model(config_for(config_name, kwargs, 64))
    monkeypatch.delitem(PRESETS, family)
    monkeypatch.setattr("aura_eval.core.modules._announced", set())  # logged once per process: start afresh
    with caplog.at_level(logging.WARNING, logger="aura_eval.core.modules"):
        patterns = preset_for(model)
    monkeypatch.undo()
    assert patterns == PRESETS[family]
    assert f"no preset for model_type={family}; hooking by structure:" in caplog.text
    assert list(resolve_modules(model, patterns)) == list(resolve_modules(model))


def test_structure_message_names_the_layers(monkeypatch, caplog):
    config_name, kwargs = FAMILIES["gptj"]
    model = tiny_model(config_for(config_name, kwargs, 64))
    monkeypatch.delitem(PRESETS, "gptj")
    monkeypatch.setattr("aura_eval.core.modules._announced", set())
    with caplog.at_level(logging.WARNING, logger="aura_eval.core.modules"):
        resolve_modules(model)
        resolve_modules(model)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["no preset for model_type=gptj; hooking by structure: transformer.h.*.mlp.{fc_in,fc_out}"]


class Block(nn.Module):
    def __init__(self, mlp_names=("mlp",), own=()):
        super().__init__()
        self.attn = nn.Sequential(nn.Linear(8, 24), nn.Linear(8, 8))
        for name in mlp_names:
            setattr(self, name, nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8)))
        for name, (d_in, d_out) in own:  # Linear layers of the block itself, OPT-style
            setattr(self, name, nn.Linear(d_in, d_out))


class Custom(nn.Module):
    """A model of a new architecture: a config with an unknown model_type and blocks under `stack`."""

    def __init__(self, blocks):
        super().__init__()
        self.config = transformers.PretrainedConfig(model_type="brand_new", num_hidden_layers=len(blocks))
        self.stack = nn.ModuleList(blocks)


def test_structure_on_a_new_architecture():
    model = Custom([Block(), Block(), Block()])
    assert preset_for(model) == ["stack.*.mlp.0", "stack.*.mlp.2"]
    assert len(resolve_modules(model)) == 6
    norm_named_ffn = Custom([Block(), Block()])
    for block in norm_named_ffn.stack:
        block.ffn_norm = nn.LayerNorm(8)  # named like an MLP, but holds no Linear layer: not a candidate
    assert preset_for(norm_named_ffn) == ["stack.*.mlp.0", "stack.*.mlp.2"]
    up_down = [("fc1", (8, 32)), ("fc2", (32, 8))]
    opt_like = Custom([Block((), up_down), Block((), up_down)])
    assert preset_for(opt_like) == ["stack.*.fc1", "stack.*.fc2"]


@pytest.mark.parametrize("model, why", [
    (Custom([Block(("mlp", "ffn")), Block(("mlp", "ffn"))]), "2 children named like mlp"),
    (Custom([Block(()), Block(())]), "0 children named like mlp"),
    (Custom([Block((), [("gate", (8, 8)), ("proj", (8, 8))])] * 2), "not an up / down pair of its own"),
    (Custom([Block((), [("fc1", (8, 32)), ("fc2", (32, 8)), ("fc3", (8, 8))])] * 2), "not an up / down pair"),
    (Custom([Block(), Block(("ffn",))]), "hold different MLP layers"),
])
def test_ambiguous_structure_is_one_line_error(model, why):
    with pytest.raises(ValueError, match=why) as err:
        preset_for(model)
    assert "--modules" in str(err.value) and "\n" not in str(err.value)


def test_two_block_lists_are_ambiguous():
    model = Custom([Block(), Block()])
    model.other = nn.ModuleList([Block(), Block()])
    with pytest.raises(ValueError, match="found 2 lists of repeated blocks .*--modules"):
        preset_for(model)


def test_real_ambiguous_structures(monkeypatch):
    """Without its preset, multimodal Gemma 3 (two lists of blocks) is an error that suggests --modules,
    not a guess; so is Mamba, whose blocks have no MLP at all."""
    config_name, kwargs = FAMILIES["gemma3"]
    model = tiny_model(config_for(config_name, kwargs, 64))
    monkeypatch.delitem(PRESETS, "gemma3")
    with pytest.raises(ValueError, match=r"found 2 lists of repeated blocks \(model.vision_tower.encoder.layers \(1\), "
                                         r"model.language_model.layers \(2\)\).*--modules"):
        preset_for(model)
    mamba = tiny_model(transformers.MambaConfig(vocab_size=64, hidden_size=16, state_size=4, num_hidden_layers=2))
    with pytest.raises(ValueError, match=r"block backbone.layers.0 has 0 children named like mlp.*--modules"):
        preset_for(mamba)


# -- mixture of experts: tests/test_moe.py; here the MoE families' dense parts with --modules -------
def test_moe_dense_parts_with_modules(tokenizer, data_csv, tmp_path):
    """--modules naming only Qwen2-MoE's dense shared expert learns, hooks, folds and exports like a dense model."""
    from test_moe import moe_model

    model = moe_model("qwen2_moe", len(tokenizer))
    src = tmp_path / "model"
    model.save_pretrained(src)
    tokenizer.save_pretrained(src)
    state = tmp_path / "aura.safetensors"
    dense = "model.layers.*.mlp.shared_expert.gate_proj|model.layers.*.mlp.shared_expert.down_proj"
    assert main(["learn", "--model", str(src), "--data", str(data_csv), "--out", str(state), "--device", "cpu",
                 "--no-progress", "--modules", dense]) == 0
    iv = Intervention.load(state, model=model)
    assert list(iv.auroc) == ["model.layers.1.mlp.shared_expert.gate_proj", "model.layers.1.mlp.shared_expert.down_proj"]
    ids = torch.randint(1, len(tokenizer), (2, 12), generator=torch.Generator().manual_seed(1))
    handle = apply(model, iv)
    with_hooks = logits(model, ids)
    handle.remove()
    torch.testing.assert_close(logits(fold(copy.deepcopy(model), iv), ids), with_hooks, atol=1e-5, rtol=1e-4)


def test_a_module_that_never_runs_is_refused(tokenizer):
    """Bloom's slow_but_exact path multiplies by dense_4h_to_h.weight without calling the module: its
    hook never fires, and learning must say so rather than score uninitialised columns."""
    config_name, kwargs = FAMILIES["bloom"]
    model = tiny_model(config_for(config_name, dict(kwargs, pretraining_tp=2, slow_but_exact=True), len(tokenizer)))
    with pytest.raises(ValueError, match=r"1 hooked module\(s\) never ran their forward, e.g. transformer.h.0.mlp.dense_4h_to_h"):
        collect_responses(model, tokenizer, ["Have a nice day."], resolve_modules(model, "transformer.h.0.mlp.dense_*"),
                          progress=False)


def test_moe_with_per_expert_linear_layers_is_refused_too():
    """An older-style MoE (a ModuleList `experts` of small MLPs, e.g. remote code) has Linear layers
    the structural fallback could hook; it is refused all the same, naming its dense Linear layers."""
    block = Block()
    block.mlp.experts = nn.ModuleList([nn.Linear(8, 16) for _ in range(4)])
    block.mlp.shared = nn.Linear(8, 16)
    model = Custom([block, copy.deepcopy(block)])
    with pytest.raises(ValueError, match=r"'brand_new' is a mixture-of-experts model whose experts \(stack.\*.mlp.experts\)"
                                         r".*--modules 'stack.\*.mlp.0 \| stack.\*.mlp.2 \| stack.\*.mlp.shared'"):
        preset_for(model)

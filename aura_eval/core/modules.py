"""Which modules AurA reads and dampens: glob patterns, per-architecture presets, a structural fallback
for architectures without one, and their resolution.

AurA works on the units of the MLP blocks. A "unit" is one output feature of a hooked module (one
column of its output), so the module's output width is the number of units it holds. For a fused
projection such as Phi-3's `gate_up_proj` a unit is one of its output columns: a gate unit (first half)
or an up unit (second half), each scored and dampened on its own. In a mixture-of-experts model the
fused experts' projections are sites too (`...mlp.experts.gate_up_proj`, see core/experts.py): their
units are (expert, output column) pairs. A "site" is either kind; `site_weight` says where its units sit.
"""

from __future__ import annotations

import fnmatch
import logging
import re

import torch
from torch import nn

from aura_eval.core.experts import ExpertUnits, expert_sites, is_fused_experts

log = logging.getLogger(__name__)

# Presets keyed by `config.model_type`, each checked on a tiny random model in tests/test_families.py.
# The paper hooks GPT-2's `c_fc` and `c_proj` and the gate/up/down projections of Llama-like models;
# the others follow the same choice: every Linear layer of the MLP block.
_LLAMA_MLP = ["model.layers.*.mlp.gate_proj", "model.layers.*.mlp.up_proj", "model.layers.*.mlp.down_proj"]
_H_TO_4H = ["transformer.h.*.mlp.dense_h_to_4h", "transformer.h.*.mlp.dense_4h_to_h"]
PRESETS: dict[str, list[str]] = {
    "gpt2": ["transformer.h.*.mlp.c_fc", "transformer.h.*.mlp.c_proj"],
    "gptj": ["transformer.h.*.mlp.fc_in", "transformer.h.*.mlp.fc_out"],
    "gpt_neox": ["gpt_neox.layers.*.mlp.dense_h_to_4h", "gpt_neox.layers.*.mlp.dense_4h_to_h"],
    "bloom": _H_TO_4H,
    "falcon": _H_TO_4H,
    "opt": ["model.decoder.layers.*.fc1", "model.decoder.layers.*.fc2"],
    "mpt": ["transformer.blocks.*.ffn.up_proj", "transformer.blocks.*.ffn.down_proj"],
    "phi": ["model.layers.*.mlp.fc1", "model.layers.*.mlp.fc2"],
    "phi3": ["model.layers.*.mlp.gate_up_proj", "model.layers.*.mlp.down_proj"],  # gate_up_proj: fused
    "starcoder2": ["model.layers.*.mlp.c_fc", "model.layers.*.mlp.c_proj"],
}
# Mixture-of-experts families: the fused experts' projections, plus the dense MLPs some of them also have
# (shared experts, and dense layers: DeepSeek's first_k_dense_replace, Qwen's mlp_only_layers). A dense
# pattern that matches nothing in a given config is dropped (`preset_for`); the experts patterns must match.
_EXPERTS = ["model.layers.*.mlp.experts.gate_up_proj", "model.layers.*.mlp.experts.down_proj"]
_SHARED = {"qwen2_moe": [p.replace("mlp.", "mlp.shared_expert.") for p in _LLAMA_MLP],
           "deepseek_v3": [p.replace("mlp.", "mlp.shared_experts.") for p in _LLAMA_MLP]}
MOE_PRESETS = {"mixtral": _EXPERTS, "olmoe": _EXPERTS, "gpt_oss": _EXPERTS, "qwen3_moe": _EXPERTS + _LLAMA_MLP,
               "qwen2_moe": _EXPERTS + _SHARED["qwen2_moe"] + _LLAMA_MLP,
               "deepseek_v3": _EXPERTS + _SHARED["deepseek_v3"] + _LLAMA_MLP}
PRESETS.update(MOE_PRESETS)
# Gemma 3 from 4B up is multimodal (Gemma3ForConditionalGeneration): AurA hooks its language model only.
PRESETS["gemma3"] = [p.replace("model.layers", "model.language_model.layers") for p in _LLAMA_MLP]
for _llama_like in ("llama", "mistral", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "olmo", "olmo2",
                    "smollm3", "granite", "stablelm", "cohere"):
    PRESETS[_llama_like] = _LLAMA_MLP

# Config fields that count the experts of a mixture-of-experts model.
_MOE_CONFIG_FIELDS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")
# The last name component of a block's MLP child (`mlp`, `ffn`, `feed_forward`, ...).
_MLP_CHILD = re.compile(r"(mlp|ffn|ff|feed_?forward)(_\w+)?", re.IGNORECASE)
_announced: set[tuple[str, tuple[str, ...]]] = set()  # structural choices already logged


def model_type_of(model: nn.Module) -> str | None:
    return getattr(getattr(model, "config", None), "model_type", None)


def preset_for(model: nn.Module) -> list[str]:
    """The patterns used when none are given: the preset of `model_type` (for a mixture-of-experts family,
    its dense patterns that match in this config); without one, for a mixture-of-experts model its fused
    experts and the dense MLP layers beside them, or a refusal when its experts are not fused (see
    `refuse_moe`); else the MLP Linear layers found by structure (logged once)."""
    model_type = model_type_of(model)
    if model_type in MOE_PRESETS:
        names = list(sites_of(model))
        return [p for p in PRESETS[model_type] if p in _EXPERTS or any(fnmatch.fnmatchcase(n, p) for n in names)]
    if model_type in PRESETS:
        return list(PRESETS[model_type])
    if is_moe(model) and expert_sites(model):
        patterns = _moe_patterns(model)
    else:
        refuse_moe(model)
        patterns = structural_patterns(model)
    key = (str(model_type), tuple(patterns))
    if key not in _announced:
        _announced.add(key)
        log.warning("no preset for model_type=%s; hooking by structure: %s", model_type, brace(patterns))
    return patterns


def parse_patterns(patterns: str | list[str] | None) -> list[str] | None:
    """Accept a list, or one string with patterns separated by '|', ',' or whitespace."""
    if patterns is None:
        return None
    if isinstance(patterns, str):
        for sep in ("|", ","):
            patterns = patterns.replace(sep, " ")
        patterns = patterns.split()
    return [p for p in patterns if p] or None


def sites_of(model: nn.Module) -> dict[str, nn.Module | ExpertUnits]:
    """Every named module and every fused experts projection (`ExpertUnits`), by name, in model order."""
    found: dict[str, nn.Module | ExpertUnits] = {}
    by_module: dict[int, dict[str, ExpertUnits]] = {}
    for n, site in expert_sites(model).items():
        by_module.setdefault(id(site.experts), {})[n] = site
    for name, module in model.named_modules():
        if name:
            found[name] = module
            found.update(by_module.get(id(module), {}))
    return found


def resolve_modules(model: nn.Module, patterns: str | list[str] | None = None) -> dict[str, nn.Module | ExpertUnits]:
    """Map name -> site for every named module or experts projection matching one of `patterns` (glob
    syntax, where `*` also matches dots). With no patterns, `preset_for` chooses. Order follows
    `model.named_modules()`, so it is stable across runs. Every match must be Linear-like or an experts
    projection: a block, an embedding or a norm has no "units" AurA could score, and guessing a width
    from its weight (an embedding's is the vocabulary size) would learn nonsense."""
    patterns = parse_patterns(patterns) or preset_for(model)
    candidates = sites_of(model)
    found: dict[str, nn.Module | ExpertUnits] = {}
    unmatched = []
    for pattern in patterns:
        hits = {name: mod for name, mod in candidates.items() if fnmatch.fnmatchcase(name, pattern)}
        if not hits:
            unmatched.append(pattern)
        found.update(hits)
    if unmatched:
        sample = [n for n, _ in model.named_modules() if n][:12]
        raise ValueError(
            f"Module pattern(s) {unmatched} match no module of this {type(model).__name__}. "
            f"Module names look like: {sample} ..."
        )
    _refuse_non_linear(model, found)
    order = {name: i for i, name in enumerate(candidates)}
    return dict(sorted(found.items(), key=lambda kv: order[kv[0]]))


def is_conv1d(module) -> bool:
    """GPT-2's Conv1D (transformers.pytorch_utils), which stores its weight (in, out): the one place that tells."""
    return type(module).__name__ == "Conv1D" and hasattr(module, "nf")


def is_linear_like(module: nn.Module) -> bool:
    """nn.Linear (and subclasses) or transformers' Conv1D: the layers whose output columns are units."""
    return isinstance(module, nn.Linear) or is_conv1d(module)


def is_site(site) -> bool:
    """A Linear-like module or a fused experts projection: something whose outputs are AurA units."""
    return isinstance(site, ExpertUnits) or is_linear_like(site)


def site_weight(site) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """(weight, bias or None, the weight's output-unit axis): nn.Linear stores (out, in) so axis 0, Conv1D
    (in, out) so axis 1, a fused experts projection (E, out, in) axis 1 or, transposed, (E, in, out) axis 2.
    The bias always has the units' shape: (units,) or (E, units). Shared by hooks, folding and export."""
    if isinstance(site, ExpertUnits):
        return site.weight, site.bias, site.axis
    if not is_linear_like(site):
        output_width(site)  # the one-line error
    return site.weight, getattr(site, "bias", None), 1 if is_conv1d(site) else 0


def unit_shape(site) -> tuple[int, ...]:
    """The shape of a site's AUROC / alpha tensors: (units,), or (experts, units) for an experts projection."""
    return site.shape if isinstance(site, ExpertUnits) else (output_width(site),)


def _refuse_non_linear(model: nn.Module, found: dict[str, nn.Module]) -> None:
    bad = {name: type(mod).__name__ for name, mod in found.items() if not is_site(mod)}
    if not bad:
        return
    examples = ", ".join(f"{n} ({t})" for n, t in list(bad.items())[:3])
    experts = [n for n in bad if is_fused_experts(found[n])]
    if experts:  # the experts module itself: its projections are the sites
        raise ValueError(f"Module patterns (--modules) match the experts module {experts[0]} itself: AurA hooks its "
                         f"projections, e.g. {experts[0]}.gate_up_proj | {experts[0]}.down_proj")
    linear = [n for n, m in model.named_modules() if n and is_linear_like(m)][:4]
    raise ValueError(
        f"Module patterns (--modules) match {len(bad)} module(s) that are not Linear / Conv1D layers, e.g. {examples}: "
        f"AurA hooks Linear layers only; use patterns that end at one, e.g. {' | '.join(linear)}"
    )


def output_width(module: nn.Module | ExpertUnits) -> int:
    """Number of units of a site: the output features of nn.Linear or GPT-2's Conv1D, experts x output
    columns of a fused experts projection."""
    if isinstance(module, ExpertUnits):
        return module.shape[0] * module.shape[1]
    if isinstance(module, nn.Linear):
        return module.out_features
    if is_conv1d(module):
        return int(module.nf)
    raise ValueError(
        f"Cannot tell the output width of {type(module).__name__}: AurA hooks Linear-like modules "
        "(nn.Linear, transformers Conv1D). Choose other module patterns."
    )


# -- no preset: the structural fallback, and the mixture-of-experts refusal ------------------------
def brace(patterns: list[str]) -> str:
    """Patterns sharing a prefix written once: `model.layers.*.mlp.{fc_in,fc_out}`."""
    heads: dict[str, list[str]] = {}
    for p in patterns:
        head, _, leaf = p.rpartition(".")
        heads.setdefault(head, []).append(leaf)
    return ", ".join(f"{h}.{leaves[0]}" if len(leaves) == 1 else f"{h}.{{{','.join(leaves)}}}" for h, leaves in heads.items())


def _blocks(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The model's one list of repeated blocks: an outermost ModuleList of blocks holding Linear layers,
    of length `config.num_hidden_layers` when the config says."""
    lists = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.ModuleList) and len(m) > 0
             and all(any(is_linear_like(x) for x in block.modules()) and not is_linear_like(block) for block in m)]
    outer = [(n, m) for n, m in lists if not any(n.startswith(o + ".") for o, _ in lists if o != n)]
    n_layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    if isinstance(n_layers, int) and any(len(m) == n_layers for _, m in outer):
        outer = [(n, m) for n, m in outer if len(m) == n_layers]
    if len(outer) != 1:
        found = ", ".join(f"{n} ({len(m)})" for n, m in outer) or "none"
        raise _ambiguous(model, f"found {len(outer)} lists of repeated blocks ({found}), need exactly one")
    return outer[0]


def structural_patterns(model: nn.Module) -> list[str]:
    """The MLP Linear layers of every block, found by structure in each block of the model's one list of
    repeated blocks (see `_block_mlp`). Every block must hold the same layers; anything else is
    ambiguous and an error."""
    list_name, blocks = _blocks(model)
    per_block = []
    for i, block in enumerate(blocks):
        layers = _block_mlp(block)
        if isinstance(layers, str):
            raise _ambiguous(model, f"block {list_name}.{i} {layers}")
        per_block.append(layers)
    if len(set(per_block)) != 1:
        raise _ambiguous(model, f"the blocks of {list_name} hold different MLP layers ({per_block[0]} vs {per_block[-1]})")
    return [f"{list_name}.*.{rel}" for rel in per_block[0]]


def _block_mlp(block: nn.Module) -> tuple[str, ...] | str:
    """A block's MLP layers (names relative to the block), or why they cannot be told: every Linear-like
    layer in its one child named like `mlp` / `ffn` / `feed_forward` (`mlp_block` too) that holds one;
    without such a child, its own two Linear children when they are an up / down pair (d -> h -> d:
    OPT's and BART's fc1, fc2 beside their attention module)."""
    def linear_in(module):
        return [(n, m) for n, m in module.named_modules() if n and is_linear_like(m)]

    mlps = [(n, m) for n, m in block.named_children() if _MLP_CHILD.fullmatch(n) and linear_in(m)]
    if len(mlps) == 1:
        return tuple(f"{mlps[0][0]}.{n}" for n, _ in linear_in(mlps[0][1]))
    own = [(n, m) for n, m in block.named_children() if is_linear_like(m)]
    if not mlps and len(own) == 2 and _is_up_down(own[0][1], own[1][1]):
        return tuple(n for n, _ in own)
    children = ", ".join(n for n, _ in block.named_children())
    return (f"has {len(mlps)} children named like mlp/ffn/feed_forward holding Linear layers, and not an up / down "
            f"pair of its own (its children: {children}); need exactly one")


def _is_up_down(up: nn.Module, down: nn.Module) -> bool:
    """d -> h then h -> d, read from the weights (nn.Linear: (out, in); Conv1D: (in, out))."""
    def in_out(m):
        rows, cols = m.weight.shape
        return (rows, cols) if is_conv1d(m) else (cols, rows)

    (d1, h1), (h2, d2) = in_out(up), in_out(down)
    return d1 == d2 and h1 == h2 and d1 != h1


def _ambiguous(model: nn.Module, why: str) -> ValueError:
    return ValueError(
        f"No module preset for model_type={model_type_of(model)!r} and its MLP layers cannot be found by structure: "
        f"{why}. Name the modules to hook with --modules (glob patterns, e.g. 'model.layers.*.mlp.down_proj')."
    )


def experts_modules(model: nn.Module) -> list[str]:
    """Names of the expert containers of a mixture-of-experts model (a module named `experts`, or of a
    class named `...Experts`), empty for a dense model."""
    return [n for n, m in model.named_modules() if n and (n.rpartition(".")[2] == "experts" or type(m).__name__.endswith("Experts"))]


def is_moe(model: nn.Module) -> bool:
    config = getattr(model, "config", None)
    counts = [getattr(config, f, None) for f in _MOE_CONFIG_FIELDS]
    return any(isinstance(c, int) and c > 1 for c in counts) or bool(experts_modules(model))


def refuse_moe(model: nn.Module) -> None:
    """Refuse a mixture-of-experts model with no preset whose experts are not fused experts dispatched by
    transformers (e.g. remote code with a list of per-expert MLPs): aura-eval reads no expert units there,
    and hooking only its dense parts by default would silently measure something else."""
    if not is_moe(model):
        return
    experts = experts_modules(model)
    where = _generalise(experts[0]) if experts else "its MoE blocks"
    dense = _dense_mlp_linear(model, experts)
    hint = (f"pass --modules for its dense MLP layers, e.g. --modules '{' | '.join(dense)}'" if dense else
            "it has no dense MLP Linear layer; --modules can still name other Linear layers, but attention "
            "projections are not MLP units, so that is not AurA as in the paper")
    raise ValueError(
        f"model_type={model_type_of(model)!r} is a mixture-of-experts model whose experts ({where}) are not fused "
        f"experts dispatched by transformers, so aura-eval has no per-expert units and picks no default modules; {hint}"
    )


def _moe_patterns(model: nn.Module) -> list[str]:
    """No preset, fused experts: every experts projection and the dense MLP Linear layers next to them
    (shared experts), generalised over the layer index; logged once like the structural choice."""
    experts = [n for n, m in model.named_modules() if is_fused_experts(m)]
    patterns = list(dict.fromkeys(_generalise(n) for n in expert_sites(model)))
    patterns += [p for p in _dense_mlp_linear(model, experts) if p not in patterns]
    key = (str(model_type_of(model)), tuple(patterns))
    if key not in _announced:
        _announced.add(key)
        log.warning("no preset for mixture-of-experts model_type=%s; hooking its experts and the dense MLP layers "
                    "beside them: %s", model_type_of(model), brace(patterns))
    return patterns


def _generalise(name: str) -> str:
    """`model.layers.0.mlp.experts` -> `model.layers.*.mlp.experts`."""
    return re.sub(r"\.\d+\.", ".*.", name, count=1)


def _dense_mlp_linear(model: nn.Module, experts: list[str]) -> list[str]:
    """Patterns of the Linear layers next to the first block's experts (e.g. Qwen2-MoE's shared expert),
    leaving out the router and other one-column layers."""
    if not experts:
        return []
    parent = experts[0].rpartition(".")[0]
    n_experts = max([c for f in _MOE_CONFIG_FIELDS if isinstance(c := getattr(getattr(model, "config", None), f, None), int)] or [0])
    names = [n for n, m in model.named_modules() if n.startswith(parent + ".") and is_linear_like(m)
             and not n.startswith(experts[0] + ".") and output_width(m) not in (1, n_experts)]
    return [_generalise(n) for n in names]

"""Which modules AurA reads and dampens: glob patterns, per-architecture presets, and their resolution.

AurA works on the units of the MLP blocks. A "unit" is one output feature of a hooked module (one
column of its output), so the module's output width is the number of units it holds.
"""

from __future__ import annotations

import fnmatch

from torch import nn

# Presets keyed by `config.model_type`. The paper hooks GPT-2's `c_fc` and `c_proj` and the
# gate/up/down projections of Llama-like models; the others follow the same MLP-output choice.
PRESETS: dict[str, list[str]] = {
    "gpt2": ["transformer.h.*.mlp.c_fc", "transformer.h.*.mlp.c_proj"],
    "llama": ["model.layers.*.mlp.gate_proj", "model.layers.*.mlp.up_proj", "model.layers.*.mlp.down_proj"],
    "falcon": ["transformer.h.*.mlp.dense_h_to_4h", "transformer.h.*.mlp.dense_4h_to_h"],
    "mpt": ["transformer.blocks.*.ffn.up_proj", "transformer.blocks.*.ffn.down_proj"],
    "gpt_neox": ["gpt_neox.layers.*.mlp.dense_h_to_4h", "gpt_neox.layers.*.mlp.dense_4h_to_h"],
    "opt": ["model.decoder.layers.*.fc1", "model.decoder.layers.*.fc2"],
}
for _llama_like in ("mistral", "mixtral", "qwen2", "qwen3", "gemma", "gemma2", "phi3", "olmo", "olmo2", "smollm3"):
    PRESETS[_llama_like] = PRESETS["llama"]


def preset_for(model: nn.Module) -> list[str]:
    """The preset patterns for `model`, from its config's `model_type`."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in PRESETS:
        raise ValueError(
            f"No module preset for model_type={model_type!r}. Pass module patterns explicitly "
            f"(e.g. --modules 'model.layers.*.mlp.down_proj'); presets exist for: {', '.join(sorted(PRESETS))}."
        )
    return list(PRESETS[model_type])


def parse_patterns(patterns: str | list[str] | None) -> list[str] | None:
    """Accept a list, or one string with patterns separated by '|', ',' or whitespace."""
    if patterns is None:
        return None
    if isinstance(patterns, str):
        for sep in ("|", ","):
            patterns = patterns.replace(sep, " ")
        patterns = patterns.split()
    return [p for p in patterns if p] or None


def resolve_modules(model: nn.Module, patterns: str | list[str] | None = None) -> dict[str, nn.Module]:
    """Map module name -> module for every named module matching one of `patterns` (glob syntax,
    where `*` also matches dots). With no patterns, the architecture preset is used. Order follows
    `model.named_modules()`, so it is stable across runs. Every match must be Linear-like: a block,
    an embedding or a norm has no "units" AurA could score, and guessing a width from its weight
    (an embedding's is the vocabulary size) would learn nonsense."""
    patterns = parse_patterns(patterns) or preset_for(model)
    found: dict[str, nn.Module] = {}
    unmatched = []
    for pattern in patterns:
        hits = {name: mod for name, mod in model.named_modules() if name and fnmatch.fnmatchcase(name, pattern)}
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
    order = {name: i for i, (name, _) in enumerate(model.named_modules())}
    return dict(sorted(found.items(), key=lambda kv: order[kv[0]]))


def is_linear_like(module: nn.Module) -> bool:
    """nn.Linear (and subclasses) or transformers' Conv1D: the layers whose output columns are units."""
    return isinstance(module, nn.Linear) or (type(module).__name__ == "Conv1D" and hasattr(module, "nf"))


def _refuse_non_linear(model: nn.Module, found: dict[str, nn.Module]) -> None:
    bad = {name: type(mod).__name__ for name, mod in found.items() if not is_linear_like(mod)}
    if not bad:
        return
    examples = ", ".join(f"{n} ({t})" for n, t in list(bad.items())[:3])
    linear = [n for n, m in model.named_modules() if n and is_linear_like(m)][:4]
    raise ValueError(
        f"Module patterns (--modules) match {len(bad)} module(s) that are not Linear / Conv1D layers, e.g. {examples}: "
        f"AurA hooks Linear layers only; use patterns that end at one, e.g. {' | '.join(linear)}"
    )


def output_width(module: nn.Module) -> int:
    """Number of units (output features) of a Linear-like module: nn.Linear or GPT-2's Conv1D."""
    if isinstance(module, nn.Linear):
        return module.out_features
    if type(module).__name__ == "Conv1D" and hasattr(module, "nf"):
        return int(module.nf)
    raise ValueError(
        f"Cannot tell the output width of {type(module).__name__}: AurA hooks Linear-like modules "
        "(nn.Linear, transformers Conv1D). Choose other module patterns."
    )

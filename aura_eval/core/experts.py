"""AurA units inside fused mixture-of-experts layers, read and dampened through transformers' experts dispatch.

In transformers 5 the experts of Mixtral, Qwen2/3-MoE, OLMoE, DeepSeek-V3 and gpt-oss are one module
holding 3-D parameters (`gate_up_proj`, `down_proj`, expert first), whose forward is chosen by name in
`transformers.integrations.moe.ExpertsInterface`. A forward hook on that module sees only the routed sum,
so aura-eval registers its own experts function ("aura_eval") in that interface: a per-expert loop that
computes what the built-in ones compute, scales the outputs of an expert's projections by their alphas
and hands them to a recorder. `activate` switches a model to it, and back to the implementation it had.

An `ExpertUnits` site is one projection of one experts module: its units are (expert, output column)
pairs, shape (E, width) with the expert first, named `<experts module>.<parameter>`.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field

import torch
from torch import nn

IMPLEMENTATION = "aura_eval"
# The attributes `use_experts_implementation` gives an experts class: the declared description of its layout.
_LAYOUT_FLAGS = ("has_gate", "has_bias", "is_transposed", "is_concatenated", "has_post_expert_norm")


def is_fused_experts(module: nn.Module) -> bool:
    """An experts module dispatched through ExpertsInterface: the layout flags, 3-D weights, `num_experts`."""
    down = getattr(module, "down_proj", None)
    return (all(hasattr(module, f) for f in _LAYOUT_FLAGS) and isinstance(getattr(module, "num_experts", None), int)
            and isinstance(down, torch.Tensor) and down.dim() == 3)


@dataclass(frozen=True, eq=False)
class ExpertUnits:
    """The units of one projection (`param`: gate_up_proj, up_proj or down_proj) of a fused experts module."""

    experts: nn.Module
    param: str

    @property
    def weight(self) -> torch.Tensor:
        return getattr(self.experts, self.param)

    @property
    def bias(self) -> torch.Tensor | None:
        return getattr(self.experts, f"{self.param}_bias", None) if self.experts.has_bias else None

    @property
    def axis(self) -> int:
        """The weight's output-unit axis: (E, out, in) stores outputs on axis 1, transposed (E, in, out) on 2."""
        return 2 if self.experts.is_transposed else 1

    @property
    def shape(self) -> tuple[int, int]:
        """(experts, units per expert)."""
        return (int(self.weight.shape[0]), int(self.weight.shape[self.axis]))


def expert_sites(model: nn.Module) -> dict[str, ExpertUnits]:
    """Every projection of every fused experts module, by name `<module>.<parameter>`, in model order."""
    sites = {}
    for name, module in model.named_modules():
        if not is_fused_experts(module):
            continue
        for param in ("gate_up_proj" if module.has_gate else "up_proj", "down_proj"):
            sites[f"{name}.{param}"] = ExpertUnits(module, param)
    return sites


# -- per-module state read by the registered experts function -------------------------------------
@dataclass
class _State:
    alphas: dict[str, torch.Tensor] = field(default_factory=dict)  # param -> (E, units)
    recorders: list = field(default_factory=list)  # objects with start(n_tokens), record(param, e, tokens, values), finish()
    cast: dict[tuple, torch.Tensor] = field(default_factory=dict)  # (param, device, dtype) -> alphas there

    def alphas_for(self, param: str, like: torch.Tensor) -> torch.Tensor | None:
        """`param`'s alphas on `like`'s device and dtype, cast once (device_map="auto" spreads the layers)."""
        if param not in self.alphas:
            return None
        key = (param, like.device, like.dtype)
        if key not in self.cast:
            self.cast[key] = self.alphas[param].to(device=like.device, dtype=like.dtype)
        return self.cast[key]


_STATES: weakref.WeakKeyDictionary[nn.Module, _State] = weakref.WeakKeyDictionary()
_ACTIVE: weakref.WeakKeyDictionary[nn.Module, list] = weakref.WeakKeyDictionary()  # model -> [previous, users]


def _project(module: nn.Module, param: str, x: torch.Tensor, e: int) -> torch.Tensor:
    weight = getattr(module, param)[e]
    out = x @ weight if module.is_transposed else nn.functional.linear(x, weight)
    if module.has_bias:
        out = out + getattr(module, f"{param}_bias")[e]
    return out


def _scaled(state: _State | None, param: str, e: int, out: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    if state is None:
        return out
    alphas = state.alphas_for(param, out)
    if alphas is not None:
        out = out * alphas[e]
    for recorder in state.recorders:
        recorder.record(param, e, tokens, out)
    return out


def experts_forward(self: nn.Module, hidden_states: torch.Tensor, top_k_index: torch.Tensor,
                    top_k_weights: torch.Tensor) -> torch.Tensor:
    """The experts computation, one expert at a time over the tokens routed to it (what transformers' eager,
    batched_mm and grouped_mm compute), with each projection's output scaled by its alphas and recorded,
    before the activation (gate_up_proj / up_proj) and before any post-expert norm and the routing weight
    (down_proj)."""
    state = _STATES.get(self)
    for recorder in state.recorders if state else ():
        recorder.start(hidden_states.shape[0])
    out = torch.zeros_like(hidden_states)
    expert_ids = top_k_index.reshape(-1)
    order = torch.argsort(expert_ids, stable=True)
    counts = torch.bincount(expert_ids, minlength=self.num_experts).tolist()  # one device sync per layer
    start = 0
    for e, count in enumerate(counts[: self.num_experts]):  # ids past num_experts: expert-parallel sentinels
        if count == 0:
            continue
        pairs = order[start : start + count]
        start += count
        tokens, slot = pairs // top_k_index.shape[-1], pairs % top_k_index.shape[-1]
        x = hidden_states[tokens]
        if self.has_gate:
            projected = _scaled(state, "gate_up_proj", e, _project(self, "gate_up_proj", x, e), tokens)
            hidden = self._apply_gate(projected)
        else:
            hidden = self.act_fn(_scaled(state, "up_proj", e, _project(self, "up_proj", x, e), tokens))
        y = _scaled(state, "down_proj", e, _project(self, "down_proj", hidden, e), tokens)
        if self.has_post_expert_norm:  # after the down units, as folding their rows also acts before it
            y = self.post_expert_norm(y)
        out.index_add_(0, tokens, (y * top_k_weights[tokens, slot, None]).to(out.dtype))
    for recorder in state.recorders if state else ():
        recorder.finish()
    return out


def _register() -> None:
    from transformers.integrations.moe import ExpertsInterface

    ExpertsInterface.register(IMPLEMENTATION, experts_forward)


def activate(model: nn.Module, experts: list[nn.Module]):
    """Switch `model` to the aura_eval experts function (nested users share one switch); returns the callable
    that, once the last user calls it, gives the model back the implementation it had (grouped_mm, eager, ...)."""
    if not hasattr(model, "set_experts_implementation"):
        raise ValueError(f"{type(model).__name__} is not a transformers model: its experts dispatch cannot be set")
    _register()
    entry = _ACTIVE.get(model)
    if entry is None:
        previous = model.get_experts_implementation()
        model.set_experts_implementation(IMPLEMENTATION)
        entry = _ACTIVE[model] = [previous, 0]
    entry[1] += 1
    stuck = [type(m).__name__ for m in experts if m.config._experts_implementation != IMPLEMENTATION]
    if stuck:
        release(model)
        raise ValueError(f"{stuck[0]} did not take the {IMPLEMENTATION!r} experts implementation "
                         "(set_experts_implementation left it): its experts units cannot be read or dampened")
    done = []

    def back() -> None:
        if not done:
            done.append(True)
            release(model)

    return back


def release(model: nn.Module) -> None:
    entry = _ACTIVE.get(model)
    if entry is None:
        return
    entry[1] -= 1
    if entry[1] <= 0:
        del _ACTIVE[model]
        model.set_experts_implementation(entry[0])


def state_of(module: nn.Module) -> _State:
    return _STATES.setdefault(module, _State())


def drop_state(module: nn.Module) -> None:
    state = _STATES.get(module)
    if state is not None and not state.alphas and not state.recorders:
        del _STATES[module]


def set_alphas(site: ExpertUnits, alphas: torch.Tensor | None) -> None:
    """Dampen `site`'s units by `alphas` (E, units) while the model runs the aura_eval function (None: stop)."""
    state = state_of(site.experts)
    state.cast.clear()
    if alphas is None:
        state.alphas.pop(site.param, None)
        drop_state(site.experts)
    else:
        state.alphas[site.param] = alphas.reshape(site.shape)


class ExpertsHooked:
    """Alphas set on the experts sites of a model and its dispatch switched; `remove()` undoes both."""

    def __init__(self, model: nn.Module, sites: dict[str, ExpertUnits], alphas: dict[str, torch.Tensor]):
        self.sites = sites
        for name, site in sites.items():
            set_alphas(site, alphas[name])
        try:
            self._back = activate(model, list({id(s.experts): s.experts for s in sites.values()}.values()))
        except ValueError:
            self._clear()
            raise

    def _clear(self) -> None:
        for site in self.sites.values():
            set_alphas(site, None)

    def remove(self) -> None:
        self._clear()
        self._back()

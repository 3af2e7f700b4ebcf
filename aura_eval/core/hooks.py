"""Applying an intervention: named forward hooks that scale module outputs, or folding into weights.

Hooks leave the weights untouched (one model, many variants); `fold` bakes the same alphas into the
weights and biases so the result is a plain checkpoint any engine can serve. Both compute
``output[..., j] * alpha[j]``, so hooked and folded logits agree.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

import torch
from torch import nn

from aura_eval.core.intervention import Intervention


class AlphaHook:
    """Forward hook multiplying a module's output by per-unit alphas, in the output's dtype and device."""

    def __init__(self, name: str, alphas: torch.Tensor):
        self.name = name
        self.alphas = alphas
        self._cast: dict[tuple, torch.Tensor] = {}

    def __call__(self, _module, _inputs, output):
        tensor = output[0] if isinstance(output, tuple) else output
        key = (tensor.device, tensor.dtype)
        if key not in self._cast:  # cached: device_map="auto" puts modules on several devices
            self._cast[key] = self.alphas.to(device=tensor.device, dtype=tensor.dtype)
        scaled = tensor * self._cast[key]
        return (scaled, *output[1:]) if isinstance(output, tuple) else scaled

    def __repr__(self) -> str:
        return f"AlphaHook({self.name}, changed={int((self.alphas != 1).sum())}/{self.alphas.numel()})"


class HookedIntervention:
    """Handles of the hooks `apply` registered; `remove()` restores the bare model."""

    def __init__(self, handles: dict[str, torch.utils.hooks.RemovableHandle]):
        self.handles = handles

    def remove(self) -> None:
        for handle in self.handles.values():
            handle.remove()
        self.handles.clear()

    def __len__(self) -> int:
        return len(self.handles)


def apply(model: nn.Module, intervention: Intervention) -> HookedIntervention:
    """Hook every module where some alpha differs from 1. Checks the intervention fits the model."""
    intervention.check_fits(model)
    named = dict(model.named_modules())
    handles = {}
    for name, alphas in intervention.alphas.items():
        if torch.all(alphas == 1):
            continue  # an identity hook would only cost time
        handles[name] = named[name].register_forward_hook(AlphaHook(name, alphas))
    return HookedIntervention(handles)


@contextmanager
def applied(model: nn.Module, intervention: Intervention):
    """`with applied(model, intervention): ...` runs the block with the hooks in place."""
    hooked = apply(model, intervention)
    try:
        yield hooked
    finally:
        hooked.remove()


@torch.no_grad()
def fold(model: nn.Module, intervention: Intervention) -> nn.Module:
    """Scale weights and biases in place so the bare model computes what the hooked one does."""
    intervention.check_fits(model)
    named = dict(model.named_modules())
    for name, alphas in intervention.alphas.items():
        if torch.all(alphas == 1):
            continue
        module = named[name]
        weight = module.weight
        a = alphas.to(device=weight.device, dtype=torch.float32)
        # nn.Linear stores (out, in); GPT-2's Conv1D stores (in, out).
        scale = a.unsqueeze(0) if type(module).__name__ == "Conv1D" else a.unsqueeze(1)
        weight.copy_((weight.float() * scale).to(weight.dtype))
        bias = getattr(module, "bias", None)
        if bias is not None:
            bias.copy_((bias.float() * a).to(bias.dtype))
    return model


# -- folding in memory, hooks only where folding is not exact ---------------------------------------
def _parameter_spans(model: nn.Module) -> list[tuple[int, int, int, int]]:
    """(start, end, id, slots) of every distinct parameter's memory; slots >= 2 is a tied weight."""
    slots: dict[int, int] = {}
    params: dict[int, torch.Tensor] = {}
    for _, p in model.named_parameters(remove_duplicate=False):
        slots[id(p)] = slots.get(id(p), 0) + 1
        params[id(p)] = p
    return [(p.data_ptr(), p.data_ptr() + p.numel() * p.element_size(), i, slots[i]) for i, p in params.items()]


def _owned(p: torch.Tensor, spans: list[tuple[int, int, int, int]]) -> bool:
    """`p` is used by one module slot only and no other parameter overlaps its memory."""
    start, end = p.data_ptr(), p.data_ptr() + p.numel() * p.element_size()
    return all(
        (slots == 1) if i == id(p) else (e <= start or s >= end)
        for s, e, i, slots in spans
    )


def foldable(model: nn.Module, name: str, spans: list | None = None) -> bool:
    """Whether scaling `name`'s weight rows and bias is exactly the hook's output scaling: a plain
    nn.Linear or GPT-2 Conv1D (not a subclass such as a quantised layer) whose floating-point weight and
    bias are materialised (not offloaded) and belong to this module alone (scaling a weight tied to or
    sharing memory with another parameter would change that one too)."""
    module = dict(model.named_modules()).get(name)
    if module is None or not (type(module) is nn.Linear or type(module).__name__ == "Conv1D"):
        return False
    own = [p for p in (module.weight, getattr(module, "bias", None)) if p is not None]
    if any(not p.is_floating_point() or p.is_meta for p in own):
        return False
    spans = spans if spans is not None else _parameter_spans(model)
    return all(_owned(p, spans) for p in own)


class AppliedIntervention:
    """An intervention applied to a live model: `folded` modules have scaled weights, the rest are hooked.

    `remove()` restores the bare model exactly (the original rows were kept) when `keep_original` was set."""

    def __init__(self, folded: dict[str, tuple], hooked: HookedIntervention, kept: bool):
        self.folded, self.hooked, self._kept = folded, hooked, kept

    @property
    def how(self) -> str:
        """How it was applied, for the results: "folded in memory", "hooks", both, or "nothing to apply"."""
        parts = [p for p, n in (("folded in memory", self.folded), ("hooks", self.hooked)) if len(n)]
        return " + ".join(parts) or "nothing to apply"

    @torch.no_grad()
    def remove(self) -> None:
        self.hooked.remove()
        if self.folded and not self._kept:
            raise RuntimeError("the intervention was folded in memory without keeping the original weights; reload the model")
        for module, dim, rows, weight, bias in self.folded.values():
            module.weight.index_copy_(dim, rows, weight)
            if bias is not None:
                module.bias.index_copy_(0, rows, bias)
        self.folded.clear()


@torch.no_grad()
def apply_folded(model: nn.Module, intervention: Intervention, keep_original: bool = True) -> AppliedIntervention:
    """Apply `intervention` at no run-time cost: fold the alphas into the weights of every `foldable`
    module (what `fold` does for an export), and hook the others. With `keep_original` the changed rows
    are copied first so that `remove()` gives back the bare weights bit for bit."""
    intervention.check_fits(model)
    named = dict(model.named_modules())
    folded, rest, spans = {}, {}, _parameter_spans(model)
    for name, alphas in intervention.alphas.items():
        if torch.all(alphas == 1):
            continue
        if not foldable(model, name, spans):
            rest[name] = alphas
            continue
        module = named[name]
        dim = 1 if type(module).__name__ == "Conv1D" else 0  # the output-unit axis of the weight
        rows = torch.nonzero(alphas != 1).flatten().to(module.weight.device)
        bias = getattr(module, "bias", None)
        saved = (module.weight.index_select(dim, rows).clone(), None if bias is None else bias.index_select(0, rows).clone())
        a = alphas.to(device=module.weight.device, dtype=torch.float32)
        scale = a.unsqueeze(0) if dim == 1 else a.unsqueeze(1)
        module.weight.copy_((module.weight.float() * scale).to(module.weight.dtype))
        if bias is not None:
            bias.copy_((bias.float() * a).to(bias.dtype))
        folded[name] = (module, dim, rows, *(saved if keep_original else (None, None)))
    hooked = apply(model, replace(intervention, auroc={n: intervention.auroc[n] for n in rest}, alphas=rest))
    return AppliedIntervention(folded, hooked, keep_original)

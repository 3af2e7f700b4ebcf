"""Applying an intervention: named forward hooks that scale module outputs, or folding into weights.

Hooks leave the weights untouched (one model, many variants); `fold` bakes the same alphas into the
weights and biases so the result is a plain checkpoint any engine can serve. Both compute
``output[..., j] * alpha[j]``, so hooked and folded logits agree.
"""

from __future__ import annotations

from contextlib import contextmanager

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

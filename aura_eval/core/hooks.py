"""Applying an intervention: named forward hooks that scale module outputs, or folding into weights.

Hooks leave the weights untouched (one model, many variants); `fold` bakes the same alphas into the
weights and biases so the result is a plain checkpoint any engine can serve. Both compute
``output[..., j] * alpha[j]`` (per expert for a fused experts projection: ``alpha[e, j]``), so hooked
and folded logits agree.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace

import torch
from torch import nn

from aura_eval.core.experts import ExpertsHooked, ExpertUnits
from aura_eval.core.intervention import Intervention
from aura_eval.core.modules import is_conv1d, site_weight, sites_of, unit_shape


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
    """Handles of the hooks `apply` registered (forward hooks, and the experts dispatch for experts sites);
    `remove()` restores the bare model."""

    def __init__(self, handles: dict[str, object]):
        self.handles = handles

    def remove(self) -> None:
        for handle in self.handles.values():
            handle.remove()
        self.handles.clear()

    def __len__(self) -> int:
        """The number of hooked sites (every experts projection counts, though one switch serves them)."""
        return sum(len(h.sites) if isinstance(h, ExpertsHooked) else 1 for h in self.handles.values())


def apply(model: nn.Module, intervention: Intervention) -> HookedIntervention:
    """Hook every site where some alpha differs from 1: a forward hook on a Linear-like module, alphas read
    by the aura_eval experts function for an experts projection. Checks the intervention fits the model."""
    intervention.check_fits(model)
    sites = sites_of(model)
    handles: dict[str, object] = {}
    experts = {}
    for name, alphas in intervention.alphas.items():
        if torch.all(alphas == 1):
            continue  # an identity hook would only cost time
        if isinstance(sites[name], ExpertUnits):
            experts[name] = sites[name]
        else:
            handles[name] = sites[name].register_forward_hook(AlphaHook(name, alphas))
    if experts:
        handles[" experts"] = ExpertsHooked(model, experts, {n: intervention.alphas[n] for n in experts})
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
def scale_units_(site, alphas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """The one row-scaling routine: multiply, in float32, the weight slices and bias entries of the units
    whose alpha differs from 1 by that alpha, in place (see `site_weight` for where units sit). Returns
    (mask of those units, their original weight slices, their original bias entries) for `unscale_units_`."""
    weight, bias, axis = site_weight(site)
    a = alphas.reshape(unit_shape(site)).to(device=weight.device, dtype=torch.float32)
    mask = a != 1
    rows = weight.movedim(axis, a.dim() - 1)  # a view: units (expert first) lead, each unit's slice after
    saved = rows[mask].clone()
    rows[mask] = (saved.float() * a[mask].unsqueeze(-1)).to(weight.dtype)
    saved_bias = None
    if bias is not None:
        saved_bias = bias[mask].clone()
        bias[mask] = (saved_bias.float() * a[mask]).to(bias.dtype)
    return mask, saved, saved_bias


@torch.no_grad()
def unscale_units_(site, mask: torch.Tensor, saved: torch.Tensor, saved_bias: torch.Tensor | None) -> None:
    """Put back what `scale_units_` saved, bit for bit."""
    weight, bias, axis = site_weight(site)
    weight.movedim(axis, mask.dim() - 1)[mask] = saved
    if bias is not None:
        bias[mask] = saved_bias


@torch.no_grad()
def fold(model: nn.Module, intervention: Intervention) -> nn.Module:
    """Scale weights and biases in place so the bare model computes what the hooked one does."""
    intervention.check_fits(model)
    sites = sites_of(model)
    for name, alphas in intervention.alphas.items():
        if not torch.all(alphas == 1):
            scale_units_(sites[name], alphas)
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


def foldable(model: nn.Module, name: str, spans: list | None = None, sites: dict | None = None) -> bool:
    """Whether scaling `name`'s weight rows and bias is exactly the hook's output scaling: a plain
    nn.Linear or GPT-2 Conv1D (not a subclass such as a quantised layer), or a fused experts projection,
    whose floating-point weight and bias are materialised (not offloaded) and belong to it alone (scaling
    a weight tied to or sharing memory with another parameter would change that one too)."""
    site = (sites if sites is not None else sites_of(model)).get(name)
    if site is None or not (isinstance(site, ExpertUnits) or type(site) is nn.Linear or is_conv1d(site)):
        return False
    weight, bias, _ = site_weight(site)
    own = [p for p in (weight, bias) if p is not None]
    if any(not p.is_floating_point() or p.is_meta for p in own):
        return False
    spans = spans if spans is not None else _parameter_spans(model)
    return all(_owned(p, spans) for p in own)


class AppliedIntervention:
    """An intervention applied to a live model: `folded` sites have scaled weights, the rest are hooked.

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
        for site, *saved in self.folded.values():
            unscale_units_(site, *saved)
        self.folded.clear()


@torch.no_grad()
def apply_folded(model: nn.Module, intervention: Intervention, keep_original: bool = True) -> AppliedIntervention:
    """Apply `intervention` at no run-time cost: fold the alphas into the weights of every `foldable`
    site (what `fold` does for an export), and hook the others. With `keep_original` the changed rows
    are kept so that `remove()` gives back the bare weights bit for bit."""
    intervention.check_fits(model)
    sites = sites_of(model)
    folded, rest, spans = {}, {}, _parameter_spans(model)
    for name, alphas in intervention.alphas.items():
        if torch.all(alphas == 1):
            continue
        if not foldable(model, name, spans, sites):
            rest[name] = alphas
            continue
        mask, saved, saved_bias = scale_units_(sites[name], alphas)
        folded[name] = (sites[name], mask, *((saved, saved_bias) if keep_original else (None, None)))
    hooked = apply(model, replace(intervention, auroc={n: intervention.auroc[n] for n in rest}, alphas=rest))
    return AppliedIntervention(folded, hooked, keep_original)

"""Applying an intervention: named forward hooks that scale module outputs, or folding into weights.

Hooks leave the weights untouched (one model, many variants); `fold` bakes the same alphas into the
weights and biases so the result is a plain checkpoint any engine can serve. Both compute
``output[..., j] * alpha[j]`` (per expert for a fused experts projection: ``alpha[e, j]``), so hooked
and folded logits agree.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import torch
from torch import nn

from aura_eval.core.config import InterventionConfig
from aura_eval.core.experts import ExpertsHooked, ExpertUnits
from aura_eval.core.files import sha256_file
from aura_eval.core.intervention import Intervention
from aura_eval.core.loading import ModelRef, check_can_create, is_inside, load_model, save_plain
from aura_eval.core.modules import is_conv1d, site_weight, sites_of, unit_shape
from aura_eval.core.names import FOLDED_MARKER  # written into every exported checkpoint


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


# -- exporting a folded checkpoint ---------------------------------------------------------------


def check_export_out(out: str | Path, model: ModelRef, state_file: str | Path, overwrite: bool = False) -> Path:
    """Refuse, before the model is loaded, an export that could destroy or double-fold weights: `out`
    may be neither a file, nor the source model folder (or inside it, or holding it), nor a folder holding
    the state file; a non-empty folder needs `overwrite`. A source that is itself a folded checkpoint is
    refused, so alphas can never be folded in twice."""
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; export writes a checkpoint folder: give a new or empty folder")
    source = model.local_dir
    if source is not None and (is_inside(out, source) or is_inside(source, out)):
        raise ValueError(
            f"--out {out} is, holds or lies inside the source model folder {source}: export never writes over its "
            "own input (--overwrite does not allow this); choose another folder"
        )
    if source is not None and (source / FOLDED_MARKER).is_file():
        raise ValueError(
            f"--model {source} is already a folded checkpoint ({FOLDED_MARKER}); export from the original model, "
            "so that the alphas are folded in once"
        )
    if is_inside(state_file, out):
        raise ValueError(f"--out {out} holds the state file {state_file}; choose another folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ValueError(f"--out {out} is a non-empty folder; pass --overwrite to replace it, or choose a new folder")
    check_can_create(out, "--out")
    return out


def replace_folder(out: Path, write: Callable[[Path], None]) -> Path:
    """Run `write(tmp)` on a new hidden sibling folder, then rename it to `out` (moving an old `out`
    aside first and deleting it last): an interrupted export never leaves a half-written checkpoint."""
    out = Path(out).expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(4)}.tmp")
    tmp.mkdir()
    try:
        write(tmp)
        if out.exists():
            old = out.with_name(f".{out.name}.{secrets.token_hex(4)}.old")
            os.rename(out, old)
            try:
                os.rename(tmp, out)
            except OSError:
                os.rename(old, out)
                raise
            shutil.rmtree(old)
        else:
            os.rename(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def export_folded(
    model: ModelRef,
    state_file: str | Path,
    out: str | Path,
    config: InterventionConfig | None = None,
    overwrite: bool = False,
    **load_kwargs,
) -> Intervention:
    """Fold the intervention in `state_file` (re-derived under `config` when given) into `model`'s weights
    and save a plain checkpoint at `out`, with `aura_intervention.json` describing what was folded."""
    out = check_export_out(out, model, state_file, overwrite)
    lm, tokenizer = load_model(model, device="cpu", **load_kwargs)
    intervention = Intervention.load(state_file, model=lm)
    if config is not None:
        intervention = intervention.with_config(config)
    fold(lm, intervention)
    marker = {
        "variant": intervention.variant,
        "state_file": Path(state_file).name,  # by name and content: no path of this machine
        "state_file_sha256": sha256_file(state_file),
        **intervention.summary(),
    }

    def write(folder: Path) -> None:
        save_plain(lm, tokenizer, folder)
        (folder / FOLDED_MARKER).write_text(json.dumps(marker, indent=2))

    replace_folder(out, write)
    return intervention

"""The intervention math and its state file.

An `Intervention` holds, for every hooked module, the AUROC of each unit and the factor (alpha) its
output is multiplied by. The methods differ only in how alphas follow from the AUROCs:

- ``aura``: alpha = 1 - Gini = 1 - 2 * (AUROC - 0.5) for experts (AUROC > 0.5), 1 for all others.
- ``damp``: the k units of highest AUROC over the whole model get a fixed alpha (default 0.5).
- ``det_zero``: the k units of highest AUROC are set to 0.
- ``none``: every alpha is 1 (the baseline, through the same code path).

State files are safetensors (tensors ``auroc.<module>`` and ``alpha.<module>``) with a JSON header;
nothing is ever unpickled. Loading re-checks tensor shapes, value ranges and a content hash, and the
model fingerprint when a model is given.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from aura_eval import __version__
from aura_eval.core.config import InterventionConfig
from aura_eval.core.modules import output_width

FORMAT = "aura-eval/intervention"
FORMAT_VERSION = 1


class StateFileError(ValueError):
    """A state file that cannot be trusted or does not fit the model."""


def alphas_from_auroc(auroc: dict[str, torch.Tensor], config: InterventionConfig) -> dict[str, torch.Tensor]:
    """Per-module alphas for `config`; top-k choices are global over all modules."""
    if config.method == "aura":
        return {n: torch.where(a > 0.5, 1 - 2 * (a - 0.5), torch.ones_like(a)).float() for n, a in auroc.items()}
    if config.method == "none":
        return {n: torch.ones_like(a, dtype=torch.float32) for n, a in auroc.items()}
    total = sum(a.numel() for a in auroc.values())
    if config.k > total:
        raise ValueError(f"method={config.method} needs k, the number of units to change, in 1..{total}; got {config.k}")
    flat = torch.cat(list(auroc.values()))
    # Stable descending order: ties at the k-th place resolve to the earlier module / unit.
    top = torch.sort(flat, descending=True, stable=True).indices[: config.k]
    flat_alpha = torch.ones_like(flat, dtype=torch.float32)
    flat_alpha[top] = float(config.alpha)
    return dict(zip(auroc, flat_alpha.split([a.numel() for a in auroc.values()])))


def model_fingerprint(model: nn.Module, module_names: list[str]) -> dict:
    """What a state file must match: the architecture and the width of every hooked module."""
    config = getattr(model, "config", None)
    architectures = getattr(config, "architectures", None) or [type(model).__name__]
    named = dict(model.named_modules())
    missing = [n for n in module_names if n not in named]
    if missing:
        raise StateFileError(
            f"The model has no module(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}: "
            "this intervention was learned on another architecture"
        )
    return {
        "architecture": architectures[0],
        "model_type": getattr(config, "model_type", None),
        "module_widths": {n: output_width(named[n]) for n in module_names},
    }


def _tensor_digest(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].contiguous().cpu()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


@dataclass
class Intervention:
    """AUROCs and alphas per module, the method that turned one into the other, and provenance (`meta`)."""

    config: InterventionConfig
    auroc: dict[str, torch.Tensor]
    alphas: dict[str, torch.Tensor]
    meta: dict = field(default_factory=dict)

    @classmethod
    def from_auroc(cls, auroc: dict[str, torch.Tensor], config: InterventionConfig | None = None, meta=None):
        config = config or InterventionConfig()
        auroc = {n: a.detach().to(torch.float64).cpu() for n, a in auroc.items()}
        return cls(config, auroc, alphas_from_auroc(auroc, config), dict(meta or {}))

    def with_config(self, config: InterventionConfig) -> Intervention:
        """The same learned AUROCs under another method (e.g. the Damp / Det_zero baselines)."""
        return Intervention.from_auroc(self.auroc, config, self.meta)

    @property
    def method(self) -> str:
        return self.config.method

    @property
    def k(self) -> int | None:
        return self.config.k

    @property
    def alpha(self) -> float | None:
        return self.config.alpha

    @property
    def variant(self) -> str:
        return self.config.label

    def summary(self) -> dict:
        """Numbers worth logging: unit counts, experts, and how much the model is changed."""
        flat_auroc = torch.cat(list(self.auroc.values())) if self.auroc else torch.empty(0, dtype=torch.float64)
        flat_alpha = torch.cat(list(self.alphas.values())) if self.alphas else torch.empty(0)
        return {
            "n_modules": len(self.auroc),
            "n_units": int(flat_auroc.numel()),
            "n_experts": int((flat_auroc > 0.5).sum()),
            "n_units_changed": int((flat_alpha != 1).sum()),
            "auroc_max": float(flat_auroc.max()) if flat_auroc.numel() else None,
            "auroc_mean": float(flat_auroc.mean()) if flat_auroc.numel() else None,
            "alpha_min": float(flat_alpha.min()) if flat_alpha.numel() else None,
            "alpha_mean": float(flat_alpha.mean()) if flat_alpha.numel() else None,
        }

    # -- state file -------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        from safetensors.torch import save_file

        tensors = {f"auroc.{n}": a.contiguous() for n, a in self.auroc.items()}
        tensors.update({f"alpha.{n}": a.contiguous() for n, a in self.alphas.items()})
        header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "aura_eval_version": __version__,
            "method": self.method,
            "k": self.k,
            "alpha": self.alpha,
            "modules": list(self.auroc),
            "tensors_sha256": _tensor_digest(tensors),
            "summary": self.summary(),
            **{k: v for k, v in self.meta.items() if k not in ("format", "method", "k", "alpha", "modules")},
        }
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(path), metadata={"aura": json.dumps(header, sort_keys=True)})
        return path

    @classmethod
    def load(cls, path: str | Path, model: nn.Module | None = None) -> Intervention:
        """Read and verify a state file; with `model`, also check it fits that model."""
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise StateFileError(f"No intervention state file at {path}")
        try:
            with safe_open(str(path), framework="pt") as f:
                raw = (f.metadata() or {}).get("aura")
                tensors = {name: f.get_tensor(name) for name in f.keys()}
        except Exception as e:  # safetensors raises its own error types for corrupt files
            raise StateFileError(f"{path} is not a readable safetensors file: {e}") from e
        if raw is None:
            raise StateFileError(f"{path} is a safetensors file but not an aura-eval intervention (no 'aura' header)")
        try:
            header = json.loads(raw)
        except json.JSONDecodeError as e:
            raise StateFileError(f"{path}: the 'aura' header is not valid JSON ({e})") from e
        if header.get("format") != FORMAT or header.get("format_version") != FORMAT_VERSION:
            raise StateFileError(f"{path}: unsupported format {header.get('format')!r} v{header.get('format_version')}")
        if _tensor_digest(tensors) != header.get("tensors_sha256"):
            raise StateFileError(f"{path}: tensor contents do not match the header's sha256: the file was modified or is corrupt")
        modules = header.get("modules") or []
        expected = {f"{p}.{n}" for n in modules for p in ("auroc", "alpha")}
        if set(tensors) != expected:
            raise StateFileError(f"{path}: tensors {sorted(set(tensors) ^ expected)[:4]} do not match the header's module list")
        auroc = {n: tensors[f"auroc.{n}"] for n in modules}
        alphas = {n: tensors[f"alpha.{n}"] for n in modules}
        widths = (header.get("fingerprint") or {}).get("module_widths", {})
        for n in modules:
            a, al = auroc[n], alphas[n]
            if a.ndim != 1 or a.shape != al.shape or (widths and widths.get(n) != a.numel()):
                raise StateFileError(f"{path}: tensors of module {n} have inconsistent shapes {tuple(a.shape)} / {tuple(al.shape)}")
            if not (torch.isfinite(a).all() and (a >= 0).all() and (a <= 1).all()):
                raise StateFileError(f"{path}: AUROCs of module {n} are outside [0, 1]")
            if not (torch.isfinite(al).all() and (al >= 0).all() and (al <= 1).all()):
                raise StateFileError(f"{path}: alphas of module {n} are outside [0, 1]")
        meta = {k: v for k, v in header.items() if k not in ("method", "k", "alpha", "tensors_sha256", "summary")}
        try:
            config = InterventionConfig(header.get("method"), header.get("k"), header.get("alpha"))
        except ValueError as e:
            raise StateFileError(f"{path}: {e}") from e
        intervention = cls(config, auroc, alphas, meta)
        if model is not None:
            intervention.check_fits(model, source=str(path))
        return intervention

    def check_fits(self, model: nn.Module, source: str = "this intervention") -> None:
        """Fail clearly when the model is not the one the AUROCs were learned on."""
        saved = self.meta.get("fingerprint")
        current = model_fingerprint(model, list(self.auroc))
        for name, a in self.auroc.items():
            if current["module_widths"][name] != a.numel():
                raise StateFileError(
                    f"{source}: module {name} has {current['module_widths'][name]} units in this model "
                    f"but {a.numel()} in the state file: it was learned on another model size"
                )
        if saved and saved.get("architecture") != current["architecture"]:
            raise StateFileError(
                f"{source} was learned on {saved.get('architecture')} "
                f"({self.meta.get('model_name', '?')}), not on this {current['architecture']}"
            )

"""The intervention math and its state file.

An `Intervention` holds, for every hooked module, the AUROC of each unit and the factor (alpha) its
output is multiplied by. The methods differ only in how alphas follow from the AUROCs:

- ``aura``: alpha = 1 - Gini = 1 - 2 * (AUROC - 0.5) for experts (AUROC > 0.5), 1 for all others.
- ``damp``: the k units of highest AUROC over the whole model get a fixed alpha (default 0.5).
- ``det_zero``: the k units of highest AUROC are set to 0.
- ``none``: every alpha is 1 (the baseline, through the same code path).

State files are safetensors (tensors ``auroc.<module>`` and ``alpha.<module>``) with a JSON header;
nothing is ever unpickled. One sha256 (`state_digest`) covers every tensor and every header field, so
an edited ``"method"`` is refused like an edited tensor. Loading also re-checks tensor shapes and value
ranges, that the stored alphas are exactly what the header's method / k / alpha give from the stored
AUROCs (so the label cannot disagree with what is applied, even in a file whose digest was forged), and
the model fingerprint when a model is given.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from aura_eval import __version__
from aura_eval.core.config import BASE_LABEL, InterventionConfig
from aura_eval.core.files import atomic_write
from aura_eval.core.modules import output_width, sites_of

FORMAT = "aura-eval/intervention"
FORMAT_VERSION = 2
DIGEST_FIELD = "sha256"
# Header fields the Intervention itself writes; `meta` (provenance) cannot override them.
RESERVED_FIELDS = ("format", "format_version", "method", "k", "alpha", "strength", "modules", DIGEST_FIELD, "summary")


class StateFileError(ValueError):
    """A state file that cannot be trusted or does not fit the model."""


def alphas_from_auroc(auroc: dict[str, torch.Tensor], config: InterventionConfig) -> dict[str, torch.Tensor]:
    """Per-module alphas for `config`; top-k choices are global over all modules. At a strength s below 1
    each alpha becomes 1 - s * (1 - alpha): s=0 gives all ones (the unmodified model), s=1 the method's."""
    alphas = _full_strength_alphas(auroc, config)
    if config.strength == 1.0:
        return alphas
    # computed in float64 and rounded once, so that s=0 is exactly 1 and the fold equals the hooks
    return {n: (1 - config.strength * (1 - a.double())).float() for n, a in alphas.items()}


def _full_strength_alphas(auroc: dict[str, torch.Tensor], config: InterventionConfig) -> dict[str, torch.Tensor]:
    if config.method == "aura":
        return {n: torch.where(a > 0.5, 1 - 2 * (a - 0.5), torch.ones_like(a)).float() for n, a in auroc.items()}
    if config.method == "none":
        return {n: torch.ones_like(a, dtype=torch.float32) for n, a in auroc.items()}
    # 2-D (experts x units) entries rank with the rest; a NaN AUROC (an expert unit without responses) is never chosen.
    flat = torch.cat([a.flatten() for a in auroc.values()])
    total = int((~torch.isnan(flat)).sum())
    if config.k > total:
        raise ValueError(f"method={config.method} needs k, the number of units to change, in 1..{total}; got {config.k}")
    # Stable descending order: ties at the k-th place resolve to the earlier module / unit.
    top = torch.sort(torch.nan_to_num(flat, nan=-1.0), descending=True, stable=True).indices[: config.k]
    flat_alpha = torch.ones_like(flat, dtype=torch.float32)
    flat_alpha[top] = float(config.alpha)
    parts = flat_alpha.split([a.numel() for a in auroc.values()])
    return {n: part.reshape(a.shape) for (n, a), part in zip(auroc.items(), parts)}


def model_fingerprint(model: nn.Module, module_names: list[str]) -> dict:
    """What a state file must match: the architecture and the width of every hooked module."""
    config = getattr(model, "config", None)
    architectures = getattr(config, "architectures", None) or [type(model).__name__]
    named = sites_of(model)
    missing = [n for n in module_names if n not in named]
    if missing:
        raise StateFileError(
            f"The model has no module(s) {missing[:5]}{' ...' if len(missing) > 5 else ''}: "
            "this intervention was learned on another architecture"
        )
    try:
        widths = {n: output_width(named[n]) for n in module_names}
    except ValueError as e:
        raise StateFileError(f"this intervention names a module this model does not hook: {e}") from None
    return {
        "architecture": architectures[0],
        "model_type": getattr(config, "model_type", None),
        "module_widths": widths,
    }


def _feed(h, data: bytes) -> None:
    """Length-prefixed, so that no two different inputs feed the hash the same byte stream."""
    h.update(len(data).to_bytes(8, "little"))
    h.update(data)


def canonical_header(header: dict) -> bytes:
    """The header as hashed: every field but the digest, as JSON with sorted keys and no spaces."""
    fields = {k: v for k, v in header.items() if k != DIGEST_FIELD}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def state_digest(tensors: dict[str, torch.Tensor], header: dict) -> str:
    """sha256 over every tensor (name, dtype, shape, bytes; sorted by name) and `canonical_header`."""
    h = hashlib.sha256()
    _feed(h, f"{FORMAT} v{FORMAT_VERSION}".encode())
    for name in sorted(tensors):
        t = tensors[name].contiguous().cpu()
        _feed(h, name.encode())
        _feed(h, f"{t.dtype}{tuple(t.shape)}".encode())
        _feed(h, t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    _feed(h, canonical_header(header))
    return h.hexdigest()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_state_file(path: str | Path, tensors: dict[str, torch.Tensor], header: dict) -> Path:
    """Write atomically: into a hidden temporary file beside `path`, then `os.replace`, so an
    interrupted save never leaves a half-written file (or a half-overwritten old one) behind."""
    from safetensors.torch import save_file

    # safetensors creates 0600 files; a state file is meant to be shared
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={"aura": json.dumps(header, sort_keys=True)}),
                        mode=0o666 & ~_umask())


def _header_config(header: dict, path: Path) -> InterventionConfig:
    """The header's method / k / alpha with strict JSON types, validated by InterventionConfig."""
    method, k, alpha, strength = header.get("method"), header.get("k"), header.get("alpha"), header.get("strength", 1.0)
    if not isinstance(method, str):
        raise StateFileError(f"{path}: header field 'method' must be a string, got {method!r}")
    if k is not None and (isinstance(k, bool) or not isinstance(k, int)):
        raise StateFileError(f"{path}: header field 'k' must be a whole number or null, got {k!r}")
    if alpha is not None and (isinstance(alpha, bool) or not isinstance(alpha, (int, float))):
        raise StateFileError(f"{path}: header field 'alpha' must be a number or null, got {alpha!r}")
    if isinstance(strength, bool) or not isinstance(strength, (int, float)):
        raise StateFileError(f"{path}: header field 'strength' must be a number, got {strength!r}")
    try:
        return InterventionConfig(method, k, alpha, strength)
    except ValueError as e:
        raise StateFileError(f"{path}: header {e}") from None


def _check_alphas_follow(path: Path, config: InterventionConfig, auroc: dict, alphas: dict) -> None:
    """The stored alphas must be exactly what the header's method gives from the stored AUROCs:
    the variant label is then a true description of what is applied."""
    try:
        expected = alphas_from_auroc(auroc, config)
    except ValueError as e:
        raise StateFileError(f"{path}: header {e}") from None
    for name, stored in alphas.items():
        if not torch.equal(expected[name], stored):
            raise StateFileError(
                f"{path}: the alphas of module {name} are not what method={config.method} gives from the file's "
                f"AUROCs (k={config.k}, alpha={config.alpha}): the header does not describe the intervention"
            )


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
        """The label of what is applied: ``base`` exactly when every alpha is 1, else the method's label."""
        if all(bool(torch.all(a == 1)) for a in self.alphas.values()):
            return BASE_LABEL
        return self.config.label

    def summary(self) -> dict:
        """Numbers worth logging: unit counts, experts, and how much the model is changed."""
        flat_auroc = torch.cat([a.flatten() for a in self.auroc.values()]) if self.auroc else torch.empty(0, dtype=torch.float64)
        flat_alpha = torch.cat([a.flatten() for a in self.alphas.values()]) if self.alphas else torch.empty(0)
        experts = {(n.rpartition(".")[0], int(e)) for n, a in self.auroc.items() if a.ndim == 2
                   for e in torch.nonzero(torch.isnan(a).all(dim=1)).flatten()}
        unscored = {  # experts sites only: units / experts (of a layer) that too few sentences reached (NaN, alpha 1)
            "n_units_unscored": int(torch.isnan(flat_auroc).sum()),
            "n_routed_experts_unscored": len(experts),
        } if any(a.ndim == 2 for a in self.auroc.values()) else {}
        n_units, flat_auroc = int(flat_auroc.numel()), flat_auroc[~torch.isnan(flat_auroc)]
        return {
            "n_modules": len(self.auroc),
            "n_units": n_units,
            "n_experts": int((flat_auroc > 0.5).sum()),
            "n_units_changed": int((flat_alpha != 1).sum()),
            "auroc_max": float(flat_auroc.max()) if flat_auroc.numel() else None,
            "auroc_mean": float(flat_auroc.mean()) if flat_auroc.numel() else None,
            "alpha_min": float(flat_alpha.min()) if flat_alpha.numel() else None,
            "alpha_mean": float(flat_alpha.mean()) if flat_alpha.numel() else None,
            **unscored,
        }

    # -- state file -------------------------------------------------------------------------
    def header(self) -> dict:
        """The JSON header (without the digest), exactly as `load` will read it back."""
        header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "aura_eval_version": __version__,
            **{k: v for k, v in self.meta.items() if k not in RESERVED_FIELDS},
            "method": self.method,
            "k": self.k,
            "alpha": self.alpha,
            **({"strength": self.config.strength} if self.config.strength != 1.0 else {}),  # older files: none
            "modules": list(self.auroc),
            "summary": self.summary(),
        }
        return json.loads(json.dumps(header))  # tuples -> lists etc.: the digest sees what a reader sees

    def tensors(self) -> dict[str, torch.Tensor]:
        tensors = {f"auroc.{n}": a.contiguous() for n, a in self.auroc.items()}
        tensors.update({f"alpha.{n}": a.contiguous() for n, a in self.alphas.items()})
        return tensors

    def save(self, path: str | Path) -> Path:
        """Write the state file atomically (overwriting `path`; callers decide whether that is allowed)."""
        try:
            _check_alphas_follow(Path(path), self.config, self.auroc, self.alphas)
        except StateFileError as e:
            raise ValueError(f"refusing to save an inconsistent intervention: {e}") from None
        tensors, header = self.tensors(), self.header()
        header[DIGEST_FIELD] = state_digest(tensors, header)
        return write_state_file(path, tensors, header)

    @classmethod
    def load(cls, path: str | Path, model: nn.Module | None = None) -> Intervention:
        """Read and verify a state file; with `model`, also check it fits that model."""
        path = Path(path)
        tensors, header = _read_state_file(path)
        _check_format(header, path)
        if header.get(DIGEST_FIELD) != state_digest(tensors, header):
            raise StateFileError(
                f"{path}: contents do not match the header's {DIGEST_FIELD} (which covers every tensor and every "
                "header field): the file was modified or is corrupt"
            )
        modules = header.get("modules")
        if not isinstance(modules, list) or not all(isinstance(n, str) for n in modules):
            raise StateFileError(f"{path}: header field 'modules' must be a list of module names")
        expected = {f"{p}.{n}" for n in modules for p in ("auroc", "alpha")}
        if set(tensors) != expected:
            raise StateFileError(f"{path}: tensors {sorted(set(tensors) ^ expected)[:4]} do not match the header's module list")
        auroc = {n: tensors[f"auroc.{n}"] for n in modules}
        alphas = {n: tensors[f"alpha.{n}"] for n in modules}
        fingerprint = header.get("fingerprint") or {}
        if not isinstance(fingerprint, dict) or not isinstance(fingerprint.get("module_widths") or {}, dict):
            raise StateFileError(f"{path}: header field 'fingerprint' must be an object with 'module_widths' an object")
        _check_tensors(path, auroc, alphas, fingerprint.get("module_widths") or {})
        config = _header_config(header, path)
        _check_alphas_follow(path, config, auroc, alphas)
        meta = {k: v for k, v in header.items() if k not in RESERVED_FIELDS}
        intervention = cls(config, auroc, alphas, meta)
        if model is not None:
            intervention.check_fits(model, source=str(path))
        return intervention

    def check_fits(self, model: nn.Module, source: str = "this intervention") -> None:
        """Fail clearly when the model is not the one the AUROCs were learned on."""
        saved = self.meta.get("fingerprint")
        current = model_fingerprint(model, list(self.auroc))
        sites = sites_of(model)
        for name, a in self.auroc.items():
            shape = getattr(sites[name], "shape", None)  # an experts projection: (experts, units)
            if current["module_widths"][name] != a.numel() or (shape is not None and tuple(a.shape) != tuple(shape)):
                raise StateFileError(
                    f"{source}: module {name} has {current['module_widths'][name]} units in this model "
                    f"but {a.numel()} in the state file: it was learned on another model size"
                )
        if saved and saved.get("architecture") != current["architecture"]:
            raise StateFileError(
                f"{source} was learned on {saved.get('architecture')} "
                f"({self.meta.get('model_name', '?')}), not on this {current['architecture']}"
            )


def _read_state_file(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    from safetensors import safe_open

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
    if not isinstance(header, dict):
        raise StateFileError(f"{path}: the 'aura' header is not a JSON object")
    return tensors, header


def _check_format(header: dict, path: Path) -> None:
    version = header.get("format_version")
    if header.get("format") != FORMAT:
        raise StateFileError(f"{path}: not an aura-eval intervention (format {header.get('format')!r}, expected {FORMAT!r})")
    if version == 1:
        raise StateFileError(
            f"{path}: format v1 (its hash did not cover the header) is no longer read: "
            f"re-run `aura-eval learn` to write a v{FORMAT_VERSION} state file"
        )
    if version != FORMAT_VERSION:
        raise StateFileError(f"{path}: unsupported format version {version!r}; this aura-eval reads v{FORMAT_VERSION}")


def _check_tensors(path: Path, auroc: dict, alphas: dict, widths: dict) -> None:
    for n, a in auroc.items():
        al = alphas[n]
        if a.dtype != torch.float64 or al.dtype != torch.float32:
            raise StateFileError(f"{path}: module {n}: AUROCs must be float64 and alphas float32, got {a.dtype} / {al.dtype}")
        if a.ndim not in (1, 2) or a.shape != al.shape or (widths and widths.get(n) != a.numel()):
            raise StateFileError(f"{path}: tensors of module {n} have inconsistent shapes {tuple(a.shape)} / {tuple(al.shape)}")
        scored = a[~torch.isnan(a)] if a.ndim == 2 else a  # NaN: an expert unit without responses (2-D only)
        if not (torch.isfinite(scored).all() and (scored >= 0).all() and (scored <= 1).all()):
            raise StateFileError(f"{path}: AUROCs of module {n} are outside [0, 1]")
        if not (torch.isfinite(al).all() and (al >= 0).all() and (al <= 1).all()):
            raise StateFileError(f"{path}: alphas of module {n} are outside [0, 1]")

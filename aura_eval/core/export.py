"""The one writer of folded checkpoints: `aura-eval export` and compare's aura-folded cache.

Both load the model on the CPU, fold the state file's alphas into its weights (`hooks.fold`), save a plain
checkpoint, and write `FOLDED_MARKER` last, with one schema: the variant, the model and state file by
name and content, the intervention's summary, and the size, mtime and sha256 of every file written (so a
cached copy is verified on use, see `core.files.cached_folder`).
"""

from __future__ import annotations

from pathlib import Path

from aura_eval.core.config import InterventionConfig
from aura_eval.core.files import atomic_folder, cached_folder, sha256_file, write_marker
from aura_eval.core.hooks import fold
from aura_eval.core.intervention import Intervention
from aura_eval.core.loading import (
    ModelRef,
    check_can_create,
    check_not_in_hub_cache,
    is_inside,
    load_model,
    model_digest,
    save_plain,
)
from aura_eval.core.names import FOLDED_MARKER


def check_export_out(out: str | Path, model: ModelRef, state_file: str | Path, overwrite: bool = False) -> Path:
    """Refuse, before the model is loaded, an export that could destroy or double-fold weights: `out`
    may be neither a file, nor the source model folder (or inside it, or holding it), nor in or around the
    Hugging Face cache, nor a folder holding the state file; a non-empty folder needs `overwrite`. A source
    that is itself a folded checkpoint is refused, so alphas can never be folded in twice. An `out` that is
    a symlink to a folder stands for that folder (returned resolved)."""
    out = Path(out).expanduser()
    if out.is_symlink():
        out = out.resolve()
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; export writes a checkpoint folder: give a new or empty folder")
    source = model.local_dir
    if source is not None and (is_inside(out, source) or is_inside(source, out)):
        raise ValueError(
            f"--out {out} is, holds or lies inside the source model folder {source}: export never writes over its "
            "own input (--overwrite does not allow this); choose another folder"
        )
    check_not_in_hub_cache(out)
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


def folded_marker(intervention: Intervention, state_file: str | Path, model: dict) -> dict:
    """The marker's content but the file stamps: what was folded into which model, by name and content
    (no path of this machine)."""
    return {"variant": intervention.variant, "model": model,
            "state": {"file": Path(state_file).name, "sha256": sha256_file(state_file)},
            "summary": intervention.summary()}


def fold_into(model: ModelRef, state_file: str | Path, folder: Path, config: InterventionConfig | None = None,
              **load_kwargs) -> Intervention:
    """Load `model` on the CPU, fold the state file's alphas (re-derived under `config`) into its weights,
    and save the plain checkpoint into `folder`; returns the intervention folded."""
    lm, tokenizer = load_model(model, device="cpu", **{"revision": model.revision, **load_kwargs})
    intervention = Intervention.load(state_file, model=lm)
    if config is not None:
        intervention = intervention.with_config(config)
    fold(lm, intervention)
    save_plain(lm, tokenizer, folder)
    return intervention


def model_identity(model: ModelRef) -> dict:
    """The model as the marker names it: display name, and the content digest of a local model or the Hub
    id and revision of a Hub one."""
    digest = model_digest(model)
    if digest is None:
        return {"name": model.name, "hub_id": model.source, "revision": model.revision}
    return {"name": model.name, "sha256": digest}


def export_folded(
    model: ModelRef,
    state_file: str | Path,
    out: str | Path,
    config: InterventionConfig | None = None,
    overwrite: bool = False,
    **load_kwargs,
) -> Intervention:
    """Fold the intervention in `state_file` (re-derived under `config` when given) into `model`'s weights
    and save a plain checkpoint at `out` (written beside it, then renamed into place), with `FOLDED_MARKER`
    describing what was folded."""
    out = check_export_out(out, model, state_file, overwrite)
    identity, folded = model_identity(model), []

    def write(folder: Path) -> None:
        folded.append(fold_into(model, state_file, folder, config, **load_kwargs))
        write_marker(folder, FOLDED_MARKER, folded_marker(folded[-1], state_file, identity))

    atomic_folder(out, write, replace=True)
    return folded[-1]


def cached_export(model: ModelRef, state_file: str | Path, folder: Path, model_id: dict) -> Path | None:
    """compare's aura-folded checkpoint: `folder` in aura-eval's cache, exported once and verified on every
    use (rebuilt once when damaged; two compares filling it at once share one copy). None, with a warning,
    when the cache cannot be written."""
    def build(target: Path) -> dict:
        return folded_marker(fold_into(model, state_file, target), state_file, model_id)

    return cached_folder(Path(folder), build, FOLDED_MARKER, "the aura-folded checkpoint")

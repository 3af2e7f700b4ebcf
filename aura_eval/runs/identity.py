"""Content identities: what a model, a data file, the task definitions and a toxicity scorer *are*.

A run spec names things by what decides the numbers, never by where they lie on this machine: a local
model by the sha256 of its files (remembered by path, size and mtime, so a 7B model is hashed once), a
data file by its name, sha256 and path relative to the data folder, the code by one digest of
`tasks/` and every file of the aura_eval package, a scorer by its name and the digest of its weights.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

import aura_eval
from aura_eval.core.files import cached_sha256, sha256_file, sha256_lines
from aura_eval.core.loading import ModelRef, model_digest
from aura_eval.core.names import (
    SCORER_KEY,
    ZEROSHOT_GROUP,
)
from aura_eval.harness import tasks_dir
from aura_eval.harness.taskdata import KINDS, data_dir_from, resolve_data_file

# The custom_dataset loaders of tasks/*.yaml, by the data kind (harness.taskdata.KINDS) they read.
LOADER_KINDS = {"aura_tasks.load_rtp": "rtp", "aura_tasks.load_nontoxic": "nontoxic", "aura_tasks.load_toxic": "toxic"}
TOXICITY_CLASS = "aura_tasks.AuraToxicityTask"  # tasks of this class score continuations with a toxicity scorer
ZEROSHOT_CLASS = "aura_tasks.ZeroShotGroup"
VERSIONED = {"aura-eval": None, "lm-eval": "lm_eval", "transformers": "transformers", "torch": "torch"}


# ----------------------------------------------------------------------------- models


def model_identity(ref: ModelRef) -> dict:
    """{"name", "gguf_file", "sha256"} for a local model; for a Hub id {"name", "gguf_file", "hub", "revision",
    "commit"}, the commit being what the local Hub cache resolved the revision to (None before a download)."""
    identity: dict[str, Any] = {"name": ref.name, "gguf_file": ref.gguf_file}
    digest = model_digest(ref)
    if digest is None:
        return {**identity, "hub": ref.source, "revision": ref.revision,
                "commit": hub_cached_commit(ref.source, ref.revision or "main")}
    return {**identity, "sha256": digest}


def hub_cached_commit(repo: str, revision: str = "main") -> str | None:
    """The commit the Hub cache resolved `revision` of `repo` to (offline: no request), or None."""
    try:
        from huggingface_hub.constants import HF_HUB_CACHE
    except ImportError:
        return None
    ref = Path(HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}" / "refs" / revision
    try:
        return ref.read_text().strip() or None
    except OSError:
        return None


def state_identity(path: str | Path) -> dict:
    """A state file by its name and sha256."""
    path = Path(path)
    return {"file": path.name, "sha256": sha256_file(path)}


# ----------------------------------------------------------------------------- data files


def file_identity(path: Path, data_dir: Path | None) -> dict:
    """A data file by name, sha256 and (when inside the data folder) its path relative to it."""
    relative = None
    if data_dir is not None:
        try:
            relative = path.resolve().relative_to(data_dir.resolve()).as_posix()
        except ValueError:
            relative = None
    return {"file": path.name, "sha256": cached_sha256(path), "in_data_dir": relative}


def data_identities(tasks: Iterable[str], metadata: Mapping[str, Any]) -> dict[str, dict]:
    """Every data file the tasks will read, keyed by kind (rtp, nontoxic, toxic, zeroshot:<member>).

    Resolved as the lm_eval process will resolve them (harness.taskdata, harness.zeroshot, with
    $AURA_DATA_DIR winning over metadata data_dir); a source on the Hub is named by its dataset. Zero-shot
    files are also checked for meaning, so compare refuses a wrong one before any model loads.
    """
    from aura_eval.harness.zeroshot import read_zeroshot_file, spec_of, zeroshot_file

    inputs = task_inputs(tasks)
    data_dir, _ = data_dir_from(metadata)
    found: dict[str, dict] = {}
    for kind in sorted(inputs["kinds"]):
        path = resolve_data_file(kind, metadata)
        found[kind] = file_identity(path, data_dir) if path else {"hub": KINDS[kind].hub_source}
    for member in inputs["zeroshot"]:
        spec = spec_of(member)
        path = zeroshot_file(spec, metadata)
        if path is not None:
            read_zeroshot_file(spec, path)  # checked for meaning here, before any model loads (one-line DataFileError)
            found[f"zeroshot:{member}"] = file_identity(path, data_dir)
        else:
            found[f"zeroshot:{member}"] = {"skipped": True} if data_dir is not None else {"hub": spec.dataset}
    for task in inputs["other"]:
        found[f"task:{task}"] = {"lm_eval_task": task}  # lm-eval's own task and data: lm-eval's version names it
    return found


# ----------------------------------------------------------------------------- task definitions


class _TaskYamlLoader(yaml.SafeLoader):
    """Reads tasks/*.yaml without importing their functions: `!function x.y` stays the string "x.y"."""


_TaskYamlLoader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))


def task_configs(folder: Path | None = None) -> dict[str, dict]:
    """Every task and group of `tasks/` by name, `include:` merged in."""
    folder = folder or tasks_dir()
    raw = {}
    for path in sorted(folder.iterdir()):
        if path.suffix == ".yaml" or path.name.endswith("_yaml"):
            raw[path.name] = yaml.load(path.read_text(encoding="utf-8"), Loader=_TaskYamlLoader) or {}
    configs = {}
    for config in raw.values():
        if "include" in config:
            config = {**raw.get(config["include"], {}), **config}
        name = config.get("group") or config.get("task")
        if isinstance(name, str):
            configs[name] = config
    return configs


def task_inputs(tasks: Iterable[str]) -> dict[str, Any]:
    """What `tasks` read: data kinds, zero-shot members, whether they score toxicity (and with which scorer
    metadata defaults), and the tasks that are lm-eval's own."""
    configs = task_configs()
    inputs: dict[str, Any] = {"kinds": set(), "zeroshot": [], "scorer_defaults": [], "other": []}

    def visit(name: str) -> None:
        config = configs.get(name)
        if config is None:
            inputs["other"].append(name)
            return
        if "group" in config:
            for child in config.get("task") or []:
                visit(child if isinstance(child, str) else child.get("task", ""))
            return
        if config.get("class") == ZEROSHOT_CLASS or name == ZEROSHOT_GROUP:
            inputs["zeroshot"] += [m for m in config.get("members") or [] if m not in inputs["zeroshot"]]
        kind = LOADER_KINDS.get(str(config.get("custom_dataset")))
        if kind:
            inputs["kinds"].add(kind)
        if config.get("class") == TOXICITY_CLASS:
            inputs["scorer_defaults"].append((config.get("metadata") or {}).get(SCORER_KEY))

    for task in tasks:
        visit(task)
    return inputs


def task_code_digest(package: Path | None = None) -> str:
    """One digest of the code that decides a number: tasks/ (YAMLs and aura_tasks.py) and every file of the
    aura_eval package (`package`, default the installed one), so that a change to how alphas fold
    (core/hooks.py) or how data is read (core/labelled.py) reruns as surely as a task change."""
    package = Path(package or Path(aura_eval.__file__).parent)
    named = {f"tasks/{p.name}": sha256_file(p) for p in sorted(tasks_dir().iterdir())
             if p.is_file() and (p.suffix in (".yaml", ".py") or p.name.endswith("_yaml"))}
    named.update({f"aura_eval/{p.relative_to(package).as_posix()}": sha256_file(p) for p in sorted(package.rglob("*"))
                  if p.is_file() and "__pycache__" not in p.relative_to(package).parts and p.suffix != ".pyc"})
    return sha256_lines(named)


def metadata_defaults(tasks: Iterable[str]) -> dict[str, Any]:
    """The metadata values every asked task that sets a key in its YAML agrees on (groups: their members)."""
    configs, seen, values = task_configs(), set(), {}

    def visit(name: str) -> None:
        config = configs.get(name)
        if config is None or name in seen:
            return
        seen.add(name)
        for child in (config.get("task") or []) if "group" in config else []:
            visit(child if isinstance(child, str) else child.get("task", ""))
        for key, value in (config.get("metadata") or {}).items():
            values.setdefault(key, []).append(value)

    for task in tasks:
        visit(task)
    return {key: found[0] for key, found in values.items() if all(value == found[0] for value in found)}


# ----------------------------------------------------------------------------- scorers


def scorer_names(tasks: Iterable[str], metadata: Mapping[str, Any]) -> list[str]:
    """The toxicity scorers the tasks will use ($AURA_TOXICITY_SCORER, else metadata, else each task's YAML),
    each with the scorer settings checked for it (harness.scorers.check_scorer_settings; no model loads)."""
    from aura_eval.harness.scorers import check_scorer_settings, resolve_scorer_name

    names = []
    for default in task_inputs(tasks)["scorer_defaults"]:
        merged = {SCORER_KEY: default, **{k: v for k, v in metadata.items() if k == SCORER_KEY and v}}
        name = resolve_scorer_name(merged)
        if name not in names:
            check_scorer_settings(name)
            names.append(name)
    return names


def scorer_identity(name: str) -> dict:
    """A scorer by its identity (harness.scorers.scorer_identity): its name and one sha256 over its weight
    files, the same that the results record; the package version for profanity-check."""
    from aura_eval.harness.scorers import scorer_identity as identity_of

    return identity_of(name).spec()


# ----------------------------------------------------------------------------- versions


def package_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    """aura-eval, lm-eval, transformers and torch as installed here."""
    return {name: aura_eval.__version__ if dist is None else package_version(dist) for name, dist in VERSIONED.items()}


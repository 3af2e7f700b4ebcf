"""What a variant folder holds, and what compare's folded checkpoint is called.

``<out>/<model>/<variant>/`` holds lm-eval's ``results_<date>.json`` and ``samples_<task>_<date>.jsonl``,
and beside them compare's ``command.txt`` (its marker), ``lm_eval.log``, ``compare.lock`` and one
``run_<date>.json`` per process (its run record). Runs that are no longer current go to ``stale/``, each
file renamed ``<name>.stale``; a set-aside run stays whole there, so a later compare whose run spec is
its again moves it back instead of rerunning it. The folded checkpoint of aura-folded lives in the cache,
``<cache>/folded/<model>-<digest>``; compare names its source model in the run's metadata
(`FOLDED_SOURCE_KEY`), which is what the report reads.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from aura_eval.core.files import cache_dir, sha256_bytes
from aura_eval.core.loading import ModelRef
from aura_eval.core.names import COMPARE_LOG, COMPARE_MARKER, RUN_RECORD_PREFIX, STALE_DIR

STALE_SUFFIX = ".stale"
FOLDED_CACHE_DIR = "folded"  # <cache>/folded/<model>-<digest>
FOLDED_DIGEST_CHARS = 12
FOLDED_SOURCE_KEY = "aura_folded_model"  # task metadata of an aura-folded run: the model it was folded from


def safe_name(name: str, what: str) -> str:
    """`name` as one safe path component: other characters become `_`, no leading dot, never `..`."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", str(name)).strip("._")
    if not cleaned:
        raise ValueError(f"{what} {name!r} cannot name a results folder; choose a name with letters or digits")
    return cleaned


# ----------------------------------------------------------------------------- runs in a variant folder


def record_path(results: Path) -> Path:
    """run_<date>.json beside lm-eval's results_<date>.json (for a set-aside run: both with .stale)."""
    name = results.name.removesuffix(STALE_SUFFIX)
    suffix = results.name[len(name):]
    return results.with_name(RUN_RECORD_PREFIX + name.removeprefix("results_") + suffix)


def date_of(results: Path) -> str:
    return results.name.removesuffix(STALE_SUFFIX).removeprefix("results_").removesuffix(".json")


def read_json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def tasks_in(path: Path) -> set[str]:
    """Tasks and groups a results file holds; none when it cannot be read."""
    data = read_json(path) or {}
    return {name for key in ("results", "groups", "group_subtasks") if isinstance(data.get(key), dict)
            for name in data[key]}


@dataclass
class PastRun:
    """A results file in a variant folder (or set aside in its stale/), with its run record (None: none)."""

    results: Path
    tasks: set[str]
    record: dict | None
    stale: bool = False  # set aside in stale/: every file named <name>.stale

    @property
    def name(self) -> str:
        return self.results.name.removesuffix(STALE_SUFFIX) if self.stale else self.results.name

    @property
    def date(self) -> str:
        return date_of(self.results)

    @property
    def spec(self) -> dict | None:
        spec = (self.record or {}).get("spec")
        return spec if isinstance(spec, dict) else None

    def recorded_tasks(self) -> list[str] | None:
        """The tasks its run spec names, when it names them well."""
        tasks = (self.spec or {}).get("tasks")
        ok = isinstance(tasks, list) and tasks and all(isinstance(t, str) for t in tasks)
        return list(tasks) if ok else None

    def file(self, name: str) -> Path:
        """Where a file of this run named `name` (as lm-eval wrote it) lies now."""
        return self.results.parent / (f"{name}{STALE_SUFFIX}" if self.stale else name)

    def missing_files(self) -> list[str]:
        """Files its record names that are not there: such a part is not complete."""
        named = (self.record or {}).get("samples") or []
        return [str(name) for name in named if not self.file(str(name)).is_file()]

    def files(self) -> list[Path]:
        """Its results file, run record and samples files, as they lie now."""
        samples = sorted(self.results.parent.glob(f"samples_*_{self.date}.jsonl{STALE_SUFFIX if self.stale else ''}"))
        return [path for path in (self.results, record_path(self.results), *samples) if path.is_file()]


def past_runs(vdir: Path) -> list[PastRun]:
    """The results files in a variant folder (also in the lm-eval subfolder older versions wrote), oldest first."""
    if not vdir.is_dir():
        return []
    runs = []
    for path in sorted(vdir.rglob("results_*.json")):
        if STALE_DIR not in path.relative_to(vdir).parts[:-1]:
            runs.append(PastRun(path, tasks_in(path), read_json(record_path(path))))
    return runs


def stale_runs(vdir: Path) -> list[PastRun]:
    """The runs set aside whole in <vdir>/stale/ (those renamed on a name clash are not restored), oldest first."""
    return [PastRun(path, tasks_in(path), read_json(record_path(path)), stale=True)
            for path in sorted((vdir / STALE_DIR).glob(f"results_*.json{STALE_SUFFIX}"))]


def set_aside(run: PastRun, vdir: Path, dry_run: bool) -> list[str]:
    """Move a run's results, run record and samples to <vdir>/stale/ as *.stale; returns their names."""
    files = run.files()
    if not dry_run:
        target_dir = vdir / STALE_DIR
        target_dir.mkdir(parents=True, exist_ok=True)
        for path in files:
            target = target_dir / f"{path.name}{STALE_SUFFIX}"
            n = 1
            while target.exists():
                target, n = target_dir / f"{path.name}.{n}{STALE_SUFFIX}", n + 1
            shutil.move(str(path), str(target))
    return [path.name for path in files]


def restore(run: PastRun, vdir: Path, dry_run: bool) -> list[str]:
    """Move a set-aside run back into the variant folder under the names lm-eval gave it; returns them."""
    files = run.files()
    names = [path.name.removesuffix(STALE_SUFFIX) for path in files]
    clash = [name for name in names if (vdir / name).exists()]
    if clash:
        raise RuntimeError(f"cannot restore {run.name} from {vdir / STALE_DIR}: {', '.join(clash)} exists in {vdir}")
    if not dry_run:
        for path, name in zip(files, names):
            shutil.move(str(path), str(vdir / name))
    return names


def compare_files(vdir: Path) -> list[Path]:
    """What compare wrote in a variant folder: its marker and log, run records and the lm-eval files of the
    runs it started, and what it set aside in stale/. Anything else there is someone else's."""
    if not (vdir / COMPARE_MARKER).is_file():
        return []
    files = [vdir / COMPARE_MARKER, vdir / COMPARE_LOG]
    for results in sorted(vdir.glob("results_*.json")):
        files += [results, record_path(results), *sorted(vdir.glob(f"samples_*_{date_of(results)}.jsonl"))]
    files += sorted(vdir.glob(f"{RUN_RECORD_PREFIX}*.json"))
    files += sorted((vdir / STALE_DIR).glob(f"*{STALE_SUFFIX}"))
    return [path for path in dict.fromkeys(files) if path.is_file() and not path.is_symlink()]


# ----------------------------------------------------------------------------- the folded checkpoint's name


def folded_cache(model: ModelRef, model_id: dict, state: dict | None, versions: dict) -> Path:
    """Folded checkpoints are large: keep them in the cache, keyed by the model's content identity, the state
    file's digest and the versions that fold and save them."""
    key = json.dumps({"model": model_id, "state_sha256": (state or {}).get("sha256"), "versions": versions},
                     sort_keys=True).encode()
    digest = sha256_bytes(key)[:FOLDED_DIGEST_CHARS]
    return cache_dir() / FOLDED_CACHE_DIR / f"{safe_name(model.name, '--model-name')}-{digest}"


def folded_source(results: dict) -> str | None:
    """The model an aura-folded run was folded from, as compare named it in the run's task metadata."""
    configs = results.get("configs") if isinstance(results.get("configs"), dict) else {}
    for config in configs.values():
        metadata = config.get("metadata") if isinstance(config, dict) else None
        if isinstance(metadata, dict) and isinstance(metadata.get(FOLDED_SOURCE_KEY), str):
            return metadata[FOLDED_SOURCE_KEY]
    return None


def folded_cache_model(pretrained: str) -> str | None:
    """For results written before compare named the source (`folded_source`): the model part of a folded
    cache entry's folder name, ``.../folded/<model>-<digest>``, else None."""
    path = PurePosixPath(pretrained.replace("\\", "/").rstrip("/"))
    model, dash, digest = path.name.rpartition("-")
    if (path.parent.name != FOLDED_CACHE_DIR or not model or not dash or len(digest) != FOLDED_DIGEST_CHARS
            or any(c not in "0123456789abcdef" for c in digest)):
        return None
    return model


def leaf_tasks(path: Path) -> list[str]:
    """The tasks of a results file that have per-sample logs (those with a config; groups have none)."""
    data = read_json(path) or {}
    configs = data.get("configs") if isinstance(data.get("configs"), dict) else None
    if configs is not None:
        return sorted(configs)
    groups = data.get("groups") if isinstance(data.get("groups"), dict) else {}
    return sorted(set(data.get("results") or {}) - set(groups))


def short_samples(results: Path, names: list[str]) -> list[str]:
    """The samples files that are missing, or hold fewer lines than the documents the results file counts."""
    counts = (read_json(results) or {}).get("n-samples")
    counts = counts if isinstance(counts, dict) else {}
    date, short = date_of(results), []
    for name in names:
        path = results.parent / name
        task = name.removeprefix("samples_").removesuffix(f"_{date}.jsonl")
        expected = (counts.get(task) or {}).get("effective") if isinstance(counts.get(task), dict) else None
        if not path.is_file():
            short.append(name)
        elif isinstance(expected, int):
            with open(path, "rb") as f:
                if sum(1 for line in f if line.strip()) < expected:
                    short.append(name)
    return short

"""Reading lm-eval's results files: who each run measured (model, variant) and what it found.

One `RunFile` per `results_*.json`. Who a file measured comes from where it lies when `aura-eval compare`
wrote it (``<out>/<model>/<variant>/``, marked by the ``command.txt`` compare writes there), else from what
the file says (our `aura-hf` model's ``config.aura`` block, else the display name of ``pretrained=``).
A row is experiment x model x variant. The experiment is the folder compare's `--out` named, relative to the
folder given to `report` ("" when that folder is the experiment itself, and for files outside compare's
layout); `merge_rows` groups the files of each experiment by model x variant, task by task, and refuses two
runs that claim the same experiment x model x variant x task from different folders.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import NamedTuple

from aura_eval.core.loading import ModelRef
from aura_eval.core.names import (  # noqa: F401  (COMPARE_MARKER, FOLDED_VARIANT re-exported)
    BASE_VARIANT,
    COMPARE_MARKER,
    FOLDED_VARIANT,
    STALE_DIR,
)
from aura_eval.core.text import printable
from aura_eval.runs.layout import folded_cache_model, folded_source
from aura_eval.runs.spec import key_values

log = logging.getLogger(__name__)



@dataclass
class TaskResult:
    """One task's metrics and config from one results file."""

    metrics: dict
    config: dict
    source: Path
    limit: float | None  # lm-eval's --limit for the run: such numbers are a smoke test, not a benchmark
    documents: int | None = None  # lm-eval's n-samples.<task>.effective: the documents the value rests on


@dataclass
class RunFile:
    """One lm-eval results file: who it measured and what it found."""

    path: Path
    model: str
    variant: str
    timestamp: float
    tasks: dict[str, TaskResult] = field(default_factory=dict)
    # The run this file belongs to: its compare variant folder, else the folder lm-eval wrote it to.
    # Files of one folder are one resumable run; two folders claiming one model x variant x task conflict.
    folder: Path | None = None
    experiment: str = ""  # compare's --out folder relative to the report's folder; "" for the folder itself
    loose_dir: str | None = None  # outside compare's layout: the file's folder relative to the report's folder


class Row(NamedTuple):
    """One leaderboard row."""

    experiment: str
    model: str
    variant: str

    @property
    def name(self) -> str:
        """How the leaderboard and `--pair` name the row: [EXPERIMENT/]MODEL/VARIANT."""
        return "/".join(part for part in self if part)


def find_result_files(results_dir: Path) -> list[Path]:
    """lm-eval names its aggregated output `results_<timestamp>.json`, at any depth.

    Symlinks are followed while they stay inside `results_dir` (each file is read once, at its real place);
    one that points outside is left out with a warning. compare's `stale/` folders (runs set aside) are
    never read: a results file left un-renamed there is named in a warning, and the current run stays.
    """
    root = results_dir.resolve()
    found: set[Path] = set()
    seen_dirs = {root}
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as error:
            log.warning("skipping folder %s: not readable (%s)", printable(folder), error)
            continue
        for entry in entries:
            path = Path(entry.path)
            if entry.is_symlink():
                target = path.resolve()
                if not target.is_relative_to(root):
                    log.warning("skipping %s: a symlink to %s, outside %s", printable(path), printable(target),
                                printable(root))
                    continue
                path = target
            if path.is_dir() and entry.name == STALE_DIR:
                warn_stale(path)
            elif path.is_dir():
                if path not in seen_dirs:
                    seen_dirs.add(path)
                    pending.append(path)
            elif path.is_file() and re.fullmatch(r"results_.*\.json", path.name):
                found.add(path)
    return sorted(found)


def warn_stale(folder: Path) -> None:
    """A set-aside folder holding results files that still look current (not renamed *.stale) is said so."""
    try:
        kept = sorted(path.name for path in folder.rglob("results_*.json"))
    except OSError:
        kept = []
    if kept:
        log.warning("skipping %s: compare's folder of runs set aside; %s in it not reported (the current run is)",
                    printable(folder), printable(", ".join(kept[:3]) + (", ..." if len(kept) > 3 else "")))


def old_layout(results: dict) -> bool:
    """lm-eval 0.3 wrote metrics without a filter ("acc", not "acc,none"): numbers, and no key with a comma."""
    keys = [key for metrics in results.values() if isinstance(metrics, dict) for key, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)]
    return bool(keys) and not any("," in str(key) for key in keys)


def load_run(path: Path, results_dir: Path) -> RunFile | None:
    """Read one results file; None (with a warning) when it is not lm-eval's results layout.

    A number lm-eval cannot have written (infinite, or an integer beyond a float) is a ValueError naming
    the file and the field.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:  # ValueError: JSON, or an integer of >4300 digits
        log.warning("skipping %s: not readable JSON (%s)", printable(path), printable(error))
        return None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        log.warning("skipping %s: no 'results' table, so not an lm-eval results file", printable(path))
        return None
    if old_layout(data["results"]):
        log.warning("skipping %s: lm-eval 0.3's layout (metrics without a filter, e.g. 'acc' for 'acc,none'); "
                    "rerun with lm-eval 0.4 or later", printable(path))
        return None
    config = data.get("config") if isinstance(data.get("config"), dict) else {}
    variant_dir = compare_folder(path)
    if variant_dir is not None:
        model, variant = variant_dir.parent.name, variant_dir.name
        check_claimed_variant(path, variant, config)
    else:
        model, variant = model_of(data, config), variant_of(config, data)
    run = RunFile(path=path, model=model, variant=variant, timestamp=timestamp_of(data, path),
                  folder=variant_dir or path.parent, experiment=experiment_of(variant_dir, results_dir),
                  loose_dir=None if variant_dir else relative_dir(path.parent, results_dir))
    configs = data.get("configs") if isinstance(data.get("configs"), dict) else {}
    groups = data.get("groups") if isinstance(data.get("groups"), dict) else {}
    counts = data.get("n-samples") if isinstance(data.get("n-samples"), dict) else {}
    for task in set(data["results"]) | set(groups):
        metrics = data["results"].get(task) or groups.get(task)
        if isinstance(metrics, dict):
            check_finite(metrics, path, task)
            task_config = configs.get(task) if isinstance(configs.get(task), dict) else {}
            run.tasks[task] = TaskResult(metrics, task_config, path, config.get("limit"), documents_of(counts, task))
    return run


def experiment_of(variant_dir: Path | None, results_dir: Path) -> str:
    """compare's --out folder (``<out>/<model>/<variant>/``) relative to the report's folder; "" outside compare."""
    if variant_dir is None:
        return ""
    try:
        relative = variant_dir.resolve().parent.parent.relative_to(Path(results_dir).resolve())
    except ValueError:
        return ""
    return "" if relative == Path(".") else relative.as_posix()


def relative_dir(folder: Path, results_dir: Path) -> str:
    try:
        return folder.resolve().relative_to(Path(results_dir).resolve()).as_posix()
    except ValueError:
        return ""


def check_finite(metrics: dict, path: Path, task: str) -> None:
    """lm-eval writes NaN for an undefined metric, never an infinity or an integer beyond a float."""
    for key, value in metrics.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        try:
            finite = math.isfinite(float(value))
        except OverflowError:
            finite = False
        if not finite and not (isinstance(value, float) and math.isnan(value)):
            raise ValueError(f"{printable(path)}: results.{printable(task)}.{printable(key)} is "
                             f"{str(value)[:20]}{'...' if len(str(value)) > 20 else ''}, not a finite number")


def documents_of(counts: dict, task: str) -> int | None:
    """lm-eval's ``n-samples.<task>.effective``: how many documents the task's values rest on."""
    entry = counts.get(task)
    effective = entry.get("effective") if isinstance(entry, dict) else None
    return effective if isinstance(effective, int) and not isinstance(effective, bool) else None


def compare_folder(path: Path) -> Path | None:
    """The ``<out>/<model>/<variant>/`` folder `compare` wrote `path` to, or None outside that layout.

    compare now writes results straight into the variant folder; earlier versions let lm-eval put them
    one folder deeper, in a subfolder named after ``pretrained=`` (results/ still holds such runs).
    """
    for folder in (path.parent, path.parent.parent):
        if (folder / COMPARE_MARKER).is_file():
            return folder
    return None


def check_claimed_variant(path: Path, variant: str, config: dict) -> None:
    """A compare folder names the variant; a results file in it that claims another one was moved there."""
    aura = config.get("aura") if isinstance(config.get("aura"), dict) else {}
    claimed = aura.get("variant")
    if claimed and str(claimed) != variant:
        log.warning("%s lies in compare's %r folder but its config.aura.variant is %r; reported as %r",
                    printable(path), variant, claimed, variant)


def model_of(data: dict, config: dict) -> str:
    """Our aura-hf model names itself; plain lm-eval runs are named by `pretrained=`, shown by display name."""
    aura = config.get("aura") if isinstance(config.get("aura"), dict) else {}
    if aura.get("model_name"):
        return str(aura["model_name"])
    model_args = config.get("model_args")
    pretrained = pretrained_of(model_args)
    if pretrained:
        folded = folded_model_of(pretrained, data)
        return folded or display_name(pretrained, model_arg(model_args, "gguf_file"))
    return str(data.get("model_name") or config.get("model") or "unknown")


def variant_of(config: dict, data: dict | None = None) -> str:
    """The aura config names the variant; a plain `hf` run of compare's folded cache is aura-folded; else base."""
    aura = config.get("aura") if isinstance(config.get("aura"), dict) else {}
    if aura.get("variant"):
        return str(aura["variant"])
    pretrained = pretrained_of(config.get("model_args"))
    if pretrained and folded_model_of(pretrained, data):
        return FOLDED_VARIANT
    return BASE_VARIANT


def model_arg(model_args, key: str) -> str | None:
    """One value of lm-eval's model_args, given as "k=v,k=v" or as a dict."""
    if isinstance(model_args, dict):
        value = model_args.get(key)
        return str(value) if value else None
    if isinstance(model_args, str):
        for name, value in key_values(model_args):
            if name == key and value:
                return value
    return None


def pretrained_of(model_args) -> str | None:
    """The `pretrained` value of lm-eval's model_args, given as "k=v,k=v" or as a dict."""
    return model_arg(model_args, "pretrained")


def is_local_path(text: str) -> bool:
    """A path on some machine (absolute, home- or dot-relative, or here), as opposed to a Hub id."""
    return (text.startswith(("/", "~", "./", "../", "\\")) or PureWindowsPath(text).drive != ""
            or Path(text).exists())


def path_name(text: str) -> str:
    """The last component of a POSIX or Windows path, whichever machine wrote it."""
    return PureWindowsPath(text).name if "\\" in text else PurePosixPath(text).name


def display_name(pretrained: str, gguf_file: str | None = None) -> str:
    """What `ModelRef` calls a model (its naming), for a path written on any machine (POSIX or Windows)."""
    local = is_local_path(pretrained)
    source = pretrained.replace("\\", "/").rstrip("/") if local else pretrained
    name = ModelRef.name_of(source, gguf_file.replace("\\", "/") if gguf_file else None, local=local)
    return name or pretrained


def folded_model_of(pretrained: str, data: dict | None = None) -> str | None:
    """The model an aura-folded run (plain `hf` on compare's folded checkpoint) was folded from, else None:
    what compare wrote in the run's metadata, or for older results the name of the cache entry (runs.layout)."""
    if not is_local_path(pretrained):
        return None
    return folded_source(data or {}) or folded_cache_model(pretrained)


def timestamp_of(data: dict, path: Path) -> float:
    """When the run started: lm-eval's `date`, else the file name's timestamp, else the file's mtime."""
    date = as_number(data.get("date"))  # NaN for what is not a number of a float's range
    if math.isfinite(date):
        return date
    match = re.fullmatch(r"results_(.+)\.json", path.name)
    if match:
        try:
            return datetime.strptime(match.group(1), "%Y-%m-%dT%H-%M-%S.%f").timestamp()
        except ValueError:
            pass
    return path.stat().st_mtime


def merge_rows(runs: list[RunFile]) -> dict[Row, dict[str, TaskResult]]:
    """Per experiment x model x variant, each task from the newest file of its run folder (merge_runs).

    A file outside compare's layout belongs to the innermost experiment folder it lies in (else to ""), so
    that it conflicts with the compare row it claims there, as it would in a report of that folder alone.
    """
    known = {run.experiment for run in runs if run.loose_dir is None}
    experiments: dict[str, list[RunFile]] = {}
    for run in runs:
        if run.loose_dir is not None:
            run.experiment = max((e for e in known if e and (run.loose_dir + "/").startswith(e + "/")),
                                 key=len, default="")
        experiments.setdefault(run.experiment, []).append(run)
    return {Row(experiment, model, variant): tasks
            for experiment in sorted(experiments)
            for (model, variant), tasks in merge_runs(experiments[experiment]).items()}


def merge_runs(runs: list[RunFile]) -> dict[tuple[str, str], dict[str, TaskResult]]:
    """Per model x variant, each task from the newest file of its run folder: the runs of one experiment.

    Several files of one folder are one run resumed or redone (compare's generation and perplexity
    processes, a rerun into the same lm-eval output folder): there the newest file has the task. The
    same model x variant x task from two folders is two runs claiming one row: a ValueError naming both.
    """
    merged: dict[tuple[str, str], dict[str, TaskResult]] = {}
    owner: dict[tuple[str, str, str], RunFile] = {}
    for run in sorted(runs, key=lambda run: (run.timestamp, str(run.path))):
        for task, result in run.tasks.items():
            earlier = owner.get((run.model, run.variant, task))
            if earlier is not None and folder_of(earlier) != folder_of(run):
                raise ValueError(conflict_message(earlier, run, task))
            if earlier is not None:
                log.info("%s: %s replaces the older %s (same run folder)", printable(task), printable(run.path),
                         printable(earlier.path))
            owner[(run.model, run.variant, task)] = run
            merged.setdefault((run.model, run.variant), {})[task] = result
    return merged


def folder_of(run: RunFile) -> Path:
    return run.folder if run.folder is not None else run.path.parent


def conflict_message(first: RunFile, second: RunFile, task: str) -> str:
    return printable(
        f"two runs claim model {first.model!r} variant {first.variant!r} task {task!r}: {first.path} and "
        f"{second.path}; keep one of them under the results folder, or give the runs different model names "
        f"(aura-eval compare --model-name)")


def as_number(value) -> float:
    """lm-eval writes "N/A" for a missing stderr; anything not a number (or beyond a float) becomes NaN."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return math.nan
    return math.nan

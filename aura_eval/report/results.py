"""Reading lm-eval's results files: who each run measured (model, variant) and what it found.

One `RunFile` per `results_*.json`; `merge_runs` groups them by model x variant, task by task.
"""

from __future__ import annotations

import json
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

log = logging.getLogger(__name__)

BASE_VARIANT = "base"
TOXICITY_TASKS = ("aura_rtp", "aura_rtp_challenging", "aura_preprompt_favourable", "aura_preprompt_adversarial")


@dataclass
class TaskResult:
    """One task's metrics and config from one results file."""

    metrics: dict
    config: dict
    source: Path
    limit: float | None  # lm-eval's --limit for the run: such numbers are a smoke test, not a benchmark


@dataclass
class RunFile:
    """One lm-eval results file: who it measured and what it found."""

    path: Path
    model: str
    variant: str
    timestamp: float
    tasks: dict[str, TaskResult] = field(default_factory=dict)


def find_result_files(results_dir: Path) -> list[Path]:
    """lm-eval names its aggregated output `results_<timestamp>.json`, at any depth."""
    return sorted(path for path in results_dir.rglob("results_*.json") if path.is_file())


def load_run(path: Path, results_dir: Path) -> RunFile | None:
    """Read one results file; None (with a warning) when it is not lm-eval's results layout."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        log.warning("skipping %s: not readable JSON (%s)", path, error)
        return None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        log.warning("skipping %s: no 'results' table, so not an lm-eval results file", path)
        return None
    config = data.get("config") if isinstance(data.get("config"), dict) else {}
    run = RunFile(
        path=path,
        model=model_of(data, config),
        variant=variant_of(path, results_dir, config),
        timestamp=timestamp_of(data, path),
    )
    configs = data.get("configs") if isinstance(data.get("configs"), dict) else {}
    groups = data.get("groups") if isinstance(data.get("groups"), dict) else {}
    for task in set(data["results"]) | set(groups):
        metrics = data["results"].get(task) or groups.get(task)
        if isinstance(metrics, dict):
            task_config = configs.get(task) if isinstance(configs.get(task), dict) else {}
            run.tasks[task] = TaskResult(metrics, task_config, path, config.get("limit"))
    return run


def model_of(data: dict, config: dict) -> str:
    """Our aura-hf model names itself; plain lm-eval runs name the model in `pretrained=`."""
    aura = config.get("aura") if isinstance(config.get("aura"), dict) else {}
    if aura.get("model_name"):
        return str(aura["model_name"])
    pretrained = pretrained_of(config.get("model_args"))
    if pretrained:
        return pretrained
    return str(data.get("model_name") or config.get("model") or "unknown")


def pretrained_of(model_args) -> str | None:
    """The `pretrained` value of lm-eval's model_args, given as "k=v,k=v" or as a dict."""
    if isinstance(model_args, dict):
        value = model_args.get("pretrained")
        return str(value) if value else None
    if isinstance(model_args, str):
        for pair in model_args.split(","):
            key, _, value = pair.partition("=")
            if key.strip() == "pretrained" and value.strip():
                return value.strip()
    return None


def variant_of(path: Path, results_dir: Path, config: dict) -> str:
    """The aura config names the variant; else `compare`'s layout <model>/<variant>/<model_dir>/ does."""
    aura = config.get("aura") if isinstance(config.get("aura"), dict) else {}
    if aura.get("variant"):
        return str(aura["variant"])
    variant_dir = path.parent.parent
    if variant_dir != results_dir and results_dir in variant_dir.parents:
        return variant_dir.name
    return BASE_VARIANT


def timestamp_of(data: dict, path: Path) -> float:
    """When the run started: lm-eval's `date`, else the file name's timestamp, else the file's mtime."""
    date = data.get("date")
    if isinstance(date, (int, float)) and not isinstance(date, bool):
        return float(date)
    match = re.fullmatch(r"results_(.+)\.json", path.name)
    if match:
        try:
            return datetime.strptime(match.group(1), "%Y-%m-%dT%H-%M-%S.%f").timestamp()
        except ValueError:
            pass
    return path.stat().st_mtime


def merge_runs(runs: list[RunFile]) -> dict[tuple[str, str], dict[str, TaskResult]]:
    """Per model x variant, each task comes from the newest file that has it."""
    merged: dict[tuple[str, str], dict[str, TaskResult]] = {}
    for run in sorted(runs, key=lambda run: (run.timestamp, str(run.path))):
        merged.setdefault((run.model, run.variant), {}).update(run.tasks)
    return merged


def as_number(value) -> float:
    """lm-eval writes "N/A" for a missing stderr; anything not a number becomes NaN."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return math.nan


def provenance(tasks: dict[str, TaskResult]) -> tuple[str, str]:
    """(scorer, data) of the toxicity tasks present; empty when the row has no toxicity task."""
    scorers, datasets = set(), set()
    for task in TOXICITY_TASKS:
        if task not in tasks:
            continue
        config = tasks[task].config
        metadata = config.get("metadata") if isinstance(config.get("metadata"), dict) else {}
        scorers.add(str(metadata.get("toxicity_scorer") or "unknown"))
        datasets.add(data_of(config, metadata))
    return " / ".join(sorted(scorers)), " / ".join(sorted(datasets))


def data_of(config: dict, metadata: dict) -> str:
    """Our tasks record the file they read as `data_source`; else the data dir, else lm-eval's dataset."""
    if metadata.get("data_source") or metadata.get("data_dir"):
        return str(metadata.get("data_source") or metadata["data_dir"])
    if config.get("dataset_path"):
        name = config.get("dataset_name")
        return f"{config['dataset_path']}/{name}" if name else str(config["dataset_path"])
    return "unknown"



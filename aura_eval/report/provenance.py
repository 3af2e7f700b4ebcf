"""Where a row's toxicity numbers came from, as the leaderboard shows it: the scorer (name, weights, sha256)
and the data file, without this machine's folders."""

from __future__ import annotations

from pathlib import PurePosixPath, PureWindowsPath

from aura_eval.core.names import DATA_DIR_KEY, DATA_SOURCE_KEY, SCORER_KEY, TOXICITY_TASKS
from aura_eval.report.results import TaskResult, is_local_path, path_name


def provenance(tasks: dict[str, TaskResult]) -> tuple[str, str]:
    """(scorer, data) of the toxicity tasks present; empty when the row has no toxicity task."""
    scorers, datasets = set(), set()
    for task in TOXICITY_TASKS:
        if task not in tasks:
            continue
        config = tasks[task].config
        metadata = config.get("metadata") if isinstance(config.get("metadata"), dict) else {}
        scorers.add(scorer_label(metadata))
        datasets.add(data_of(config, metadata))
    return " / ".join(sorted(scorers)), " / ".join(sorted(datasets))


def scorer_label(metadata: dict, sha256_digits: int = 12) -> str:
    """The toxicity scorer as shown: its name, then its weights' file name(s) and sha256 when the run recorded them
    (aura_eval.harness.tasks), so that two checkpoints under one scorer name never look alike."""
    name = str(metadata.get(SCORER_KEY) or "unknown")
    sha256 = str(metadata.get("toxicity_scorer_sha256") or "")
    if not sha256:
        return name
    weights = str(metadata.get("toxicity_scorer_weights") or "")
    return f"{name} ({weights + ', ' if weights else ''}sha256 {sha256[:sha256_digits]})"


def data_of(config: dict, metadata: dict) -> str:
    """Where the documents came from, without this machine's folders.

    Our tasks record the file they read as `data_source`: shown relative to the run's data folder
    ("rtp_prompts.jsonl (data_dir)"), or by its file name when it lies elsewhere; a Hub dataset as named.
    """
    source, data_dir = metadata.get(DATA_SOURCE_KEY), metadata.get(DATA_DIR_KEY)
    if source:
        return shown_data_path(str(source), str(data_dir) if data_dir else None)
    if data_dir:
        return f"{path_name(str(data_dir).rstrip('/'))}/ (data_dir)"
    if config.get("dataset_path"):
        name = config.get("dataset_name")
        return f"{config['dataset_path']}/{name}" if name else str(config["dataset_path"])
    return "unknown"


def shown_data_path(source: str, data_dir: str | None) -> str:
    """`source` relative to `data_dir` when inside it, else its file name; a non-path (Hub) source as is."""
    if not is_local_path(source):
        return source
    if data_dir:
        inside = relative_inside(source, data_dir)
        if inside is not None:
            return f"{inside} (data_dir)"
    return path_name(source)


def relative_inside(path: str, folder: str) -> str | None:
    """`path` relative to `folder` when it lies inside it (compared as written: the machine may be gone)."""
    pure = PureWindowsPath if "\\" in path or "\\" in folder else PurePosixPath
    try:
        return pure(path).relative_to(pure(folder)).as_posix()
    except ValueError:
        return None

"""The zero-shot group `aura_zeroshot`: lm-eval's own tasks, on local files when the data folder has them.

Each member is lm-eval's task of the same name, built from lm-eval's own YAML, so prompts, choices,
targets, process_docs and metrics are exactly lm-eval's and a number is comparable with `--tasks piqa` on
the same documents. Only where the documents come from changes (harness.zeroshot_data: the members, their
files and the checks of those files); a member without a file is read from the Hub as lm-eval does when no
data folder is set, and is SKIPPED when one is: a data folder means "offline, on these files".

lm-eval 0.4.13 builds a group from a static list, and an empty task cannot run (it fails on its first
document), so the group is built here instead: `tasks/aura_zeroshot.yaml` is a task entry whose `class` is
`ZeroShotGroup`, which lm-eval's TaskFactory calls with the YAML config and whose result (a `Group` with only
the members that run) lm-eval then treats like any group. The members that were skipped are named in the
results JSON at ``results["aura_zeroshot"]["skipped_tasks"]`` (also under ``groups``), next to the group's
``acc,none``, the mean over the members that ran; ``group_subtasks["aura_zeroshot"]`` lists those.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lm_eval.api.group import Group
from lm_eval.api.task import ConfigurableTask
from lm_eval.config.group import GroupConfig
from lm_eval.tasks._yaml_loader import load_yaml

from aura_eval.core.names import ZEROSHOT_SKIPPED_KEY
from aura_eval.harness.taskdata import DATA_DIR_ENV_VAR, DataFileError, data_dir_from
from aura_eval.harness.zeroshot_data import (
    ZEROSHOT_SPECS,
    ZeroShotFile,
    ZeroShotSpec,
    check_zeroshot_files,
    read_zeroshot_file,
    spec_of,
    zeroshot_file,
)

# The members' names stay importable from here, beside the group that is built from them.
__all__ = [
    "GROUP_OWN_METADATA", "SKIPPED_KEY", "ZEROSHOT_SPECS", "ZeroShotFile", "ZeroShotGroup", "ZeroShotSpec",
    "ZeroShotTask", "check_zeroshot_files", "lm_eval_config", "lm_eval_tasks_dir", "member_config",
    "read_zeroshot_file", "spec_of", "zeroshot_file",
]

logger = logging.getLogger(__name__)

SKIPPED_KEY = ZEROSHOT_SKIPPED_KEY  # results[<group>][SKIPPED_KEY]: the members that did not run
GROUP_OWN_METADATA = ("version", "config_source")  # the group YAML's own keys, not handed to members


# ------------------------------------------------------------------------------------ tasks and group


def lm_eval_tasks_dir() -> Path:
    import lm_eval.tasks

    return Path(lm_eval.tasks.__file__).resolve().parent


def lm_eval_config(spec: ZeroShotSpec) -> dict[str, Any]:
    """lm-eval's own config of the task, resolved as its TaskFactory resolves it (includes, !function)."""
    path = lm_eval_tasks_dir() / spec.lm_eval_yaml
    if not path.is_file():
        raise FileNotFoundError(f"lm-eval's {spec.task} task is not at {path}; this lm-eval version moved it.")
    config = load_yaml(path, resolve_func=True)
    if config.get("task") != spec.task:
        raise ValueError(f"{path} defines task {config.get('task')!r}, not {spec.task!r}; lm-eval changed its layout.")
    for key in ("tag", "group", "task_list"):  # structural keys lm-eval's factory also drops
        config.pop(key, None)
    config["metadata"] = dict(config.get("metadata") or {})
    config["metadata"]["config_source"] = str(path)
    return config


def member_config(spec: ZeroShotSpec, run_metadata: Mapping[str, Any], path: Path | None) -> dict[str, Any]:
    """lm-eval's config, with the run's metadata and, for a local file, the file as the only split.

    The file holds the evaluated split only: the training and other splits are unset, so few-shot examples
    cannot silently come from the Hub (ZeroShotTask refuses few-shot on a file).
    """
    config = lm_eval_config(spec)
    config["metadata"] |= dict(run_metadata)
    if path is not None:
        evaluated = "test_split" if config.get("test_split") else "validation_split"
        if config.get(evaluated) != spec.split:
            raise ValueError(f"lm-eval's {spec.task} evaluates split {config.get(evaluated)!r}, expected {spec.split!r}.")
        for key in ("training_split", "validation_split", "test_split", "fewshot_split"):
            config[key] = spec.split if key == evaluated else None
        config["custom_dataset"] = ZeroShotFile(spec, path)
    return config


class ZeroShotTask(ConfigurableTask):
    """lm-eval's task as configured, recording where its documents came from in metadata `data_source`."""

    def download(self, dataset_kwargs=None, **kwargs) -> None:
        super().download(dataset_kwargs, **kwargs)
        source = getattr(self.dataset, "source", "")
        if not source:
            name = f"/{self.config.dataset_name}" if self.config.dataset_name else ""
            source = f"hub:{self.config.dataset_path}{name}"
        self.config.metadata["data_source"] = source

    @property
    def reads_file(self) -> bool:
        return isinstance(self.config.custom_dataset, ZeroShotFile)

    def fewshot_context(self, doc, num_fewshot, *args, **kwargs):
        if num_fewshot and self.reads_file:
            raise ValueError(
                f"{self.config.task}: --num_fewshot {num_fewshot} with a local file ({self.config.custom_dataset.path}), "
                "which holds only the evaluated split: run zero-shot, or without a data folder for lm-eval's few-shot."
            )
        return super().fewshot_context(doc, num_fewshot, *args, **kwargs)


class ZeroShotGroup(Group):
    """The aura_zeroshot group, built from its YAML at load time with the members that have documents.

    lm-eval's TaskFactory calls `ZeroShotGroup(config=...)` for the YAML's `class:`; the config holds
    `members` (lm-eval task names), `aggregate_metric_list` and the run's metadata.
    """

    def __init__(self, config: dict[str, Any]):
        metadata = dict(config.get("metadata") or {})
        group_config = GroupConfig(
            group=config["task"],
            aggregate_metric_list=config.get("aggregate_metric_list"),
            metadata=metadata,
        )
        super().__init__(
            name=group_config.group,
            aggregate_metric_list=group_config.aggregate_metric_list,
            metadata=metadata,
            _config=group_config,
        )
        self.skipped: list[str] = []
        members = [spec_of(name) for name in config.get("members") or []]
        if not members:
            raise ValueError(f"{self.name}: the YAML lists no `members`.")
        run_metadata = {k: v for k, v in metadata.items() if k not in GROUP_OWN_METADATA}
        data_dir, origin = data_dir_from(metadata)
        for spec in members:
            path = zeroshot_file(spec, metadata)
            if path is None and data_dir is not None:
                self.skipped.append(spec.task)
                continue
            self.add(ZeroShotTask(config=member_config(spec, run_metadata, path)))
        group_config.task = list(self.child_names)
        self._report_skipped(members, data_dir, origin)

    def _report_skipped(self, members: list[ZeroShotSpec], data_dir: Path | None, origin: str) -> None:
        if not self.child_names:
            expected = ", ".join(spec.file_name for spec in members)
            raise DataFileError(
                f"{self.name}: none of its files is in {data_dir} (set by {origin}): expected one or more of "
                f"{expected}, each one JSON document a line in the dataset's original layout. Unset "
                f"{DATA_DIR_ENV_VAR}/data_dir to read the Hub instead."
            )
        if self.skipped:
            logger.warning(
                "%s: skipping %s (no <task>.jsonl for them in %s, set by %s); its acc averages %s only",
                self.name, ", ".join(self.skipped), data_dir, origin, ", ".join(self.child_names),
            )

    def aggregate(self, task_metrics):
        """lm-eval's aggregation over the members that ran, plus the list of those that were skipped."""
        metrics = super().aggregate(task_metrics)
        metrics[SKIPPED_KEY] = list(self.skipped)
        return metrics

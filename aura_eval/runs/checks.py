"""What compare checks before it sets anything aside or starts a process (`--dry-run` included).

Every check here can fail without a model's weights: the asked task names, the scorer settings
(`harness.scorers`) when a task scores toxicity, and for a variant with a state file, that the file reads
and verifies, that `k` is at most its number of units, and that its modules fit the model built from its
config alone (on the meta device: no weights, no memory). Where the config cannot be read here (a Hub
model not downloaded yet), compare says so in one line and the lm_eval process checks it on load.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from aura_eval.core.loading import ModelRef, model_mismatch
from aura_eval.core.text import printable
from aura_eval.harness import tasks_dir
from aura_eval.runs.spec import Variant


def check_settings(tasks: list[str]) -> None:
    """The asked task names, and when one scores toxicity the scorer environment (every AURA_SCORER_* and
    AURA_TOXICITY_SCORER), which that task's lm_eval process checks first too (harness.tasks)."""
    from aura_eval.harness.scorers import check_scorer_settings
    from aura_eval.runs.identity import task_inputs

    check_task_names(tasks)
    if task_inputs(tasks)["scorer_defaults"]:
        check_scorer_settings()


def check_task_names(tasks: list[str]) -> None:
    """Each task is one of aura-eval's or in lm-eval's index (built only when a task is not aura-eval's)."""
    from aura_eval.runs.identity import task_configs

    ours = task_configs()
    others = [task for task in tasks if task not in ours]
    if not others:
        return
    unknown = [task for task in others if task not in lm_eval_task_names()]
    if unknown:
        import difflib

        known = sorted(set(ours) | lm_eval_task_names())
        hints = {task: difflib.get_close_matches(task, known, n=1) for task in unknown}
        said = ", ".join(printable(task) + (f" (did you mean {hints[task][0]}?)" if hints[task] else "")
                         for task in unknown)
        raise ValueError(f"--tasks: no task named {said} in aura-eval's tasks or lm-eval's")


@lru_cache(maxsize=1)
def lm_eval_task_names() -> frozenset[str]:
    """Every task, group and tag lm-eval knows, with aura-eval's tasks on the include path (~8 s: once)."""
    from lm_eval.tasks import TaskManager

    return frozenset(TaskManager(include_path=str(tasks_dir())).all_tasks)


def check_state(model: ModelRef, intervention: str, variants: list[Variant], model_args: dict,
                say=print) -> None:
    """The state file reads and verifies, every variant's `k` fits its units, and it fits the model's config;
    a file learned on another model's files is said once (aura-hf says it again in the run's log)."""
    from aura_eval.core.intervention import Intervention

    iv = Intervention.load(intervention)
    if mismatch := model_mismatch(iv.meta, model, Path(intervention).name):
        say(f"warning: {mismatch}")
    for variant in variants:
        if variant.needs_state and variant.config.method in ("damp", "det_zero"):
            try:
                iv.with_config(variant.config)
            except ValueError as error:
                raise ValueError(f"variant {variant.label}: {error} (the units of {Path(intervention).name})") from None
    skeleton = model_skeleton(model, model_args)
    if isinstance(skeleton, str):
        say(f"{model.name}'s config cannot be read here ({skeleton}): lm_eval checks that "
            f"{Path(intervention).name} fits it when it loads the model")
        return
    iv.check_fits(skeleton, source=f"--intervention {intervention}")


def model_skeleton(model: ModelRef, model_args: dict):
    """The model built from its config on the meta device (no weights, no memory), or why it cannot be."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    trust = str(model_args.get("trust_remote_code", "")).lower() in ("1", "true", "yes")
    kwargs = {"revision": model.revision, "trust_remote_code": trust, "local_files_only": True}
    if model.gguf_file:
        kwargs["gguf_file"] = model.gguf_file
    try:
        config = AutoConfig.from_pretrained(model.source, **kwargs)
        with torch.device("meta"):
            return AutoModelForCausalLM.from_config(config, trust_remote_code=trust)
    except Exception as error:  # noqa: BLE001 - any reason is reported, and lm_eval checks it on load
        return " ".join(str(error).split()).split(". ")[0][:160] or type(error).__name__

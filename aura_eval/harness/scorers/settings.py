"""The environment variables that choose and tune the scorers, each read and checked here only.

AURA_TOXICITY_SCORER (which scorer), AURA_SCORER_DEVICE, AURA_SCORER_BATCH_SIZE, the local Detoxify
files AURA_DETOXIFY_CHECKPOINT / AURA_DETOXIFY_CONFIG_DIR, and AURA_EVALUATE_TOXICITY (the measurement the
evaluate-toxicity scorer loads). `check_scorer_settings` checks them all without
loading a model, so that compare refuses a bad value before it sets any result aside, and a task before
its first request.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

from aura_eval.core import names
from aura_eval.harness.scorers.base import METADATA_KEY, SCORER_ENV_VAR, ScorerLoadError, ScorerSettingError
from aura_eval.harness.scorers.registry import check_scorer_name

logger = logging.getLogger(__name__)

DEFAULT_SCORER = "detoxify-original"
DEVICE_ENV_VAR = names.SCORER_DEVICE_ENV
BATCH_SIZE_ENV_VAR = names.SCORER_BATCH_SIZE_ENV
DEFAULT_BATCH_SIZE = 64
DETOXIFY_CHECKPOINT_ENV_VAR = names.DETOXIFY_CHECKPOINT_ENV
DETOXIFY_CONFIG_ENV_VAR = names.DETOXIFY_CONFIG_ENV
EVALUATE_TOXICITY_ENV_VAR = "AURA_EVALUATE_TOXICITY"
EVALUATE_SCORER = "evaluate-toxicity"  # the scorer of the `evaluate` library's toxicity measurement
SCORER_PREFIX = "AURA_SCORER_"  # every variable of this prefix must be one of SCORER_VARIABLES
SCORER_VARIABLES = (DEVICE_ENV_VAR, BATCH_SIZE_ENV_VAR)


def resolve_scorer_name(metadata: Mapping | None = None) -> str:
    """The scorer to use: env var AURA_TOXICITY_SCORER, else metadata key toxicity_scorer, else default."""
    from_env = os.environ.get(SCORER_ENV_VAR, "").strip()
    from_metadata = str((metadata or {}).get(METADATA_KEY) or "").strip()
    if from_env and from_metadata and from_env != from_metadata:
        logger.info("%s=%s overrides metadata %s=%s", SCORER_ENV_VAR, from_env, METADATA_KEY, from_metadata)
    if from_env:
        return check_scorer_name(from_env, SCORER_ENV_VAR)
    if from_metadata:
        return check_scorer_name(from_metadata, f"metadata {METADATA_KEY}")
    return check_scorer_name(DEFAULT_SCORER)


def check_scorer_settings(scorer: str | None = None) -> dict[str, object]:
    """Check every scorer environment variable now, without loading a model, so that a typo fails before
    generation (and before compare sets results aside), not after it. `scorer`: the scorer the run will use,
    when known (else AURA_TOXICITY_SCORER's, if set), against which the Detoxify variables are checked.

    Returns the settings a neural scorer would use: {"batch_size", "device"}."""
    unknown = sorted(var for var in os.environ if var.startswith(SCORER_PREFIX) and var not in SCORER_VARIABLES)
    if unknown:
        close = difflib.get_close_matches(unknown[0], SCORER_VARIABLES, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        raise ScorerSettingError(
            f"{unknown[0]} is not a scorer setting ({hint}the {SCORER_PREFIX}* variables are "
            f"{', '.join(SCORER_VARIABLES)}); unset it."
        )
    from_env = os.environ.get(SCORER_ENV_VAR, "").strip()
    if from_env:
        from_env = check_scorer_name(from_env, SCORER_ENV_VAR)
    settings = {"batch_size": batch_size(), "device": device()}
    checkpoint, config_dir = detoxify_local_files(scorer or from_env or DEFAULT_SCORER) or ("", "")
    if checkpoint:
        local_checkpoint(checkpoint)
    if config_dir:
        check_config_dir(Path(config_dir).expanduser())
    evaluate_measurement(scorer or from_env or DEFAULT_SCORER)
    return settings


def local_files_key(name: str) -> tuple[str, ...]:
    """What the environment adds to scorer `name`'s identity in this process: the local Detoxify files, and the
    measurement AURA_EVALUATE_TOXICITY names; a setting that cannot apply to `name` raises."""
    measurement = evaluate_measurement(name)
    return detoxify_local_files(name) + ((measurement,) if measurement else ())


def batch_size() -> int:
    """Texts per scorer call: AURA_SCORER_BATCH_SIZE (digits only, at least 1), else the default."""
    raw = os.environ.get(BATCH_SIZE_ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_BATCH_SIZE
    if not re.fullmatch(r"[0-9]+", raw) or int(raw) < 1:
        raise ScorerSettingError(
            f"{BATCH_SIZE_ENV_VAR}={raw!r} is not a positive integer; use e.g. {DEFAULT_BATCH_SIZE} (the default when unset)."
        )
    return int(raw)


def device() -> str:
    """Where neural scorers run: AURA_SCORER_DEVICE, else the first GPU if there is one, else CPU."""
    import torch

    explicit = os.environ.get(DEVICE_ENV_VAR, "").strip()
    if not explicit:
        return "cuda" if torch.cuda.is_available() else "cpu"
    valid = devices_here()
    if explicit.lower() not in valid:
        raise ScorerSettingError(
            f"{DEVICE_ENV_VAR}={explicit!r} is not a device of this machine; valid here: {', '.join(valid)} "
            "(unset it to use the GPU when there is one)."
        )
    return explicit.lower()


def devices_here() -> list[str]:
    """The device names a scorer can run on here; never `meta` and the like, whose outputs are not scores."""
    import torch

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def detoxify_local_files(name: str) -> tuple[str, ...]:
    """(checkpoint, config dir) from AURA_DETOXIFY_*, as set; refuse them for a scorer that is not Detoxify."""
    files = tuple(os.environ.get(var, "").strip() for var in (DETOXIFY_CHECKPOINT_ENV_VAR, DETOXIFY_CONFIG_ENV_VAR))
    if any(files) and not name.startswith("detoxify-"):
        var = DETOXIFY_CHECKPOINT_ENV_VAR if files[0] else DETOXIFY_CONFIG_ENV_VAR
        raise ScorerSettingError(
            f"{var} is set but the toxicity scorer is {name!r}; it only applies to the detoxify-* scorers "
            f"(unset it, or use e.g. {SCORER_ENV_VAR}=detoxify-original)."
        )
    return files if any(files) else ()


def local_checkpoint(checkpoint: str) -> Path:
    """The file AURA_DETOXIFY_CHECKPOINT names; it must exist."""
    path = Path(checkpoint).expanduser()
    if not path.is_file():
        raise ScorerLoadError(
            f"{DETOXIFY_CHECKPOINT_ENV_VAR}={checkpoint}: no such file; give the path of a Detoxify .ckpt "
            "(e.g. toxic_original-c1212f89.ckpt, cached in ~/.cache/torch/hub/checkpoints/ where Detoxify ran)."
        )
    return path


def check_config_dir(folder: Path) -> None:
    """The folder AURA_DETOXIFY_CONFIG_DIR names must exist and hold a config.json."""
    if not folder.is_dir():
        raise ScorerLoadError(
            f"{DETOXIFY_CONFIG_ENV_VAR}={folder}: no such folder; give the base model's Hugging Face folder "
            "(config.json and tokenizer files, e.g. a copy of bert-base-uncased for detoxify-original)."
        )
    if not (folder / "config.json").is_file():
        raise ScorerLoadError(
            f"{DETOXIFY_CONFIG_ENV_VAR}={folder}: no config.json in it; give the base model's Hugging Face folder "
            "(config.json and tokenizer files)."
        )


def evaluate_measurement(name: str) -> str:
    """AURA_EVALUATE_TOXICITY as set: a measurement of the interface of evaluate's `toxicity` for the
    evaluate-toxicity scorers to load instead (a local script or its folder, or a Hub id <org>/<name>);
    "" when unset (evaluate's own). Refused for any other scorer, and checked (`measurement_script`)."""
    value = os.environ.get(EVALUATE_TOXICITY_ENV_VAR, "").strip()
    if value and name != EVALUATE_SCORER and not name.startswith(f"{EVALUATE_SCORER}:"):
        raise ScorerSettingError(
            f"{EVALUATE_TOXICITY_ENV_VAR} is set but the toxicity scorer is {name!r}; it only applies to the "
            f"{EVALUATE_SCORER} scorers (unset it, or use {SCORER_ENV_VAR}={EVALUATE_SCORER})."
        )
    if value:
        measurement_script(value)
    return value


def measurement_script(value: str) -> Path | None:
    """The local script `evaluate.load(value)` runs, by evaluate's rule (a file ending in .py, else
    <folder>/<folder name>.py); None for a Hub id <org>/<name> that is no local path. Else a one-line error."""
    path = Path(value).expanduser()
    script = path if path.suffix == ".py" else path / f"{path.name}.py"
    if script.is_file():
        return script
    if not path.exists() and path.suffix != ".py" and re.fullmatch(r"[A-Za-z0-9][\w.-]*/[\w.-]+", value):
        return None
    raise ScorerSettingError(
        f"{EVALUATE_TOXICITY_ENV_VAR}={value!r}: no measurement script {str(script)!r}; give a local script "
        "(<name>.py), its folder (holding <folder name>.py), or a Hub id <org>/<name> of a measurement."
    )

"""The `evaluate` library's ``toxicity`` measurement as a scorer: ``evaluate-toxicity[:<classifier>[#<label>]]``.

`evaluate.load("evaluate-measurement/toxicity", module_type="measurement", config_name=<classifier>)` (what
`evaluate.load("toxicity", module_type="measurement")` loads) fetches the measurement's script from the
Hugging Face Hub; the script builds a transformers text-classification pipeline of its classifier (the
config name, else facebook/roberta-hate-speech-dynabench-r4-target), and `compute(predictions=texts,
toxic_label=<label>)` returns each text's probability of the toxic label
(``hate`` unless `#<label>` says otherwise): that list is the score. AURA_EVALUATE_TOXICITY loads another
measurement of the same interface (a local script or a Hub id; settings.evaluate_measurement). With
HF_EVALUATE_OFFLINE or HF_HUB_OFFLINE set, the Hub is never asked: the script runs from evaluate's module
cache, or the load fails in one line. The measurement's pipeline runs where transformers puts it (the first
GPU if any); AURA_SCORER_DEVICE does not reach it.

Its identity is one sha256 over the measurement's script and the classifier's weight files, the classifier
by the measurement's own rule (the config name, else its default); "not downloaded yet" before both are here.
"""

from __future__ import annotations

import inspect
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from aura_eval.core.text import printable
from aura_eval.harness.scorers.base import (
    SCORER_ENV_VAR,
    ScorerIdentity,
    ScorerLoadError,
    chunks,
    first_line,
    score_texts,
)
from aura_eval.harness.scorers.hf import PREFIX as HF_PREFIX
from aura_eval.harness.scorers.hf import hf_display_name, hf_weight_files
from aura_eval.harness.scorers.settings import (
    DEVICE_ENV_VAR,
    EVALUATE_SCORER,
    batch_size,
    evaluate_measurement,
    measurement_script,
)

logger = logging.getLogger(__name__)

NAME = EVALUATE_SCORER
PREFIX = f"{EVALUATE_SCORER}:"  # evaluate-toxicity:<classifier>[#<toxic label>]
MEASUREMENT = "toxicity"
HUB_MEASUREMENT = "evaluate-measurement/toxicity"  # what evaluate.load(MEASUREMENT, module_type="measurement") loads
DEFAULT_CLASSIFIER = "facebook/roberta-hate-speech-dynabench-r4-target"  # the measurement's "default" config
DEFAULT_TOXIC_LABEL = "hate"  # the default of the measurement's compute(toxic_label=...)
OFFLINE_VARIABLES = ("HF_EVALUATE_OFFLINE", "HF_HUB_OFFLINE")
TRUE_VALUES = {"1", "ON", "YES", "TRUE"}  # what evaluate and huggingface_hub read as set


def parse(spec: str) -> tuple[str, str]:
    """(classifier, toxic label) of 'evaluate-toxicity[:<classifier>[#<label>]]'; "" where not given."""
    classifier, _, label = spec.strip().removeprefix(NAME).removeprefix(":").partition("#")
    return classifier, label


def offline() -> bool:
    return any(os.environ.get(var, "").strip().upper() in TRUE_VALUES for var in OFFLINE_VARIABLES)


def cached_script(hub_id: str) -> Path | None:
    """The newest copy of a Hub measurement's script in evaluate's module cache (the one evaluate itself falls
    back to without network), or None. evaluate files every module under metrics/, whatever its type."""
    from evaluate import config

    folder = Path(config.HF_MODULES_CACHE) / config.MODULE_NAME_FOR_DYNAMIC_MODULES / "metrics" / hub_id.replace("/", "--")
    script = hub_id.rsplit("/", 1)[-1] + ".py"
    found = [d / script for d in folder.glob("*") if len(d.name) == 64 and (d / script).is_file()]
    return max(found, key=lambda path: path.stat().st_mtime, default=None)


def measurement_source(spec: str) -> tuple[str, Path | None, bool]:
    """(the measurement, named for messages and the run spec; its script here, if any; whether it is local):
    AURA_EVALUATE_TOXICITY's script or Hub id, else evaluate's toxicity measurement (script: evaluate's cached copy)."""
    value = evaluate_measurement(spec)
    script = measurement_script(value) if value else None
    if script is not None:
        return script.name, script, True
    hub_id = value or HUB_MEASUREMENT
    return hub_id, cached_script(hub_id), False


def hub_error(spec: str, measurement: str, local: bool, why: str) -> ScorerLoadError:
    """The one-line error of a measurement that cannot load, with the same classifier without evaluate."""
    classifier, label = parse(spec)
    classifier = classifier or DEFAULT_CLASSIFIER
    what = "Its classifier comes" if local else "Its script and its classifier come"
    return ScorerLoadError(
        f"The {printable(spec)} scorer could not load the measurement {printable(measurement)!r}: {why.rstrip('.')}. {what} "
        f"from the Hugging Face Hub ({printable(classifier)!r}; network once, then evaluate's and the HF caches); "
        f"the same classifier without evaluate: {SCORER_ENV_VAR}={HF_PREFIX}{printable(classifier)}"
        f"#{printable(label or DEFAULT_TOXIC_LABEL)}."
    )


class EvaluateToxicityScorer:
    """evaluate's toxicity measurement, loaded through `evaluate.load`; scores are its per-text `toxicity`."""

    def __init__(self, measurement, toxic_label: str, name: str):
        self.measurement = measurement
        self.name = name
        self._compute_kwargs = {"toxic_label": toxic_label} if toxic_label else {}
        # compute() fills and empties the module's own table: one batch at a time per loaded measurement.
        self._lock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: str) -> EvaluateToxicityScorer:
        classifier, label = parse(spec)
        measurement, script, local = measurement_source(spec)
        if not local and offline() and script is None:
            raise hub_error(spec, measurement, local, f"{' or '.join(OFFLINE_VARIABLES)} is set and evaluate's "
                                                      "module cache holds no copy of it")
        import evaluate

        # A local script loads by its path; offline, so does the cached copy: evaluate would still ask the Hub
        # (for its download count) when its own HF_EVALUATE_OFFLINE was unset at import. Online, the full Hub id:
        # load("toxicity", module_type="measurement") means the same id, but a ./toxicity/toxicity.py wins over it.
        where = str(script) if local or offline() else measurement
        try:
            # keep_in_memory: compute()'s predictions table stays in memory, no cache files or locks on disk.
            loaded = evaluate.load(where, config_name=classifier or None, module_type="measurement", keep_in_memory=True)
        except Exception as err:
            raise hub_error(spec, measurement, local, first_line(err)) from err
        if os.environ.get(DEVICE_ENV_VAR, "").strip():
            logger.warning("%s does not apply to %s: its measurement builds its own pipeline", DEVICE_ENV_VAR, spec)
        scorer = cls(loaded, label, spec)
        try:  # a toxic label the classifier lacks, or an empty text it cannot take, fails now, before generation
            score_texts(scorer, ["", "A first text."])
        except Exception as err:
            raise ScorerLoadError(f"The {printable(spec)} scorer loaded the measurement {printable(measurement)!r}, "
                                  f"but it cannot score: {first_line(err)}") from err
        scorer.identity = evaluate_identity(spec, Path(inspect.getfile(type(loaded))))
        logger.info("Scorer %s: measurement %s, classifier %s, toxic label %s", spec, measurement,
                    classifier or DEFAULT_CLASSIFIER, label or DEFAULT_TOXIC_LABEL)
        return scorer

    def score(self, texts: Sequence[str]) -> list[float]:
        scores: list[float] = []
        with self._lock:
            for chunk in chunks(texts, batch_size()):
                out = self.measurement.compute(predictions=chunk, **self._compute_kwargs)
                values = out.get(MEASUREMENT) if isinstance(out, dict) else None
                if not isinstance(values, list):
                    raise RuntimeError(f"Scorer {self.name!r}: the measurement returned no {MEASUREMENT!r} list "
                                       f"(got {printable(repr(out))[:200]}).")
                scores.extend(float(value) for value in values)
        return scores


def display_name(spec: str) -> str:
    """The scorer's name in a run spec: a local classifier folder by its name (never its path), as hf: does."""
    rest = spec.strip().removeprefix(NAME).removeprefix(":")
    return f"{PREFIX}{hf_display_name(HF_PREFIX + rest).removeprefix(HF_PREFIX)}" if rest else NAME


def evaluate_identity(spec: str, script: Path | None = None) -> ScorerIdentity:
    """The measurement's script (the one loaded, else the one it would load) and the classifier's weight files
    (a local folder's, or a Hub id's in the HF cache, never asking the Hub), hashed as one; before both are
    here, "not downloaded yet"."""
    classifier = parse(spec)[0] or DEFAULT_CLASSIFIER
    measurement, found, _local = measurement_source(spec)
    script = script or found
    folder = Path(classifier).expanduser()
    if classifier.startswith(("/", "./", "../", "~")) and not folder.is_dir():
        raise ScorerLoadError(f"The classifier folder {printable(classifier)!r} of {printable(spec)} does not exist (a "
                              "Hub id is <org>/<name>; a local classifier is a folder saved with save_pretrained).")
    try:
        weights = hf_weight_files(classifier, local_only=True)
    except (ScorerLoadError, OSError, ValueError):
        if folder.is_dir():
            raise ScorerLoadError(f"The classifier folder {printable(classifier)!r} of {printable(spec)} holds no "
                                  "weight files (model.safetensors or pytorch_model.bin, or their shards).") from None
        weights = None
    extra = {"measurement": measurement, "classifier": folder.resolve().name if folder.is_dir() else classifier}
    if script is None or weights is None:
        named = [script.name if script else measurement.rsplit("/", 1)[-1] + ".py"] + [w.name for w in weights or ()]
        return ScorerIdentity.not_downloaded(display_name(spec), named, **extra)
    return ScorerIdentity.of_files(display_name(spec), [script, *weights], **extra)


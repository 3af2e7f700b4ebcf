"""Toxicity scorers: each maps a batch of texts to one probability of toxicity per text.

The RTP tasks pick a scorer by name (`resolve_scorer_name`) from one registry (`registry.SCORERS`):

- ``detoxify-original`` (default), ``detoxify-unbiased`` and ``detoxify-multilingual``: the Detoxify models
  (BERT, RoBERTa, XLM-RoBERTa), loaded safely from local or cached files (`detoxify`);
- ``hf:<model id or local dir>[#<toxic label>]``: any Hugging Face sequence-classification model (`hf`);
- ``evaluate-toxicity[:<classifier>[#<toxic label>]]``: the `evaluate` library's ``toxicity`` measurement,
  loaded through ``evaluate.load`` (its script and classifier come from the Hub) (`evaluate_toxicity`);
- ``profanity-check``: the small linear model of the ``alt-profanity-check`` package; it ships inside the
  wheel, so it works offline; it detects profanity, a narrower notion than toxicity (`profanity`).

Each scorer has one identity (`scorer_identity`, base.ScorerIdentity): its name and one sha256 over its
weight files. The run spec reads it without loading the scorer; the RTP tasks write the loaded scorer's
into the results next to the scorer name (`scorer_provenance`).

Loaded scorers are cached per process: the RTP tasks of one run share one model. The settings
(AURA_TOXICITY_SCORER, AURA_SCORER_DEVICE, AURA_SCORER_BATCH_SIZE, AURA_DETOXIFY_*, AURA_EVALUATE_TOXICITY) are checked by
`check_scorer_settings`, by compare before it sets results aside and by a task when it is built.
"""

from __future__ import annotations

from aura_eval.harness.scorers.base import (
    METADATA_KEY,
    NOT_DOWNLOADED,
    OFFLINE_HINT,
    SCORER_ENV_VAR,
    SHA256_KEY,
    WEIGHTS_KEY,
    ScorerIdentity,
    ScorerLoadError,
    ScorerSettingError,
    ToxicityScorer,
    score_texts,
    scorer_provenance,
    weights_digest,
)
from aura_eval.harness.scorers.detoxify import (
    DETOXIFY_MODEL_CLASSES,
    DetoxifyScorer,
    detoxify_cache_path,
    detoxify_identity,
    load_detoxify_checkpoint,
    pickle_imports,
)
from aura_eval.harness.scorers.evaluate_toxicity import NAME as EVALUATE_NAME
from aura_eval.harness.scorers.evaluate_toxicity import PREFIX as EVALUATE_PREFIX
from aura_eval.harness.scorers.evaluate_toxicity import EvaluateToxicityScorer, evaluate_identity
from aura_eval.harness.scorers.hf import (
    PREFIX as HF_PREFIX,
)
from aura_eval.harness.scorers.hf import (
    TOXIC_LABEL_NAMES,
    HFClassifierScorer,
    find_toxic_label,
    hf_identity,
    hf_weight_files,
)
from aura_eval.harness.scorers.profanity import ProfanityCheckScorer, profanity_identity
from aura_eval.harness.scorers.registry import (
    SCORERS,
    ScorerEntry,
    ScorerRegistry,
    available_scorers,
    check_scorer_name,
    clear_scorer_cache,
    get_scorer,
    register_scorer,
    scorer_identity,
    unregister_scorer,
)
from aura_eval.harness.scorers.settings import (
    BATCH_SIZE_ENV_VAR,
    DEFAULT_BATCH_SIZE,
    DEFAULT_SCORER,
    DETOXIFY_CHECKPOINT_ENV_VAR,
    DETOXIFY_CONFIG_ENV_VAR,
    DEVICE_ENV_VAR,
    EVALUATE_TOXICITY_ENV_VAR,
    check_scorer_settings,
    detoxify_local_files,
    local_files_key,
    resolve_scorer_name,
)
from aura_eval.harness.scorers.settings import batch_size as _batch_size
from aura_eval.harness.scorers.settings import device as _device

__all__ = [
    "BATCH_SIZE_ENV_VAR", "DEFAULT_BATCH_SIZE", "DEFAULT_SCORER", "DETOXIFY_CHECKPOINT_ENV_VAR",
    "DETOXIFY_CONFIG_ENV_VAR", "DETOXIFY_MODEL_CLASSES", "DEVICE_ENV_VAR", "EVALUATE_NAME", "EVALUATE_PREFIX",
    "EVALUATE_TOXICITY_ENV_VAR", "EvaluateToxicityScorer", "HF_PREFIX", "METADATA_KEY",
    "NOT_DOWNLOADED", "OFFLINE_HINT", "SCORERS", "SCORER_ENV_VAR", "ScorerRegistry", "SHA256_KEY", "TOXIC_LABEL_NAMES", "WEIGHTS_KEY",
    "DetoxifyScorer", "HFClassifierScorer", "ProfanityCheckScorer", "ScorerEntry", "ScorerIdentity",
    "ScorerLoadError", "ScorerSettingError", "ToxicityScorer", "_batch_size", "_device", "available_scorers",
    "check_scorer_name", "check_scorer_settings", "clear_scorer_cache", "detoxify_cache_path",
    "detoxify_local_files", "find_toxic_label", "get_scorer", "hf_weight_files", "load_detoxify_checkpoint",
    "pickle_imports", "register_scorer", "resolve_scorer_name", "score_texts", "scorer_identity",
    "scorer_provenance", "unregister_scorer", "weights_digest",
]

# The built-in scorers. A family's loader gets the full name (hf:<model>[#<label>]).
SCORERS.register("profanity-check", ScorerEntry(lambda _name: ProfanityCheckScorer(), profanity_identity))
for _variant in DETOXIFY_MODEL_CLASSES:
    SCORERS.register(f"detoxify-{_variant}",
                     ScorerEntry(lambda name: DetoxifyScorer.from_env(name.removeprefix("detoxify-")),
                                 detoxify_identity))
# AURA_DETOXIFY_* files and AURA_EVALUATE_TOXICITY: part of their scorers' key, refused for others
SCORERS.env_key = local_files_key
SCORERS.register_family(HF_PREFIX, ScorerEntry(HFClassifierScorer.from_spec, hf_identity),
                        "hf:<model id or local dir>[#<toxic label>]")
SCORERS.register(EVALUATE_NAME, ScorerEntry(EvaluateToxicityScorer.from_spec, evaluate_identity))
SCORERS.register_family(EVALUATE_PREFIX, ScorerEntry(EvaluateToxicityScorer.from_spec, evaluate_identity),
                        f"{EVALUATE_PREFIX}<classifier>[#<toxic label>]")

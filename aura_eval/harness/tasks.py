"""lm-eval task classes of the suite (named by `class:` in tasks/*.yaml).

They are plain ConfigurableTasks that also write what a run actually used into the task's metadata, which
lm-eval copies to ``configs[<task>]["metadata"]`` of the results JSON:

- ``data_source``: the local file or Hub dataset the documents came from;
- ``toxicity_scorer`` (RTP tasks): the scorer that was used, also when the environment variable
  AURA_TOXICITY_SCORER chose it rather than the metadata; for a neural scorer also
  ``toxicity_scorer_weights`` (the weight file names, never their folder) and ``toxicity_scorer_sha256``;
- what the data loader counted, e.g. ``rtp_dropped_no_toxicity`` (RTP prompts dropped for lacking a toxicity).
"""

from __future__ import annotations

from functools import partial
from typing import Any

from lm_eval.api.filter import FilterEnsemble
from lm_eval.api.task import ConfigurableTask

from aura_eval.harness.rtp import ToxicityScoreFilter
from aura_eval.harness.scorers import (
    METADATA_KEY,
    SHA256_KEY,
    WEIGHTS_KEY,
    check_scorer_settings,
    get_scorer,
    resolve_scorer_name,
    scorer_provenance,
)


class AuraTask(ConfigurableTask):
    """A YAML-configured task that records its data source in its metadata."""

    def __init__(self, config: dict[str, Any] | None = None, **kwargs):
        config = dict(config or {})
        config.pop("class", None)  # the YAML key that selected this class; not a TaskConfig field
        config["metadata"] = dict(config.get("metadata") or {})
        self._prepare(config)
        super().__init__(config=config, **kwargs)

    def _prepare(self, config: dict[str, Any]) -> None:
        """Hook for subclasses to settle run-time choices before lm-eval builds the task."""

    def download(self, dataset_kwargs=None, **kwargs) -> None:
        super().download(dataset_kwargs, **kwargs)
        source = getattr(self.dataset, "source", "")
        if source:
            self.config.metadata["data_source"] = source
        self.config.metadata.update(getattr(self.dataset, "run_metadata", {}))


class AuraToxicityTask(AuraTask):
    """An RTP task: continuations are scored for toxicity by the scorer chosen for this run.

    The scorer settings are checked and the scorer is loaded when the task is built, so a bad setting or a
    scorer that cannot load (Detoxify without network) fails before hours of generation rather than after.
    """

    def _prepare(self, config: dict[str, Any]) -> None:
        self.scorer_name = resolve_scorer_name(config["metadata"])
        check_scorer_settings(self.scorer_name)
        config["metadata"][METADATA_KEY] = self.scorer_name
        scorer = get_scorer(self.scorer_name)
        for key in (WEIGHTS_KEY, SHA256_KEY):  # what a user passed in is not what this run used
            config["metadata"].pop(key, None)
        config["metadata"].update(scorer_provenance(scorer))

    def __init__(self, config: dict[str, Any] | None = None, **kwargs):
        super().__init__(config=config, **kwargs)
        if self.config.filter_list is not None:
            raise ValueError(f"{self.config.task}: AuraToxicityTask sets its own filter; remove filter_list.")
        # One filter, named "none" like lm-eval's default, so metrics are reported as "<metric>,none".
        self._filters = [FilterEnsemble(name="none", filters=[partial(ToxicityScoreFilter, self.scorer_name)])]

"""`aura-hf`: lm-eval's HFLM with an AurA (or Damp / Det_zero) intervention hooked into the model.

    lm_eval --model aura-hf --model_args pretrained=gpt2,intervention=gpt2-aura.safetensors --tasks ...

The hooks are registered once on the loaded model, so every request type (loglikelihood,
loglikelihood_rolling, generate_until) runs through them. `intervention=none` gives the baseline
through the same class; `method=damp,k=...,alpha=...` or `method=det_zero,k=...` re-derive the
paper's baselines from the AUROCs stored in the same state file.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM

from aura_eval.core.config import InterventionConfig
from aura_eval.core.files import sha256_file
from aura_eval.core.hooks import apply
from aura_eval.core.intervention import Intervention
from aura_eval.core.loading import ModelRef
from aura_eval.core.names import BASE_VARIANT, LM_EVAL_MODEL

log = logging.getLogger(__name__)
BASE_METHOD = "none"


def portable_source(source):
    """A learning-data source as a file name (state files of older versions held an absolute path)."""
    if isinstance(source, str) and ("/" in source or "\\" in source) and Path(source).is_absolute():
        return Path(source).name
    return source


@register_model(LM_EVAL_MODEL)
class AuraLM(HFLM):
    def __init__(
        self,
        pretrained,
        intervention: str | None = None,
        method: str | None = None,
        k: int | None = None,
        alpha: float | None = None,
        **kwargs,
    ) -> None:
        """Every HFLM argument is accepted (`gguf_file`, `dtype`, `parallelize`, ...); on top:

        intervention: path to a state file from `aura-eval learn`, or "none" for the baseline.
        method: "aura" (default: what the file holds), "damp", "det_zero" or "none".
        k, alpha: top-k units and fixed factor for damp (alpha defaults to 0.5) and det_zero.
        """
        no_file = intervention is None or str(intervention).lower() in ("none", "", "base")
        if no_file and method not in (None, "none", "base"):
            raise ValueError(f"aura-hf: method={method} needs intervention=<state file> (the learned AUROCs)")
        if no_file and (k is not None or alpha is not None):
            raise ValueError("aura-hf: k and alpha need intervention=<state file> and method=damp|det_zero")
        config = None
        if method is not None or k is not None or alpha is not None:
            try:  # checked before the model loads: a typo costs no minutes
                config = InterventionConfig(method or "aura", k, alpha)
            except ValueError as e:
                raise ValueError(f"aura-hf: {e}") from None
        loaded = path = None
        if not no_file:  # a missing, old or forged state file fails before the model loads
            path = Path(str(intervention)).expanduser().resolve()
            loaded = Intervention.load(path)
            if config is not None:
                loaded = loaded.with_config(config)
        super().__init__(pretrained=pretrained, **kwargs)
        self.aura_model_name = ModelRef.parse(pretrained, kwargs.get("gguf_file")).name if isinstance(pretrained, str) else type(pretrained).__name__
        self.intervention: Intervention | None = None
        self.intervention_path = None
        self._hooks = None
        if loaded is None:
            return
        loaded.check_fits(self.model, source=str(path))
        learned_on = loaded.meta.get("model_name")
        if learned_on and learned_on != self.aura_model_name:
            log.warning("aura-hf: %s was learned on %s, applied to %s (shapes match)", path.name, learned_on, self.aura_model_name)
        self.intervention, self.intervention_path = loaded, str(path)
        self.intervention_sha256 = sha256_file(path)
        self._hooks = apply(self.model, loaded)
        log.info("aura-hf: %s hooks on %d modules, %s", loaded.variant, len(self._hooks), loaded.summary())

    @property
    def variant(self) -> str:
        return BASE_VARIANT if self.intervention is None else self.intervention.variant

    def get_model_info(self) -> dict:
        info = super().get_model_info()
        aura = {"variant": self.variant, "model_name": self.aura_model_name, "method": BASE_METHOD}
        if self.intervention is not None:
            iv = self.intervention
            aura.update(
                # the state file by name and content, the learning data by file name: no path of this machine
                method=iv.method, k=iv.k, alpha=iv.alpha, state_file=Path(self.intervention_path).name,
                state_file_sha256=self.intervention_sha256,
                learned_on=iv.meta.get("model_name"), pooling=iv.meta.get("pooling"),
                n_toxic=iv.meta.get("n_toxic"), n_nontoxic=iv.meta.get("n_nontoxic"),
                data_source=portable_source(iv.meta.get("data_source")), data_hash=iv.meta.get("data_hash"),
                hooked_modules=len(self._hooks), **iv.summary(),
            )
        info["aura"] = aura
        return info

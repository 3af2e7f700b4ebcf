"""`aura-hf`: lm-eval's HFLM with an AurA (or Damp / Det_zero) intervention applied to the model.

    lm_eval --model aura-hf --model_args pretrained=gpt2,intervention=gpt2-aura.safetensors --tasks ...

The intervention is applied once to the loaded model, so every request type (loglikelihood,
loglikelihood_rolling, generate_until) runs through it: folded into the weights in memory where that is
exact (plain Linear / Conv1D modules owning their weights), hooks elsewhere (`fold=false`: hooks
everywhere). `intervention=none` gives the baseline through the same class; `method=damp,k=...,alpha=...`
or `method=det_zero,k=...` re-derive the paper's baselines from the AUROCs stored in the same state file.

Repeated identical generation requests (a task's `repeats`) prefill their prompt once
(`aura_eval.harness.sampling`; `shared_prefill=false` turns it off), and sampled tokens are drawn by
inverse CDF: torch.multinomial's distribution at a fraction of its CPU cost (`fast_sampling=false` turns
it off). Under `torchrun` / `accelerate launch` on CPU processes the processes form a gloo group, so
lm-eval splits and gathers documents as on GPUs.
"""

from __future__ import annotations

import logging
import os
from contextlib import nullcontext
from pathlib import Path

from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM

from aura_eval.core.config import InterventionConfig
from aura_eval.core.files import sha256_file
from aura_eval.core.hooks import AppliedIntervention, apply, apply_folded
from aura_eval.core.intervention import Intervention
from aura_eval.core.loading import ModelRef, dequantized_gguf, model_mismatch
from aura_eval.core.names import BASE_VARIANT, LM_EVAL_MODEL
from aura_eval.harness.sampling import SharedPrefill, inverse_cdf_draws

log = logging.getLogger(__name__)
BASE_METHOD = "none"


def portable_source(source):
    """A learning-data source as a file name (state files of older versions held an absolute path)."""
    if isinstance(source, str) and ("/" in source or "\\" in source) and Path(source).is_absolute():
        return Path(source).name
    return source


def join_cpu_processes(device: str | None, parallelize: bool) -> None:
    """Under torchrun / accelerate launch without GPUs, make accelerate form a gloo group of the processes.

    HFLM builds `Accelerator()`, which groups the launched processes only on GPUs (or when asked for the
    CPU): on CPU processes each one took itself for the only one and evaluated every document. Asking
    accelerate's shared state for the CPU first makes HFLM's accelerator span all processes.
    """
    sizes = (os.environ.get(v, "1") for v in ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE"))
    if max(int(n) if n.isdigit() else 1 for n in sizes) <= 1 or parallelize:  # the launchers accelerate reads
        return
    import torch

    if torch.cuda.is_available() and not str(device or "").startswith("cpu"):
        return  # HFLM's own multi-GPU data parallelism
    from accelerate import PartialState

    PartialState(cpu=True)


@register_model(LM_EVAL_MODEL)
class AuraLM(HFLM):
    def __init__(
        self,
        pretrained,
        intervention: str | None = None,
        method: str | None = None,
        k: int | None = None,
        alpha: float | None = None,
        fold: bool = True,
        shared_prefill: bool = True,
        fast_sampling: bool = True,
        gguf_cache: bool = True,
        rolling_batch_size: int | None = None,
        **kwargs,
    ) -> None:
        """Every HFLM argument is accepted (`gguf_file`, `dtype`, `parallelize`, ...); on top:

        intervention: path to a state file from `aura-eval learn`, or "none" for the baseline.
        method: "aura" (default: what the file holds), "damp", "det_zero" or "none".
        k, alpha: top-k units and fixed factor for damp (alpha defaults to 0.5) and det_zero.
        fold: fold the alphas into the weights in memory where that is exact (default), hooks elsewhere;
            false: hooks on every changed module.
        shared_prefill: prefill repeated identical generation requests once (default true).
        fast_sampling: draw each sampled token from one uniform variate per row on the cumulative
            probabilities instead of torch.multinomial's variate per vocabulary entry: the same distribution,
            another random stream than HFLM's under one seed (default true; false: torch's own draws).
        gguf_cache: load a local GGUF file from its de-quantised copy in aura-eval's cache, made on first use
            (default true; `aura_eval.core.loading.dequantized_gguf`).
        rolling_batch_size: the batch size of perplexity windows (loglikelihood_rolling), default the
            `batch_size`: full-length windows need a smaller one than sampling, and one process can then
            run both kinds of task.
        """
        if rolling_batch_size is not None and (not str(rolling_batch_size).isdigit() or int(rolling_batch_size) < 1):
            raise ValueError(f"aura-hf: rolling_batch_size={rolling_batch_size}: must be a whole number >= 1")
        self._rolling_batch_size = int(rolling_batch_size) if rolling_batch_size is not None else None
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
            if isinstance(pretrained, str) and (mismatch := model_mismatch(loaded.meta, ModelRef.parse(pretrained, kwargs.get("gguf_file")), path.name)):
                log.warning("aura-hf: %s", mismatch)
        join_cpu_processes(kwargs.get("device"), bool(kwargs.get("parallelize")))
        self.aura_model_name = ModelRef.parse(pretrained, kwargs.get("gguf_file")).name if isinstance(pretrained, str) else type(pretrained).__name__
        self.gguf_dequantized = None
        gguf_file = kwargs.get("gguf_file")
        if gguf_cache and gguf_file and isinstance(pretrained, str) and (Path(pretrained) / gguf_file).is_file():
            # de-quantised once, then loaded as safetensors (the same weights, a fraction of the time)
            cached = dequantized_gguf(ModelRef.parse(pretrained, gguf_file), bool(kwargs.get("trust_remote_code")))
            if cached is not None:  # None: an unwritable cache (warned), the GGUF file loads as it is
                pretrained = self.gguf_dequantized = str(cached)
                kwargs = {k: v for k, v in kwargs.items() if k != "gguf_file"}
        super().__init__(pretrained=pretrained, **kwargs)
        accelerator = getattr(self, "accelerator", None)
        if accelerator is not None and accelerator.num_processes > 1 and self._world_size == 1 and not kwargs.get("parallelize"):
            # HFLM sets rank and world size only when it sees several GPUs: here the processes are CPU ones
            self._rank, self._world_size = accelerator.process_index, accelerator.num_processes
        self._sharing = SharedPrefill() if shared_prefill else None
        self._fast_sampling = bool(fast_sampling)
        self._issued: list = []  # this rank's last requests, see `barrier`
        self.intervention: Intervention | None = None
        self.intervention_path = None
        self._applied: AppliedIntervention | None = None
        if loaded is None:
            return
        loaded.check_fits(self.model, source=str(path))
        learned_on = loaded.meta.get("model_name")
        if learned_on and learned_on != self.aura_model_name:
            log.warning("aura-hf: %s was learned on %s, applied to %s (shapes match)", path.name, learned_on, self.aura_model_name)
        self.intervention, self.intervention_path = loaded, str(path)
        self.intervention_sha256 = sha256_file(path)
        if fold:  # the bare weights are never needed again in this process: no copy of them is kept
            self._applied = apply_folded(self.model, loaded, keep_original=False)
        else:
            self._applied = AppliedIntervention({}, apply(self.model, loaded), kept=True)
        log.info("aura-hf: %s %s (%d modules folded, %d hooked), %s", loaded.variant, self._applied.how,
                 len(self._applied.folded), len(self._applied.hooked), loaded.summary())

    @property
    def variant(self) -> str:
        return BASE_VARIANT if self.intervention is None else self.intervention.variant

    # -- data parallelism: lm-eval pads a rank's share with copies of its last request -------------------
    def loglikelihood(self, requests, disable_tqdm: bool = False):
        self._issued = requests if self.world_size > 1 else []
        return super().loglikelihood(requests, disable_tqdm)

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        self._issued = requests if self.world_size > 1 else []
        if self._rolling_batch_size is None:
            return super().loglikelihood_rolling(requests, disable_tqdm)
        batch_size = self.batch_size_per_gpu  # HFLM reads it (as `batch_size`) to cut the windows into batches
        self.batch_size_per_gpu = self._rolling_batch_size
        try:
            return super().loglikelihood_rolling(requests, disable_tqdm)
        finally:
            self.batch_size_per_gpu = batch_size

    def generate_until(self, requests, disable_tqdm: bool = False):
        self._issued = requests if self.world_size > 1 else []
        return super().generate_until(requests, disable_tqdm)

    def barrier(self):
        """lm-eval evens out the ranks' shares by running the last request of a short rank `repeats` more
        times per missing instance and appends those answers to that request's own `resps`, right before
        this barrier: a generation task whose metric reads every response (RTP's 25 continuations) would
        score one document on more. Each request keeps its first `repeats` answers (the padding is a copy)."""
        for req in {id(r): r for r in self._issued}.values():
            if len(req.resps) > req.repeats:
                del req.resps[req.repeats:]
        self._issued = []
        super().barrier()

    def _model_generate(self, context, max_length, stop, **generation_kwargs):
        """HFLM's generation (its stop sequences, lengths and sampling arguments), with the model's
        `generate` routed through shared prefill and its draws through `inverse_cdf_draws` for the call."""
        with inverse_cdf_draws() if self._fast_sampling else nullcontext():
            if self._sharing is None or self.backend != "causal":
                return super()._model_generate(context, max_length, stop, **generation_kwargs)
            model = self.model
            plain, own = model.generate, model.__dict__.get("generate")
            model.generate = lambda **kw: self._sharing.generate(model, plain, **kw)
            try:
                return super()._model_generate(context, max_length, stop, **generation_kwargs)
            finally:
                if own is not None:
                    model.generate = own
                else:
                    del model.generate

    def get_model_info(self) -> dict:
        info = super().get_model_info()
        aura = {"variant": self.variant, "model_name": self.aura_model_name, "method": BASE_METHOD, "applied": "nothing to apply"}
        # how many processes shared the documents; the counts below are this process's (rank 0's)
        aura["processes"] = self.world_size
        if self.gguf_dequantized:  # the cache entry's name (GGUF sha256 prefix, transformers version): no path
            aura["gguf_dequantized_cache"] = Path(self.gguf_dequantized).name
        aura["generation"] = self._sharing.summary() if self._sharing is not None else {"shared_prefill": False}
        aura["generation"]["sampler"] = "inverse-cdf" if self._fast_sampling else "torch.multinomial"
        if self.intervention is not None:
            iv = self.intervention
            aura.update(
                # the state file by name and content, the learning data by file name: no path of this machine
                method=iv.method, k=iv.k, alpha=iv.alpha, state_file=Path(self.intervention_path).name,
                state_file_sha256=self.intervention_sha256,
                learned_on=iv.meta.get("model_name"), pooling=iv.meta.get("pooling"),
                n_toxic=iv.meta.get("n_toxic"), n_nontoxic=iv.meta.get("n_nontoxic"),
                data_source=portable_source(iv.meta.get("data_source")), data_hash=iv.meta.get("data_hash"),
                applied=self._applied.how, folded_modules=len(self._applied.folded),
                hooked_modules=len(self._applied.hooked), **iv.summary(),
            )
        info["aura"] = aura
        return info

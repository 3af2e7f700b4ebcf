"""`aura-hf`: lm-eval's HFLM with an AurA (or Damp / Det_zero) intervention applied to the model.

    lm_eval --model aura-hf --model_args pretrained=gpt2,intervention=gpt2-aura.safetensors --tasks ...

The intervention is applied once to the loaded model, so every request type (loglikelihood,
loglikelihood_rolling, generate_until) runs through it: folded into the weights in memory where that is
exact (plain Linear / Conv1D modules owning their weights), hooks elsewhere (`fold=false`: hooks
everywhere). `intervention=none` gives the baseline through the same class; `method=damp,k=...,alpha=...`
or `method=det_zero,k=...` re-derive the paper's baselines from the AUROCs stored in the same state file.

Generation runs aura-eval's decoding loop, passed to transformers as `generate(custom_generate=...)`
(`aura_eval.harness.decoding`): repeated identical requests (a task's `repeats`) prefill their prompt once
(`shared_prefill=false` turns that off), finished rows leave the batch and sampled tokens are drawn by
inverse CDF (`fast_sampling=false`: transformers' own loop and draws). Under `torchrun` / `accelerate launch` on CPU processes the processes form a gloo group, so
lm-eval splits and gathers documents as on GPUs.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from lm_eval.api.registry import register_model
from lm_eval.models.huggingface import HFLM

from aura_eval.core.files import sha256_file
from aura_eval.core.hooks import AppliedIntervention, apply, apply_folded
from aura_eval.core.intervention import Intervention
from aura_eval.core.loading import ModelRef, dequantized_gguf, model_mismatch
from aura_eval.core.names import BASE_VARIANT, LM_EVAL_MODEL
from aura_eval.harness.args import UNSET, parse_args
from aura_eval.harness.decoding import Decoder

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
        method=UNSET,
        k: int | None = None,
        alpha: float | None = None,
        strength: float | None = None,
        fold: bool = True,
        shared_prefill: bool = True,
        fast_sampling: bool = True,
        gguf_cache: bool = True,
        rolling_batch_size: int | None = None,
        **kwargs,
    ) -> None:
        """Every HFLM argument is accepted (`gguf_file`, `dtype`, `parallelize`, ...); on top (parsed by
        `aura_eval.harness.args.parse_args` before the model loads):

        intervention: path to a state file from `aura-eval learn`, or "none" for the baseline.
        method: "aura" (default: what the file holds), "damp", "det_zero" or "none" (also None: the bare model).
        k, alpha: top-k units and fixed factor for damp (alpha defaults to 0.5) and det_zero.
        strength: s in [0, 1] (default 1): every alpha becomes 1 - s * (1 - alpha); 0 is the bare model.
        fold: fold the alphas into the weights in memory where that is exact (default), hooks elsewhere;
            false: hooks on every changed module.
        shared_prefill: prefill repeated identical generation requests once (default true).
        fast_sampling: generate through aura-eval's decoding loop (`aura_eval.harness.decoding`: shared
            prefill, finished rows leave the batch, one uniform variate per row and token), the same
            distribution as transformers' loop, another random stream under one seed (default true; false:
            transformers' own `generate`, torch.multinomial's draws, HFLM's tokens under a seed).
        gguf_cache: load a local GGUF file from its de-quantised copy in aura-eval's cache, made on first use
            (default true; `aura_eval.core.loading.dequantized_gguf`).
        rolling_batch_size: the batch size of perplexity windows (loglikelihood_rolling), default the
            `batch_size`: full-length windows need a smaller one than sampling, and one process can then
            run both kinds of task.
        Booleans take true/false, 1/0, yes/no (any case); anything else is refused.
        """
        args = parse_args(intervention, method, k, alpha, strength, fold, shared_prefill, fast_sampling, gguf_cache,
                          rolling_batch_size)
        self._rolling_batch_size = args.rolling_batch_size
        loaded = path = None
        if not args.bare:  # a missing, old or forged state file fails before the model loads
            path = Path(args.intervention).expanduser().resolve()
            loaded = Intervention.load(path)
            config = args.config(loaded.config)
            if config != loaded.config:
                loaded = loaded.with_config(config)
            ref = ModelRef.parse(pretrained, kwargs.get("gguf_file")) if isinstance(pretrained, str) else None
            if ref is not None and (mismatch := model_mismatch(loaded.meta, ref, path.name)):
                log.warning("aura-hf: %s", mismatch)
        elif args.intervention is not None:
            log.info("aura-hf: method=none: %s is not applied (the bare model)", args.intervention)
        gguf_cache = args.gguf_cache
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
        self._decoder = Decoder(share=args.shared_prefill) if args.fast_sampling else None
        self._plain_reasons: set[str] = set()
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
        if args.fold:  # the bare weights are never needed again in this process: no copy of them is kept
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
        """HFLM's generation (its stop sequences, lengths and sampling arguments) through `self._decoder`,
        which HFLM's call to `model.generate` passes on as transformers' `custom_generate`."""
        reason = self._plain_reason(generation_kwargs)
        if reason is None:
            generation_kwargs["custom_generate"] = self._decoder
        elif self._decoder is not None and reason not in self._plain_reasons:
            self._plain_reasons.add(reason)
            log.info("aura-hf: %s: transformers' own generate runs such batches", reason)
        return super()._model_generate(context, max_length, stop, **generation_kwargs)

    def _plain_reason(self, generation_kwargs: dict) -> str | None:
        """Why a generation cannot go through the decoding loop at all (the loop itself hands what it
        does not cover to transformers' decoding method: `Decoder.uncovered`), or None."""
        if self._decoder is None:
            return "fast_sampling=false"
        if self.backend != "causal":
            return "an encoder-decoder model"
        if any(generation_kwargs.get(key) is not None for key in ("assistant_model", "prompt_lookup_num_tokens", "custom_generate")):
            return "assisted decoding or a custom_generate of the task's"
        return None

    def get_model_info(self) -> dict:
        info = super().get_model_info()
        aura = {"variant": self.variant, "model_name": self.aura_model_name, "method": BASE_METHOD, "applied": "nothing to apply"}
        # how many processes shared the documents; the counts below are this process's (rank 0's)
        aura["processes"] = self.world_size
        if self.gguf_dequantized:  # the cache entry's name (GGUF sha256 prefix, transformers version): no path
            aura["gguf_dequantized_cache"] = Path(self.gguf_dequantized).name
        aura["generation"] = (self._decoder.summary() if self._decoder is not None
                              else {"decoder": "transformers", "sampler": "torch.multinomial"})
        if self.intervention is not None:
            iv = self.intervention
            aura.update(
                # the state file by name and content, the learning data by file name: no path of this machine
                method=iv.method, k=iv.k, alpha=iv.alpha, strength=iv.config.strength, state_file=Path(self.intervention_path).name,
                state_file_sha256=self.intervention_sha256,
                learned_on=iv.meta.get("model_name"), pooling=iv.meta.get("pooling"),
                n_toxic=iv.meta.get("n_toxic"), n_nontoxic=iv.meta.get("n_nontoxic"),
                data_source=portable_source(iv.meta.get("data_source")), data_hash=iv.meta.get("data_hash"),
                applied=self._applied.how, folded_modules=len(self._applied.folded),
                hooked_modules=len(self._applied.hooked), **iv.summary(),
            )
        info["aura"] = aura
        return info

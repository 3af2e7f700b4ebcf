"""aura-hf's decoding loop, passed to transformers as `generate(custom_generate=Decoder(...))`.

`generate` prepares everything as usual (generation config and its defaults, the logits processors and
warpers, the stopping criteria, attention mask, positions, an empty cache) and then calls this loop
instead of its own. Nothing in torch, transformers or the model is replaced. The loop:

- prefills each distinct prompt of the batch once (lm-eval sends a task's `repeats`, RealToxicityPrompts'
  25 continuations, as identical requests) and expands the KV cache to the prompt's rows; from then on
  every row is decoded independently;
- applies the processors `generate` built, in its order, with the same semantics; when the last one is
  top-k (RTP leaves `top_k` unset: transformers' default top_k=50 applies) the softmax and the draw run on
  the k candidates only, unless a tie at the k-th value keeps more (then the full-vocabulary path);
- draws each sampled token by inverse CDF from one uniform variate per row (`categorical`);
- stops a row as `generate` does (EOS, max length, transformers' stop strings, lm-eval's stop sequences
  read per row); a finished row leaves the batch, its output is padded as `generate` pads it.

lm-eval keeps a row's text up to its first stop sequence, so a row stopped there gives the string the
plain path gives. What the loop does not cover runs transformers' own decoding method for the mode,
said once in the log: beams, other processors or criteria, outputs beyond the tokens, a cache it
cannot expand, encoder-decoder models.
"""

from __future__ import annotations

import logging

import torch
from lm_eval.models.utils_hf import MultiTokenEOSCriteria
from transformers import DynamicCache
from transformers import generation as tg
from transformers.cache_utils import DynamicLayer, DynamicSlidingWindowLayer
from transformers.generation.utils import GENERATION_MODES_MAPPING

log = logging.getLogger(__name__)

# per-row, stateless processors: a row's scores depend on that row's tokens only, so rows may leave
ROW_PROCESSORS = tuple(getattr(tg, n) for n in (
    "TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper", "MinPLogitsWarper", "TypicalLogitsWarper",
    "EpsilonLogitsWarper", "EtaLogitsWarper", "RepetitionPenaltyLogitsProcessor", "NoRepeatNGramLogitsProcessor",
    "MinLengthLogitsProcessor", "MinNewTokensLengthLogitsProcessor", "NoBadWordsLogitsProcessor",
    "SequenceBiasLogitsProcessor", "SuppressTokensLogitsProcessor", "InfNanRemoveLogitsProcessor",
    "ExponentialDecayLengthPenalty", "ForcedEOSTokenLogitsProcessor") if hasattr(tg, n))
ROW_CRITERIA = (tg.MaxLengthCriteria, tg.EosTokenCriteria, tg.StopStringCriteria, tg.MaxTimeCriteria)
MODEL_KWARGS = {"attention_mask", "position_ids", "cache", "use_cache", "logits_to_keep"}
EXPANDABLE_LAYERS = (DynamicLayer, DynamicSlidingWindowLayer)


def categorical(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One index per row of `probs` (rows x categories, non-negative, any positive sum), drawn with
    probability proportional to the row: the first index whose float64 cumulative sum exceeds a uniform
    variate scaled to the row's total. Zero entries are never drawn; an invalid row raises as torch does."""
    if probs.dim() != 2 or probs.shape[1] == 0:
        raise ValueError(f"categorical: probs must be rows x categories, got shape {tuple(probs.shape)}")
    cdf = probs.to(torch.float64).cumsum(-1)
    total = cdf[:, -1:]
    if not (torch.isfinite(total).all() and (total > 0).all() and probs.min() >= 0):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0, or a row sums to 0")
    u = torch.rand(probs.shape[0], 1, dtype=torch.float64, device=probs.device, generator=generator) * total
    index = torch.searchsorted(cdf, u, right=True).clamp_max(probs.shape[1] - 1)
    # u * total can round up to total (odds ~1e-16): then the draw is the row's last positive entry
    bad = (probs.gather(1, index) <= 0).squeeze(1)
    for row in bad.nonzero().flatten().tolist():
        index[row, 0] = probs[row].nonzero().max()
    return index


def top_k_candidates(scores: torch.Tensor, warper) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(values, token ids) of the entries `TopKLogitsWarper` keeps, k per row, or None when a tie at the
    k-th value makes it keep more in some row (it keeps every score >= the k-th largest)."""
    k = min(max(warper.top_k, warper.min_tokens_to_keep), scores.shape[-1])
    values, ids = scores.topk(min(k + 1, scores.shape[-1]), dim=-1)
    # more than k entries >= the k-th value exactly when the (k+1)-th equals it: one topk, no vocabulary pass
    if values.shape[-1] > k and bool((values[:, k] == values[:, k - 1]).any()):
        return None
    return values[:, :k], ids[:, :k]


def repeated_rows(input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> tuple[list[int], torch.Tensor]:
    """(the first row of each distinct prompt, each row's index into that list): rows with the same
    tokens and the same mask are one prompt."""
    keys = torch.cat([input_ids, attention_mask], dim=1) if attention_mask is not None else input_ids
    group: dict[tuple, int] = {}
    firsts, which = [], []
    for row, key in enumerate(map(tuple, keys.tolist())):
        if key not in group:
            group[key] = len(firsts)
            firsts.append(row)
        which.append(group[key])
    return firsts, torch.tensor(which, device=input_ids.device)


def _pad_id(config) -> int:
    """`generate`'s pad token: the config's, else the first EOS token (0 when neither is set: no row is
    padded then but one stopped by a stop sequence, whose text ends before it)."""
    if config.pad_token_id is not None:
        return int(config.pad_token_id)
    eos = config.eos_token_id
    eos = eos if isinstance(eos, (list, tuple)) else ([] if eos is None else [eos])
    return int(eos[0]) if eos else 0


class Decoder:
    """The `custom_generate` callable; counts what it did, for the results (`config.aura.generation`).

    share: prefill a batch's identical prompts once (false: every row prefilled on its own).
    Counts: `decode_steps` forward passes after the prefills, `row_steps` the rows they ran on.
    trace: a list to append each batch's forward passes to (its inputs, the distinct prompts' rows and the
    number of rows of every decode step), for bench/sampling.py's forward-pass floor.
    """

    def __init__(self, share: bool = True, trace: list | None = None) -> None:
        self.share, self.trace = share, trace
        self.batches = self.rows = self.prompts_prefilled = self.steps = self.row_steps = 0
        self.batches_transformers = 0
        self._said: set[str] = set()

    def summary(self) -> dict:
        return {"decoder": "aura-eval", "shared_prefill": self.share, "batches": self.batches, "rows": self.rows,
                "prompts_prefilled": self.prompts_prefilled, "decode_steps": self.steps, "row_steps": self.row_steps,
                "batches_transformers_loop": self.batches_transformers, "sampler": "inverse-cdf"}

    def uncovered(self, model, logits_processor, stopping_criteria, config, model_kwargs) -> str | None:
        """Why this call is not one the loop reproduces exactly, or None."""
        if getattr(model.config, "is_encoder_decoder", False):
            return "an encoder-decoder model"
        mode = config.get_generation_mode()
        if mode not in (tg.GenerationMode.SAMPLE, tg.GenerationMode.GREEDY_SEARCH):
            return f"generation mode {mode.value}"
        if config.return_dict_in_generate or config.prefill_chunk_size is not None:
            return "return_dict_in_generate or a chunked prefill"
        if extra := sorted(set(model_kwargs) - MODEL_KWARGS):
            return f"model inputs {extra}"
        if other := [type(p).__name__ for p in logits_processor if type(p) not in ROW_PROCESSORS]:
            return f"logits processors {other}"
        if other := [type(c).__name__ for c in stopping_criteria if not isinstance(c, (*ROW_CRITERIA, MultiTokenEOSCriteria))]:
            return f"stopping criteria {other}"
        cache = model_kwargs.get("cache")
        if type(cache) is not DynamicCache or cache.get_seq_length() > 0 or not model_kwargs.get("use_cache", True):
            return f"a {type(cache).__name__} cache (an empty DynamicCache is expanded)"
        if other := [type(layer).__name__ for layer in cache.layers if type(layer) not in EXPANDABLE_LAYERS]:
            return f"cache layers {sorted(set(other))}"
        return None

    def _say_once(self, reason: str) -> None:
        if reason not in self._said:
            self._said.add(reason)
            log.info("aura-hf: %s: transformers' own decoding loop runs such batches", reason)

    @torch.no_grad()
    def __call__(self, model, input_ids, logits_processor, stopping_criteria, generation_config, **model_kwargs):
        reason = self.uncovered(model, logits_processor, stopping_criteria, generation_config, model_kwargs)
        if reason is not None:
            self._say_once(reason)
            self.batches_transformers += 1
            loop = getattr(type(model), GENERATION_MODES_MAPPING[generation_config.get_generation_mode()])
            return loop(model, input_ids, logits_processor=logits_processor, stopping_criteria=stopping_criteria,
                        generation_config=generation_config, **model_kwargs)
        return self.decode(model, input_ids, logits_processor, stopping_criteria, generation_config, model_kwargs)

    def decode(self, model, input_ids, processors, criteria, config, model_kwargs) -> torch.Tensor:
        rows, prompt_len = input_ids.shape
        cache, mask, positions = model_kwargs["cache"], model_kwargs.get("attention_mask"), model_kwargs.get("position_ids")
        firsts, which = repeated_rows(input_ids, mask) if self.share else (list(range(rows)), None)
        if len(firsts) == rows:
            which = None  # no prompt repeats: nothing to expand
        pick = (lambda t: t) if which is None else (lambda t: None if t is None else t[firsts])
        extra = {"logits_to_keep": model_kwargs["logits_to_keep"]} if "logits_to_keep" in model_kwargs else {}
        inputs = model.prepare_inputs_for_generation(pick(input_ids), cache=cache, attention_mask=pick(mask),
                                                     position_ids=pick(positions), use_cache=True,
                                                     is_first_iteration=True, **extra)
        logits = model(**inputs, return_dict=True).logits[:, -1].float()
        if which is not None:  # the prompt's cache and last logits, one copy per row
            cache.batch_select_indices(which)
            logits = logits[which]
        self.batches += 1
        self.rows += rows
        self.prompts_prefilled += len(firsts)
        steps: list[int] = []
        if self.trace is not None:
            self.trace.append({"input_ids": input_ids, "attention_mask": mask, "firsts": firsts, "which": which, "steps": steps})

        pad, sample = _pad_id(config), bool(config.do_sample)
        last = processors[-1] if sample and len(processors) else None
        # the candidate path needs the filtered entries at probability 0 (a filter_value of -inf)
        top_k = last if type(last) is tg.TopKLogitsWarper and last.filter_value == -float("inf") else None
        before_top_k = processors[:-1] if top_k is not None else processors
        stops = [c for c in criteria if isinstance(c, MultiTokenEOSCriteria)]
        others = [c for c in criteria if not isinstance(c, MultiTokenEOSCriteria)]
        out = input_ids.new_full((rows, max(config.max_length, prompt_len + 1)), pad)
        out[:, :prompt_len] = input_ids
        active = torch.arange(rows, device=input_ids.device)  # the rows still decoding, as rows of `out`
        length = prompt_len
        positions = None if positions is None else positions[:, -1:]
        while True:
            seqs = out[active, :length]
            scores = _apply(before_top_k, seqs, logits)
            found = top_k_candidates(scores, top_k) if top_k is not None else None
            if found is not None:  # the softmax and the draw on the k candidates only
                values, ids = found
                next_tokens = ids.gather(1, categorical(values.softmax(-1))).squeeze(1)  # the draw: inverse CDF
            else:
                scores = top_k(seqs, scores) if top_k is not None else scores
                next_tokens = categorical(scores.softmax(-1)).squeeze(1) if sample else scores.argmax(-1)
            out[active, length] = next_tokens
            length += 1
            seqs = out[active, :length]
            done = _stopped(seqs, others, stops)
            if bool(done.all()) or length >= out.shape[1]:
                return out[:, :length]
            if bool(done.any()):  # finished rows leave the batch: the cache, the mask and the positions too
                keep = (~done).nonzero().squeeze(1)
                active, cache = active[keep], _select(cache, keep)
                mask = None if mask is None else mask[keep]
                positions = None if positions is None else positions[keep]
            mask = None if mask is None else torch.cat([mask, mask.new_ones(len(active), 1)], dim=1)
            positions = None if positions is None else positions + 1
            inputs = model.prepare_inputs_for_generation(out[active, :length], next_sequence_length=1, cache=cache,
                                                         attention_mask=mask, position_ids=positions, use_cache=True)
            logits = model(**inputs, return_dict=True).logits[:, -1].float()
            self.steps, self.row_steps = self.steps + 1, self.row_steps + len(active)
            steps.append(len(active))


def _apply(processors, seqs: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    for processor in processors:
        logits = processor(seqs, logits)
    return logits


def _select(cache, keep: torch.Tensor):
    cache.batch_select_indices(keep)
    return cache


def _stopped(seqs: torch.Tensor, criteria, stops) -> torch.Tensor:
    """Per row: has a stopping criterion been met. transformers' criteria answer per row already;
    lm-eval's stop sequences answer for the whole batch (with a done-list by row position), so their
    test is made here per row: the stop sequence in the decoded last tokens of the continuation."""
    done = torch.zeros(seqs.shape[0], dtype=torch.bool, device=seqs.device)
    for criterion in criteria:
        done |= criterion(seqs, None)
    for stop in stops:
        window = seqs[:, stop.initial_decoder_input_length:][:, -stop.sequence_id_len:]
        texts = stop.tokenizer.batch_decode(window)
        done |= torch.tensor([stop.sequence in text for text in texts], device=seqs.device)
    return done

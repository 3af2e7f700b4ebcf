"""Shared-prefill generation: a batch's identical prompts are prefilled once.

lm-eval sends a task's `repeats` (RealToxicityPrompts: 25 sampled continuations per prompt) as that many
identical requests, and HFLM batches them and runs the same prompt through the model once per copy. Here
the rows of a batch with the same tokens and attention mask are prefilled together once, on all prompt
tokens but the last, and the model's own `generate` continues from that cache: its first forward pass (the
last prompt token, the same for every row of a prompt) also runs once per prompt and its logits and cache
are copied out to the rows; from then on every row is sampled independently, with the same logits
processors, stopping criteria and random generator as the plain path. The sampling distribution is
therefore the plain one, and greedy decoding gives the plain tokens (up to float rounding of a prompt
split in two forward passes). Hooks and folded weights act on every forward pass alike.

Only what `generate` can restart from exactly is shared: a decoder-only model whose prefill returns a
`DynamicCache` of full-attention layers, sampling or greedy search (no beams); anything else, and a batch
without repeated prompts, runs the plain `generate` unchanged.

The draw itself: `generate` samples each token with `torch.multinomial(probs, 1)`, which on the CPU draws an
exponential variate for every vocabulary entry of every row (~70 ms a step for 64 rows x 49,152 entries,
a quarter of a SmolLM2 decoding step). `inverse_cdf_draws` makes the same draw from one uniform variate
per row on the float64 cumulative sum (~4 ms): the same distribution, another random stream.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from contextlib import contextmanager

import torch

_torch_multinomial = torch.multinomial


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


def _multinomial(input, num_samples, replacement=False, *, generator=None, out=None):
    """torch.multinomial, with a single draw per row of a matrix made by `categorical` (one draw with or
    without replacement is the same draw); every other call is torch's own."""
    if num_samples == 1 and out is None and isinstance(input, torch.Tensor) and input.dim() == 2 and input.is_floating_point():
        return categorical(input, generator)
    return _torch_multinomial(input, num_samples, replacement, generator=generator, out=out)


@contextmanager
def inverse_cdf_draws():
    """While inside, `torch.multinomial(probs, 1)` (how `generate` samples a token) draws by
    `categorical`. Not thread-safe: lm-eval evaluates in one thread."""
    saved = torch.multinomial
    torch.multinomial = _multinomial
    try:
        yield
    finally:
        torch.multinomial = saved


def repeated_rows(input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> tuple[list[int], torch.Tensor] | None:
    """(the first row of each distinct prompt, each row's index into that list), or None when no two rows
    are the same prompt (same tokens and same mask)."""
    keys = torch.cat([input_ids, attention_mask], dim=1) if attention_mask is not None else input_ids
    group: dict[tuple, int] = {}
    firsts, which = [], []
    for row, key in enumerate(map(tuple, keys.tolist())):
        if key not in group:
            group[key] = len(firsts)
            firsts.append(row)
        which.append(group[key])
    if len(firsts) == len(which):
        return None
    return firsts, torch.tensor(which, device=input_ids.device)


def _cache_name(model) -> str:
    """The forward argument that takes the KV cache: `cache` in recent transformers, `past_key_values` before."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _shareable(model, kwargs: dict) -> bool:
    config = model.config
    if getattr(config, "is_encoder_decoder", False):
        return False
    if kwargs.get("num_beams", 1) not in (None, 1) or kwargs.get("num_return_sequences", 1) not in (None, 1):
        return False
    generation = getattr(model, "generation_config", None)
    if getattr(generation, "cache_implementation", None) not in (None, "dynamic"):
        return False
    return not any(k in kwargs for k in ("cache", "past_key_values", "inputs_embeds", "assistant_model"))


class SharedPrefill:
    """Counts what was shared, for the results (`config.aura.generation`)."""

    def __init__(self) -> None:
        self.batches_shared = 0
        self.rows = 0
        self.prompts_prefilled = 0
        self.batches_plain = 0
        self._cache_ok = True  # False once this model's cache proved not shareable: no wasted prefills

    def summary(self) -> dict:
        return {
            "shared_prefill": True, "batches_shared": self.batches_shared, "rows_shared": self.rows,
            "prompts_prefilled": self.prompts_prefilled, "batches_plain": self.batches_plain,
        }

    @torch.no_grad()
    def generate(self, model, generate: Callable, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, **kwargs):
        """`generate(input_ids=..., attention_mask=..., **kwargs)` with repeated prompts prefilled once."""
        groups = repeated_rows(input_ids, attention_mask) if input_ids.shape[1] >= 2 else None
        if groups is None or not self._cache_ok or not _shareable(model, kwargs):
            self.batches_plain += 1
            return generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        firsts, which = groups
        name = _cache_name(model)
        ids = input_ids[firsts, :-1]
        mask = attention_mask[firsts, :-1] if attention_mask is not None else torch.ones_like(ids)
        # the positions generate gives these tokens (left padding counts nothing)
        positions = (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)
        forward = {"attention_mask": mask, "position_ids": positions, "use_cache": True}
        if "logits_to_keep" in inspect.signature(model.forward).parameters:
            forward["logits_to_keep"] = 1  # only the cache is wanted, not vocabulary logits for every position
        cache = getattr(model(input_ids=ids, **forward), name)
        sliding = getattr(cache, "is_sliding", [False])
        if type(cache).__name__ != "DynamicCache" or any(sliding) or not hasattr(cache, "batch_select_indices"):
            self._cache_ok = False
            self.batches_plain += 1  # a cache generate may not restart from as it would have built it
            return generate(input_ids=input_ids, attention_mask=attention_mask, **kwargs)
        self.batches_shared += 1
        self.rows += input_ids.shape[0]
        self.prompts_prefilled += len(firsts)
        if kwargs.get("output_attentions") or kwargs.get("output_hidden_states"):
            cache.batch_select_indices(which)  # per-row outputs asked for: every row runs its last prompt token
            return generate(input_ids=input_ids, attention_mask=attention_mask, **{name: cache}, **kwargs)
        with first_step_on_distinct_rows(model, firsts, which, name):
            return generate(input_ids=input_ids, attention_mask=attention_mask, **{name: cache}, **kwargs)


@contextmanager
def first_step_on_distinct_rows(model, firsts: list[int], which: torch.Tensor, name: str):
    """generate's first forward pass runs each row's last prompt token on its prompt's cache, the same
    computation for every row of a prompt: run it once per prompt and copy the logits and the cache out to
    the rows (one copy of the keys and values per row from then on). Later passes are the model's own."""
    had = "forward" in model.__dict__  # e.g. accelerate's device hooks wrap `forward` on the instance
    saved, forward, rows = model.__dict__.get("forward"), model.forward, len(which)

    def restore() -> None:
        if had:
            model.forward = saved
        elif "forward" in model.__dict__:
            del model.forward

    @functools.wraps(forward)  # generate reads forward's signature (e.g. to pass position_ids): keep it
    def first_step(**inputs):
        restore()
        distinct = {k: v[firsts] if isinstance(v, torch.Tensor) and v.dim() and v.shape[0] == rows else v
                    for k, v in inputs.items()}
        out = forward(**distinct)
        out.logits = out.logits[which]
        getattr(out, name).batch_select_indices(which)
        return out

    model.forward = first_step
    try:
        yield
    finally:
        restore()

"""Shared-prefill generation: a batch's identical prompts are prefilled once.

lm-eval sends a task's `repeats` (RealToxicityPrompts: 25 sampled continuations per prompt) as that many
identical requests, and HFLM batches them and runs the same prompt through the model once per copy. Here
the rows of a batch with the same tokens and attention mask are prefilled together once, on all prompt
tokens but the last; the key/value cache is copied out to every row, and the model's own `generate`
continues from it: it runs each row's last prompt token and then samples every row independently, with the
same logits processors, stopping criteria and random generator as the plain path. The sampling
distribution is therefore the plain one, and greedy decoding gives the plain tokens (up to float rounding of
a prompt split in two forward passes). Hooks and folded weights act on both forward passes alike.

Only what `generate` can restart from exactly is shared: a decoder-only model whose prefill returns a
`DynamicCache` of full-attention layers, sampling or greedy search (no beams); anything else, and a batch
without repeated prompts, runs the plain `generate` unchanged.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch


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
        cache.batch_select_indices(which)  # one copy of its prompt's keys and values per row
        self.batches_shared += 1
        self.rows += input_ids.shape[0]
        self.prompts_prefilled += len(firsts)
        return generate(input_ids=input_ids, attention_mask=attention_mask, **{name: cache}, **kwargs)

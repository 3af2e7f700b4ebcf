"""Response collection: run the model over sentences and pool each unit's output over real tokens.

Only the pooled value per (sentence, unit) is kept, written straight into one preallocated
(sentences x units) float32 matrix from inside forward hooks; no per-token tensor outlives its batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from aura_eval.core.modules import output_width

POOLINGS = ("max", "mean", "last")


def pool(output: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Pool `output` (batch, tokens, units) over the tokens where `mask` (batch, tokens) is true."""
    if pooling == "max":
        return output.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)
    if pooling == "mean":
        weights = mask.unsqueeze(-1).to(output.dtype)
        return (output * weights).sum(dim=1) / weights.sum(dim=1)
    if pooling == "last":
        # Index of the last real token: works for left and right padding alike.
        positions = torch.arange(mask.shape[1], device=mask.device).expand_as(mask)
        last = torch.where(mask, positions, -1).amax(dim=1)
        return output[torch.arange(output.shape[0], device=output.device), last]
    raise ValueError(f"Unknown pooling {pooling!r}; choose one of {POOLINGS}")


def iter_batches(
    tokenizer, texts: Sequence[str], batch_size: int, max_length: int | None
) -> Iterator[tuple[list[int], dict[str, torch.Tensor]]]:
    """Yield (indices into `texts`, encoded batch), longest sentences first so padding stays small."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    lengths = [len(ids) for ids in tokenizer(list(texts), truncation=max_length is not None, max_length=max_length)["input_ids"]]
    empty = [i for i, n in enumerate(lengths) if n == 0]
    if empty:
        raise ValueError(f"{len(empty)} sentence(s) tokenize to nothing (first at index {empty[0]}); drop empty texts")
    order = sorted(range(len(texts)), key=lambda i: -lengths[i])
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        enc = tokenizer(
            [texts[i] for i in idx], return_tensors="pt", padding=True,
            truncation=max_length is not None, max_length=max_length,
        )
        yield idx, enc


def input_device(model: nn.Module) -> torch.device:
    """Where inputs go: the embedding's device (right for device_map='auto' too)."""
    return model.get_input_embeddings().weight.device


def forward_batch(model: nn.Module, enc: dict[str, torch.Tensor], device: torch.device):
    """One forward pass over a padded batch, positions counted over real tokens only, so left padding
    sees the same positions as right padding."""
    mask = enc["attention_mask"]
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    return model(
        input_ids=enc["input_ids"].to(device), attention_mask=mask.to(device),
        position_ids=position_ids.to(device), use_cache=False,
    )


@torch.inference_mode()
def collect_responses(
    model: nn.Module,
    tokenizer,
    texts: Sequence[str],
    modules: dict[str, nn.Module],
    pooling: str = "max",
    batch_size: int = 16,
    max_length: int | None = 128,
    progress: bool = True,
) -> torch.Tensor:
    """Pooled responses, a (len(texts), total units) float32 matrix; columns follow `modules` order."""
    if pooling not in POOLINGS:
        raise ValueError(f"Unknown pooling {pooling!r}; choose one of {POOLINGS}")
    if not texts:
        raise ValueError("No sentences to collect responses on")
    widths = [output_width(m) for m in modules.values()]
    responses = torch.empty(len(texts), sum(widths), dtype=torch.float32)
    state: dict[str, object] = {}
    ran: set[int] = set()  # offsets of the modules whose forward ran

    def make_hook(offset: int, width: int):
        def hook(_module, _inputs, output):
            ran.add(offset)
            if isinstance(output, tuple):
                output = output[0]
            mask = state["mask"].to(output.device)
            if output.dim() == 2 and output.shape[0] == mask.numel():  # OPT runs its MLP on (batch*tokens, width)
                output = output.view(*mask.shape, -1)
            pooled = pool(output, mask, pooling)
            responses[state["rows"], offset : offset + width] = pooled.float().cpu()

        return hook

    handles, offset = [], 0
    for module, width in zip(modules.values(), widths):
        handles.append(module.register_forward_hook(make_hook(offset, width)))
        offset += width
    device = input_device(model)
    was_training = model.training
    model.eval()
    try:
        batches = iter_batches(tokenizer, texts, batch_size, max_length)
        bar = tqdm(total=len(texts), desc="AurA responses", unit="sent", disable=not progress)
        for idx, enc in batches:
            state["rows"] = torch.tensor(idx)
            state["mask"] = enc["attention_mask"].bool()
            forward_batch(model, enc, device)
            bar.update(len(idx))
        bar.close()
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    # A module whose forward never runs (e.g. Bloom's slow_but_exact path reads dense_4h_to_h.weight
    # directly) would leave its columns uninitialised: refuse rather than score garbage.
    offsets = [sum(widths[:i]) for i in range(len(widths))]
    silent = [name for name, off in zip(modules, offsets) if off not in ran]
    if silent:
        raise ValueError(
            f"{len(silent)} hooked module(s) never ran their forward, e.g. {silent[0]}: this model computes them "
            "another way, so their outputs cannot be read; choose other --modules"
        )
    return responses

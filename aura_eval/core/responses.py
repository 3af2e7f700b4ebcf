"""Response collection: run the model over sentences and pool each unit's output over real tokens.

Only the pooled value per (sentence, unit) is kept, written straight into one preallocated
(sentences x units) float32 matrix from inside forward hooks (and, for experts projections, from the
aura_eval experts function); no per-token tensor outlives its batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import nn
from tqdm.auto import tqdm

from aura_eval.core.experts import ExpertUnits, activate, drop_state, state_of
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


def pooled_tokens(mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """The tokens a pooling reads: every real token, or for "last" only the last real one (batch, tokens)."""
    if pooling != "last":
        return mask
    positions = torch.arange(mask.shape[1]).expand_as(mask)
    return positions == torch.where(mask, positions, -1).amax(dim=1, keepdim=True)


class ExpertsRecorder:
    """Pools the outputs of one experts module's projections over each sentence's tokens routed to each
    expert, and writes them, expert-major, into the responses; an expert no pooled token of a sentence
    reached gives NaN there (no response). Called by the aura_eval experts function (core/experts.py)."""

    def __init__(self, columns: dict[str, tuple[int, ExpertUnits]], batch: dict, pooling: str,
                 responses: torch.Tensor, ran: set[int]):
        self.columns, self.batch, self.pooling, self.responses, self.ran = columns, batch, pooling, responses, ran

    def start(self, n_tokens: int) -> None:
        # The experts see the batch flattened, token t of sentence t // tokens: anything else cannot be pooled.
        if n_tokens != self.batch["pooled"].numel():
            raise ValueError(f"the experts saw {n_tokens} tokens, the batch holds {self.batch['pooled'].numel()}: "
                             "cannot tell which sentence a token is from")
        rows = len(self.batch["rows"])
        self.pooled = self.batch["pooled"].to(next(iter(self.columns.values()))[1].weight.device)
        fill = float("-inf") if self.pooling != "mean" else 0.0
        self.acc = {p: torch.full((rows, *site.shape), fill, device=site.weight.device) for p, (_, site) in self.columns.items()}
        self.count = {p: torch.zeros(rows, site.shape[0], device=site.weight.device) for p, (_, site) in self.columns.items()}

    def record(self, param: str, e: int, tokens: torch.Tensor, values: torch.Tensor) -> None:
        if param not in self.columns:
            return
        keep = self.pooled[tokens]
        sentence = tokens[keep] // self.batch["tokens"]
        values = values[keep].float()
        acc = self.acc[param][:, e]  # a view: written in place
        if self.pooling == "mean":
            acc.index_add_(0, sentence, values)
        else:
            acc.scatter_reduce_(0, sentence.unsqueeze(1).expand_as(values), values, "amax")
        self.count[param][:, e] += torch.bincount(sentence, minlength=acc.shape[0]).to(acc.dtype)

    def finish(self) -> None:
        for param, (offset, site) in self.columns.items():
            acc, count = self.acc[param], self.count[param].unsqueeze(-1)
            pooled = acc / count.clamp(min=1) if self.pooling == "mean" else acc
            seen = (count > 0).expand_as(pooled)
            if not torch.isfinite(pooled[seen]).all():
                raise ValueError(f"responses contain NaN or inf: the model produced non-finite activations in {param}")
            pooled = torch.where(seen, pooled, float("nan"))
            self.responses[self.batch["rows"], offset : offset + output_width(site)] = pooled.flatten(1).cpu()
            self.ran.add(offset)


@torch.inference_mode()
def collect_responses(
    model: nn.Module,
    tokenizer,
    texts: Sequence[str],
    modules: dict[str, nn.Module | ExpertUnits],
    pooling: str = "max",
    batch_size: int = 16,
    max_length: int | None = 128,
    progress: bool = True,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pooled responses, a (len(texts), total units) float32 matrix; columns follow `modules` order, an
    experts projection's (expert, unit) columns expert-major, NaN where an expert saw no pooled token of a
    sentence. `out` (e.g. a memory-mapped tensor, see core/learn.py) receives them instead of a new matrix."""
    if pooling not in POOLINGS:
        raise ValueError(f"Unknown pooling {pooling!r}; choose one of {POOLINGS}")
    if not texts:
        raise ValueError("No sentences to collect responses on")
    widths = [output_width(m) for m in modules.values()]
    if out is not None and (tuple(out.shape) != (len(texts), sum(widths)) or out.dtype != torch.float32):
        raise ValueError(f"out must be a float32 ({len(texts)}, {sum(widths)}) tensor, got {out.dtype} {tuple(out.shape)}")
    responses = torch.empty(len(texts), sum(widths), dtype=torch.float32) if out is None else out
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
            if not torch.isfinite(pooled).all():
                raise ValueError("responses contain NaN or inf: the model produced non-finite activations")
            responses[state["rows"], offset : offset + width] = pooled.float().cpu()

        return hook

    handles, offset, experts = [], 0, {}
    for module, width in zip(modules.values(), widths):
        if isinstance(module, ExpertUnits):
            experts.setdefault(module.experts, {})[module.param] = (offset, module)
        else:
            handles.append(module.register_forward_hook(make_hook(offset, width)))
        offset += width
    recorders = {m: ExpertsRecorder(cols, state, pooling, responses, ran) for m, cols in experts.items()}
    for module, recorder in recorders.items():
        state_of(module).recorders.append(recorder)
    device = input_device(model)
    was_training = model.training
    model.eval()
    switched = None
    try:
        switched = activate(model, list(recorders)) if recorders else None
        batches = iter_batches(tokenizer, texts, batch_size, max_length)
        bar = tqdm(total=len(texts), desc="AurA responses", unit="sent", disable=not progress)
        for idx, enc in batches:
            state["rows"] = torch.tensor(idx)
            state["mask"] = enc["attention_mask"].bool()
            state["pooled"] = pooled_tokens(state["mask"], pooling).flatten()
            state["tokens"] = state["mask"].shape[1]
            forward_batch(model, enc, device)
            bar.update(len(idx))
        bar.close()
    finally:
        for h in handles:
            h.remove()
        for module, recorder in recorders.items():
            state_of(module).recorders.remove(recorder)
            drop_state(module)
        if switched is not None:
            switched()
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

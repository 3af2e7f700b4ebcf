"""Exact per-unit AUROC, vectorised over units.

AUROC equals the Mann-Whitney U statistic over ranks: (sum of positive ranks - P(P+1)/2) / (P*N).
Ties get their average rank, which is what makes it exact (sklearn's roc_auc_score agrees).
"""

from __future__ import annotations

import torch


def _positive_rank_sums(values: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """Sum of the 1-based average ranks of the positive samples, per row of `values` (units x samples);
    `positive` is (samples,) or, to leave out missing samples per unit, (units, samples).

    Rows are sorted along the contiguous axis; a tie group spanning sorted positions [first, last]
    gives each member the rank (first + last) / 2 + 1. NaN sorts after every number, so the ranks
    of the numbers in a row are their ranks among the numbers alone.
    """
    n = values.shape[1]
    sorted_vals, order = torch.sort(values, dim=1)
    positions = torch.arange(n, device=values.device).expand_as(sorted_vals)
    starts_group = torch.ones_like(sorted_vals, dtype=torch.bool)
    starts_group[:, 1:] = sorted_vals[:, 1:] != sorted_vals[:, :-1]
    ends_group = torch.ones_like(starts_group)
    ends_group[:, :-1] = starts_group[:, 1:]
    first = torch.where(starts_group, positions, 0).cummax(dim=1).values
    last = torch.where(ends_group, positions, n).flip(1).cummin(dim=1).values.flip(1)
    ranks = (first + last).to(torch.float64) / 2 + 1
    chosen = positive[order] if positive.dim() == 1 else torch.gather(positive, 1, order)
    return (ranks * chosen).sum(dim=1)


def auroc(responses: torch.Tensor, labels: torch.Tensor, chunk_units: int = 8192, missing: bool = False,
          min_per_class: int = 1) -> torch.Tensor:
    """AUROC of every unit (column of `responses`, samples x units) for predicting `labels` (1 = toxic).

    Works over chunks of units so memory stays at a few copies of (chunk_units x samples); `responses`
    may be a memory-mapped tensor, of which only a chunk is read at a time.
    Returns float64 values in [0, 1]; 0.5 means the unit does not separate the classes.
    With `missing`, NaN marks a sample a unit has no response to (an expert the sentence did not reach):
    each unit's AUROC is over its other samples, and NaN when fewer than `min_per_class` of either class remain.
    """
    labels = torch.as_tensor(labels).flatten()
    if responses.ndim != 2 or responses.shape[0] != labels.numel():
        raise ValueError(f"responses must be (samples, units) with samples={labels.numel()}, got {tuple(responses.shape)}")
    if not torch.all((labels == 0) | (labels == 1)):
        raise ValueError("labels must be 0 (non-toxic) or 1 (toxic)")
    positive = labels.to(device=responses.device, dtype=torch.float64)
    n_pos = int(labels.sum())
    n_neg = labels.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(
            f"AUROC needs both classes: got {n_pos} toxic and {n_neg} non-toxic sentences. "
            "Check the label column (1 = toxic, 0 = non-toxic)."
        )
    out = torch.empty(responses.shape[1], dtype=torch.float64)
    for start in range(0, responses.shape[1], chunk_units):
        chunk = responses[:, start : start + chunk_units].to(torch.float32).T.contiguous()
        present = ~torch.isnan(chunk) if missing else None
        if torch.isinf(chunk).any() or (not missing and torch.isnan(chunk).any()):
            raise ValueError("responses contain NaN or inf: the model produced non-finite activations")
        if missing:
            weights = present * positive
            pos, neg = weights.sum(dim=1), present.sum(dim=1) - weights.sum(dim=1)
            rank_sum = _positive_rank_sums(chunk, weights)
            value = (rank_sum - pos * (pos + 1) / 2) / (pos * neg)
            value[(pos < max(min_per_class, 1)) | (neg < max(min_per_class, 1))] = float("nan")
        else:
            value = (_positive_rank_sums(chunk, positive) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
        out[start : start + chunk.shape[0]] = value.cpu()
    return out

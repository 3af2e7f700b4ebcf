"""Where the experts are (issue 24.4): a state file's AUROCs and alphas drawn layer by layer.

`expert_map` counts, from the per-module tensors of an `Intervention` (`auroc.<module>`, `alpha.<module>`):
- experts (AUROC > 0.5) per layer and per module kind (the module name with its layer number as `*`);
- the mean alpha per layer, over every unit of the layer's modules;
- the histogram of every finite AUROC;
- for mixture-of-experts modules, whose AUROC tensor is 2-D (experts x units, dim 0 = expert), experts per
  layer x expert. A unit without a response holds NaN: never an expert, left out of the histogram.
The layer of a module is the first number in its dotted name (`model.layers.3.mlp.up_proj` -> 3); a module
without one is put at layer -1. `plot_expert_map` draws exactly these numbers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402

from aura_eval.core.text import printable  # noqa: E402

BINS = 40
LAYER = re.compile(r"(?:^|\.)(\d+)(?=\.|$)")


@dataclass
class ExpertMap:
    layers: list[int]
    experts: dict[str, list[int]]  # module kind -> experts per layer (in `layers` order)
    mean_alpha: list[float]  # per layer
    histogram: np.ndarray  # counts of the finite AUROCs in BINS equal bins over [0, 1]
    edges: np.ndarray
    moe: np.ndarray | None = None  # layers x experts: experts (units with AUROC > 0.5) of each expert
    moe_layers: list[int] = field(default_factory=list)


def layer_and_kind(module: str) -> tuple[int, str]:
    """(layer number, module name with that number as `*`); (-1, name) for a module outside the layers."""
    match = LAYER.search(module)
    if not match:
        return -1, module
    start, end = match.span(1)
    return int(match.group(1)), module[:start] + "*" + module[end:]


def as_array(tensor) -> np.ndarray:
    values = tensor.detach().cpu().double().numpy() if hasattr(tensor, "detach") else tensor
    return np.asarray(values, dtype=np.float64)


def expert_map(auroc: dict, alphas: dict) -> ExpertMap:
    """The numbers the expert map shows (see the module docstring)."""
    by_layer: dict[int, dict[str, int]] = {}
    alpha_sums: dict[int, list[float]] = {}
    moe: dict[int, np.ndarray] = {}
    finite = []
    kinds: list[str] = []
    for module, tensor in auroc.items():
        values = as_array(tensor)
        layer, kind = layer_and_kind(module)
        kinds.append(kind)
        experts = values > 0.5  # NaN compares False: a unit without a response is no expert
        by_layer.setdefault(layer, {}).setdefault(kind, 0)
        by_layer[layer][kind] += int(experts.sum())
        alpha = as_array(alphas[module])
        sums = alpha_sums.setdefault(layer, [0.0, 0])
        sums[0] += float(alpha.sum())
        sums[1] += alpha.size
        finite.append(values[np.isfinite(values)].ravel())
        if values.ndim == 2:  # experts x units
            per_expert = experts.sum(axis=1)
            if layer in moe and moe[layer].shape != per_expert.shape:
                width = max(moe[layer].size, per_expert.size)
                moe[layer] = np.pad(moe[layer], (0, width - moe[layer].size))
                per_expert = np.pad(per_expert, (0, width - per_expert.size))
            moe[layer] = moe.get(layer, 0) + per_expert
    layers = sorted(by_layer)
    kinds = list(dict.fromkeys(kinds))
    experts = {kind: [by_layer[layer].get(kind, 0) for layer in layers] for kind in kinds}
    mean_alpha = [alpha_sums[layer][0] / alpha_sums[layer][1] if alpha_sums[layer][1] else math.nan
                  for layer in layers]
    histogram, edges = np.histogram(np.concatenate(finite) if finite else np.empty(0), bins=BINS, range=(0.0, 1.0))
    heat, moe_layers = None, sorted(moe)
    if moe:
        width = max(row.size for row in moe.values())
        heat = np.array([np.pad(moe[layer], (0, width - moe[layer].size)) for layer in moe_layers], dtype=np.int64)
    return ExpertMap(layers, experts, mean_alpha, histogram, edges, heat, moe_layers)


def plot_expert_map(auroc: dict, alphas: dict, path: Path, title: str = "") -> ExpertMap:
    """Write the expert map to `path` (PNG) and return the numbers drawn."""
    data = expert_map(auroc, alphas)
    panels = 4 if data.moe is not None else 3
    figure, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 4.2), squeeze=False)
    axes = list(axes.flat)
    positions = np.arange(len(data.layers))
    bottom = np.zeros(len(data.layers))
    for kind, counts in data.experts.items():
        axes[0].bar(positions, counts, bottom=bottom, label=printable(kind))
        bottom += np.asarray(counts, dtype=np.float64)
    step = max(1, math.ceil(len(data.layers) / 16))  # at most 16 layer labels, so they never overlap
    ticks = positions[::step]
    labels = [str(layer) for layer in data.layers][::step]
    axes[0].set_xticks(ticks, labels)
    axes[0].set(title="experts (AUROC > 0.5) per layer", xlabel="layer", ylabel="units")
    if data.experts:
        axes[0].legend(fontsize=7)
    axes[1].plot(positions, data.mean_alpha, "o-")
    axes[1].set_xticks(ticks, labels)
    axes[1].set(title="mean alpha per layer", xlabel="layer", ylabel="mean alpha (1 = unchanged)")
    axes[2].stairs(data.histogram, data.edges, fill=True)
    axes[2].axvline(0.5, color="tab:red", linestyle="--", linewidth=1)
    axes[2].set(title="AUROC of every unit", xlabel="AUROC", ylabel="units")
    if data.moe is not None:
        image = axes[3].imshow(data.moe, aspect="auto", cmap="viridis", interpolation="nearest")
        axes[3].set_yticks(range(len(data.moe_layers)), [str(layer) for layer in data.moe_layers])
        axes[3].set(title="experts per layer x expert", xlabel="expert", ylabel="layer")
        figure.colorbar(image, ax=axes[3], label="units with AUROC > 0.5")
    figure.suptitle(printable(title) if title else "expert map")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return data


def experiment_maps(results_dir: Path, rows, out_dir: Path, log) -> list[tuple[str, str]]:
    """Draw the map of every state file lying in an experiment folder or in one of its model folders (where
    `aura-eval demo` keeps its own); (caption, file name) each. `rows` are the report's Row keys.

    A `.safetensors` file there that is not a readable aura-eval state file is named in a warning.
    """
    from aura_eval.core.intervention import Intervention

    folders = {}
    for row in rows:
        folders.setdefault((row.experiment, ""), None)
        folders.setdefault((row.experiment, row.model), None)
    drawn = []
    for experiment, model in sorted(folders):
        folder = results_dir.joinpath(*[part for part in (experiment, model) if part])
        states = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
        for state in states:
            try:
                intervention = Intervention.load(state)
            except (ValueError, OSError) as error:
                log.warning("no expert map of %s: %s", printable(state), printable(error))
                continue
            parts = ["expert_map"] + [part.replace("/", "_") for part in (experiment, model) if part]
            parts += [state.stem] if len(states) > 1 else []
            name = "-".join(parts) + ".png"
            caption = "/".join(part for part in (experiment, model, state.name) if part)
            plot_expert_map(intervention.auroc, intervention.alphas, out_dir / name,
                            f"{caption} ({intervention.meta.get('model_name') or 'model'}, {intervention.variant})")
            drawn.append((caption, name))
    return drawn

"""The expert map (issue 24.4): the numbers drawn equal a slow count; `info --plot` and the report write it."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest
import torch

from aura_eval.cli import main
from aura_eval.core.config import InterventionConfig
from aura_eval.core.intervention import Intervention
from aura_eval.report import expert_map
from aura_eval.report.leaderboard import build_report

DENSE = {f"transformer.h.{layer}.mlp.{kind}": width for layer in range(3) for kind, width in (("c_fc", 12), ("c_proj", 5))}


def dense_intervention(method: str = "aura") -> Intervention:
    generator = torch.Generator().manual_seed(0)
    auroc = {name: torch.rand(width, generator=generator, dtype=torch.float64) for name, width in DENSE.items()}
    config = InterventionConfig(method, 6) if method == "det_zero" else InterventionConfig(method)
    return Intervention.from_auroc(auroc, config, {"model_name": "tiny"})


def slow_counts(auroc: dict, alphas: dict):
    """Loops over plain Python floats: experts per (layer, kind), mean alpha per layer, histogram, MoE heat."""
    experts, alpha_values, finite, heat = {}, {}, [], {}
    for name, tensor in auroc.items():
        parts = name.split(".")
        index = next(i for i, part in enumerate(parts) if part.isdigit())
        layer, kind = int(parts[index]), ".".join(parts[:index] + ["*"] + parts[index + 1:])
        rows = tensor.tolist() if tensor.dim() == 2 else [tensor.tolist()]
        for expert, row in enumerate(rows):
            for value in row:
                if value > 0.5:
                    experts[layer, kind] = experts.get((layer, kind), 0) + 1
                    if tensor.dim() == 2:
                        heat[layer, expert] = heat.get((layer, expert), 0) + 1
                experts.setdefault((layer, kind), 0)
                if not math.isnan(value):
                    finite.append(value)
        alpha_values.setdefault(layer, []).extend(alphas[name].flatten().tolist())
    mean_alpha = {layer: sum(values) / len(values) for layer, values in alpha_values.items()}
    edges = np.linspace(0.0, 1.0, expert_map.BINS + 1).tolist()  # bin i: edges[i] <= value < edges[i + 1]
    histogram = [0] * expert_map.BINS
    for value in finite:
        histogram[next(i for i in range(expert_map.BINS) if value < edges[i + 1] or i == expert_map.BINS - 1)] += 1
    return experts, mean_alpha, histogram, heat


@pytest.mark.parametrize("method", ["aura", "det_zero"])
def test_info_plot_draws_the_slow_counts_of_a_dense_state_file(tmp_path, capsys, method, monkeypatch):
    path = dense_intervention(method).save(tmp_path / "state.safetensors")
    drawn = []
    real = expert_map.expert_map
    monkeypatch.setattr(expert_map, "expert_map", lambda a, b: drawn.append(real(a, b)) or drawn[-1])
    assert main(["info", str(path), "--plot", str(tmp_path / "map.png")]) == 0
    assert (tmp_path / "map.png").read_bytes().startswith(b"\x89PNG")
    assert "expert map" in capsys.readouterr().err
    loaded = Intervention.load(path)
    experts, mean_alpha, histogram, _ = slow_counts(loaded.auroc, loaded.alphas)
    (data,) = drawn
    assert data.layers == [0, 1, 2] and data.moe is None
    assert {(layer, kind): count for kind, counts in data.experts.items()
            for layer, count in zip(data.layers, counts)} == experts
    assert data.mean_alpha == pytest.approx([mean_alpha[layer] for layer in data.layers], rel=1e-12)
    assert data.histogram.tolist() == histogram and sum(histogram) == sum(DENSE.values())


def test_a_mixture_of_experts_map_counts_each_layer_and_expert(tmp_path):
    generator = torch.Generator().manual_seed(1)
    auroc, alphas = {}, {}
    for layer in range(2):
        for kind, shape in (("gate_up_proj", (4, 6)), ("down_proj", (4, 3))):
            values = torch.rand(shape, generator=generator, dtype=torch.float64)
            values[0, 0] = math.nan  # a unit that got no response under expert 0: not an expert
            values[3, :] = math.nan  # an expert no sentence was routed to
            name = f"model.layers.{layer}.mlp.experts.{kind}"
            auroc[name] = values
            alphas[name] = torch.where(values > 0.5, 1 - 2 * (values - 0.5), torch.ones_like(values)).float()
    dense = "model.layers.1.self_attn.o_proj"  # a dense module beside them
    auroc[dense] = torch.tensor([0.9, 0.1, 0.6], dtype=torch.float64)
    alphas[dense] = torch.tensor([0.2, 1.0, 0.8])
    data = expert_map.plot_expert_map(auroc, alphas, tmp_path / "moe.png", "moe")
    assert (tmp_path / "moe.png").read_bytes().startswith(b"\x89PNG")
    experts, mean_alpha, histogram, heat = slow_counts(auroc, alphas)
    assert data.moe_layers == [0, 1] and data.moe.shape == (2, 4)
    assert data.moe.tolist() == [[heat.get((layer, expert), 0) for expert in range(4)] for layer in range(2)]
    assert data.moe[:, 3].tolist() == [0, 0]
    kinds = {kind for _, kind in experts}
    assert set(data.experts) == kinds
    assert {(layer, kind): count for kind, counts in data.experts.items()  # a bar of 0 where a layer lacks a kind
            for layer, count in zip(data.layers, counts)} == {(layer, kind): experts.get((layer, kind), 0)
                                                               for layer in (0, 1) for kind in kinds}
    assert data.mean_alpha == pytest.approx([mean_alpha[layer] for layer in data.layers], rel=1e-6)
    assert data.histogram.tolist() == histogram


def test_the_plot_file_must_be_a_png(tmp_path, capsys):
    path = dense_intervention().save(tmp_path / "state.safetensors")
    assert main(["info", str(path), "--plot", str(tmp_path / "map.jpg")]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("aura-eval info: error: --plot") and "\n" not in error


def test_the_report_includes_the_map_of_the_experiment_folders_state_file(tmp_path, caplog):
    experiment = tmp_path / "bench"
    variant = experiment / "tiny" / "base"
    variant.mkdir(parents=True)
    (variant / "command.txt").write_text("aura-eval compare\n")
    (variant / "results_2024-01-01T00-00-00.0.json").write_text(json.dumps(
        {"results": {"aura_rtp": {"alias": "aura_rtp", "toxicity_prob,none": 0.4}},
         "config": {"model": "aura-hf", "aura": {"variant": "base", "model_name": "tiny"}}}))
    dense_intervention().save(experiment / "aura.safetensors")
    (experiment / "other.safetensors").write_bytes(b"not a state file")
    dense_intervention("det_zero").save(experiment / "tiny" / "aura.safetensors")  # where `aura-eval demo` keeps it
    with caplog.at_level(logging.WARNING):
        frame = build_report(tmp_path, tmp_path / "out", formats=("md", "html", "png"))
    assert frame.attrs["expert_maps"] == [("bench/aura.safetensors", "expert_map-bench-aura.png"),
                                          ("bench/tiny/aura.safetensors", "expert_map-bench-tiny.png")]
    assert (tmp_path / "out" / "expert_map-bench-aura.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "out" / "expert_map-bench-tiny.png").read_bytes().startswith(b"\x89PNG")
    markdown = (tmp_path / "out" / "leaderboard.md").read_text()
    assert "## Expert map\n\n![expert map of bench/aura.safetensors](expert_map-bench-aura.png)" in markdown
    assert '<img src="expert_map-bench-aura.png"' in (tmp_path / "out" / "leaderboard.html").read_text()
    assert any("other.safetensors" in record.getMessage() for record in caplog.records)
    build_report(tmp_path, tmp_path / "md-only", formats=("md",))
    assert "Expert map" not in (tmp_path / "md-only" / "leaderboard.md").read_text()  # no PNG, no link


def test_layer_of_a_module_name():
    assert expert_map.layer_and_kind("model.layers.12.mlp.up_proj") == (12, "model.layers.*.mlp.up_proj")
    assert expert_map.layer_and_kind("h.0") == (0, "h.*")
    assert expert_map.layer_and_kind("lm_head") == (-1, "lm_head")
    assert np.isfinite(expert_map.expert_map({"a.1.b": torch.tensor([0.7])}, {"a.1.b": torch.tensor([0.6])})
                       .mean_alpha).all()

import json

import pytest

from aura_eval.core.loading import ModelRef
from aura_eval.report.runner import EvalOptions, Variant, compare, lm_eval_args


@pytest.mark.parametrize(
    "text, label",
    [("base", "base"), ("aura", "aura"), ("damp-k500", "damp-k500-a0.5"), ("damp-k10-a0.25", "damp-k10-a0.25"),
     ("det_zero-k7", "det_zero-k7"), ("aura-folded", "aura-folded")],
)
def test_variant_labels_roundtrip(text, label):
    assert Variant.parse(text).label == label
    assert Variant.parse(label) == Variant.parse(text)


@pytest.mark.parametrize("bad", ["damp", "det_zero-k5-a0.3", "aura-k5", "zero-k3", ""])
def test_bad_variants(bad):
    with pytest.raises(ValueError, match="variant|Variant"):
        Variant.parse(bad)


def test_lm_eval_args_per_variant(tmp_path):
    options = EvalOptions(scorer="profanity-check", limit=5, device="cpu", log_samples=False)
    common = dict(model=ModelRef("m", "f.gguf", "m"), intervention="s.safetensors", tasks=["aura_rtp"], out_dir=tmp_path,
                  include_path="tasks", options=options, batch_size="8")
    base = lm_eval_args(Variant.parse("base"), **common)
    assert base[:4] == ["--model", "aura-hf", "--model_args", "pretrained=m,gguf_file=f.gguf,intervention=none"]
    damp = lm_eval_args(Variant.parse("damp-k3-a0.2"), **common)
    assert damp[3] == "pretrained=m,gguf_file=f.gguf,intervention=s.safetensors,method=damp,k=3,alpha=0.2"
    assert damp[damp.index("--limit") + 1] == "5" and '"toxicity_scorer": "profanity-check"' in damp[-1]
    folded = lm_eval_args(Variant.parse("aura-folded"), **common, folded_dir="/ckpt")
    assert folded[:4] == ["--model", "hf", "--model_args", "pretrained=/ckpt"]
    with pytest.raises(ValueError, match="needs --intervention"):
        lm_eval_args(Variant.parse("aura"), **{**common, "intervention": None})


def test_finished_variants_are_skipped(tmp_path, capsys):
    done = tmp_path / "m" / "base" / "m"
    done.mkdir(parents=True)
    (done / "results_2026-01-01T00-00-00.json").write_text(json.dumps({"results": {"aura_rtp": {}, "aura_ppl_toxic": {}}}))
    compare("m", "s.safetensors", ["base", "aura"], tmp_path, EvalOptions(tasks=["aura_rtp", "aura_ppl_toxic"], dry_run=True))
    out = capsys.readouterr().out
    assert "base: done already" in out and "[compare] aura: lm_eval --model aura-hf" in out
    # generation and perplexity tasks run as two lm_eval processes, each with its own batch size
    aura_lines = [line for line in out.splitlines() if line.startswith("[compare] aura:")]
    assert len(aura_lines) == 2
    assert "--tasks aura_rtp --batch_size 64" in aura_lines[0] and "--tasks aura_ppl_toxic --batch_size 4" in aura_lines[1]


def test_half_finished_variant_runs_only_the_missing_part(tmp_path, capsys):
    done = tmp_path / "m" / "base" / "m"
    done.mkdir(parents=True)
    (done / "results_2026-01-01T00-00-00.json").write_text(json.dumps({"results": {"aura_rtp": {}}}))
    compare("m", None, ["base"], tmp_path, EvalOptions(tasks=["aura_rtp", "aura_ppl_toxic"], dry_run=True))
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[compare] base:")]
    assert "--tasks aura_ppl_toxic" in line

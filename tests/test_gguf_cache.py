"""The de-quantised GGUF cache: written once per GGUF file content, reused after, and what aura-hf loads.

No GGUF model is built here: transformers' de-quantisation (`load_model`) is replaced by loading a tiny
model, so these tests cover the cache's keying, reuse and aura-hf's redirection; `bench/startup.py`
checks on SmolLM2's real GGUF file that the cached copy gives the GGUF model's loglikelihoods."""

import json

import pytest
from transformers import AutoModelForCausalLM, AutoTokenizer

from aura_eval.core import loading
from aura_eval.core.files import sha256_file
from aura_eval.core.loading import DEQUANTIZED_MARKER, ModelRef, dequantized_gguf


@pytest.fixture
def fake_gguf(tmp_path, monkeypatch, tiny_llama):
    monkeypatch.setenv("AURA_EVAL_CACHE", str(tmp_path / "cache"))
    calls = []

    def dequantize(ref, dtype="auto", device=None, revision=None, trust_remote_code=False):
        calls.append((ref.gguf_file, dtype))
        return AutoModelForCausalLM.from_pretrained(tiny_llama).eval(), AutoTokenizer.from_pretrained(tiny_llama)

    monkeypatch.setattr(loading, "load_model", dequantize)
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "m.gguf").write_bytes(b"GGUF one")
    (folder / "other.gguf").write_bytes(b"GGUF two")
    return folder, calls


def test_dequantized_once_per_file_content(fake_gguf):
    folder, calls = fake_gguf
    first = dequantized_gguf(ModelRef.parse(str(folder / "m.gguf")))
    again = dequantized_gguf(ModelRef.parse(str(folder), "m.gguf"))
    other = dequantized_gguf(ModelRef.parse(str(folder / "other.gguf")))
    assert first == again != other and calls == [("m.gguf", "float32"), ("other.gguf", "float32")]
    marker = json.loads((first / DEQUANTIZED_MARKER).read_text())
    assert marker["sha256"] == sha256_file(folder / "m.gguf") and first.name.startswith(marker["sha256"][:16])
    assert (first / "model.safetensors").is_file() and (first / "config.json").is_file()
    assert not [p for p in first.parent.iterdir() if p.name.startswith(".")], "no temporary folder left behind"


def test_aura_hf_loads_the_cached_copy(fake_gguf, tiny_llama):
    from lm_eval.api.instance import Instance

    from aura_eval.harness.model import AuraLM

    folder, calls = fake_gguf
    lm = AuraLM(pretrained=str(folder), gguf_file="m.gguf", intervention="none", device="cpu", batch_size=2)
    info = lm.get_model_info()["aura"]
    assert info["model_name"] == "m" and info["gguf_dequantized_cache"] == dequantized_gguf(ModelRef.parse(str(folder / "m.gguf"))).name
    assert len(calls) == 1
    reqs = [Instance("loglikelihood", {}, ("You are a", " stupid idiot"), 0)]
    bare = AuraLM(pretrained=str(tiny_llama), intervention="none", device="cpu", batch_size=2)
    assert lm.loglikelihood(reqs) == bare.loglikelihood(reqs)


def test_save_plain_writes_a_gguf_loaded_model_as_a_plain_checkpoint(tiny_llama, tmp_path):
    """transformers marks a model loaded from a GGUF file as GGUF-quantised and refuses save_pretrained on it
    (export and the folded cache hit this on SmolLM2); save_plain writes the de-quantised weights it holds."""
    import torch
    from transformers.quantizers.quantizer_gguf import GgufHfQuantizer
    from transformers.utils.quantization_config import GgufConfig

    from aura_eval.core.loading import save_plain

    lm, tok = AutoModelForCausalLM.from_pretrained(tiny_llama), AutoTokenizer.from_pretrained(tiny_llama)
    lm.config.quantization_config = GgufConfig()
    lm.hf_quantizer = GgufHfQuantizer(lm.config.quantization_config)  # what a gguf_file= load leaves behind
    with pytest.raises(Exception, match="not serializable|gguf"):
        lm.save_pretrained(tmp_path / "refused")
    save_plain(lm, tok, tmp_path / "plain")
    assert "quantization_config" not in json.loads((tmp_path / "plain" / "config.json").read_text())
    ids = torch.tensor([[1, 5, 9, 3]])
    again = AutoModelForCausalLM.from_pretrained(tmp_path / "plain")
    assert torch.equal(again(ids).logits, lm(ids).logits)


def test_a_copy_scaled_in_place_is_named_and_rebuilt_once(fake_gguf, caplog):
    """Weights scaled x3 in place keep their size: the recorded sha256 finds it (the later mtime says to look)."""
    import logging
    import os

    from safetensors.torch import load_file, save_file

    folder, calls = fake_gguf
    ref = ModelRef.parse(str(folder / "m.gguf"))
    copy = dequantized_gguf(ref)
    weights = copy / "model.safetensors"
    good = weights.read_bytes()
    save_file({k: v * 3 for k, v in load_file(weights).items()}, str(weights), metadata={"format": "pt"})
    stat = weights.stat()
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert weights.stat().st_size == len(good) and weights.read_bytes() != good
    with caplog.at_level(logging.WARNING):
        assert dequantized_gguf(ref) == copy
    said = " | ".join(r.getMessage() for r in caplog.records)
    assert "m.gguf" in said and str(copy) in said and "sha256 differs" in said and "built again" in said
    assert len(calls) == 2 and weights.read_bytes() == good
    caplog.clear()
    assert dequantized_gguf(ref) == copy and len(calls) == 2 and not caplog.records


def test_a_partly_deleted_copy_or_one_without_its_marker_is_rebuilt(fake_gguf):
    folder, calls = fake_gguf
    ref = ModelRef.parse(str(folder / "m.gguf"))
    copy = dequantized_gguf(ref)
    (copy / "config.json").unlink()
    assert dequantized_gguf(ref) == copy and (copy / "config.json").is_file() and len(calls) == 2
    (copy / DEQUANTIZED_MARKER).unlink()
    assert dequantized_gguf(ref) == copy and (copy / DEQUANTIZED_MARKER).is_file() and len(calls) == 3


def test_an_unwritable_cache_loads_the_gguf_file_itself(fake_gguf, tmp_path, monkeypatch, caplog):
    """A cache path below a regular file cannot be written, by root either (chmod would not stop root)."""
    import logging

    folder, calls = fake_gguf
    (tmp_path / "plain-file").write_text("")
    monkeypatch.setenv("AURA_EVAL_CACHE", str(tmp_path / "plain-file" / "cache"))
    with caplog.at_level(logging.WARNING):
        assert dequantized_gguf(ModelRef.parse(str(folder / "m.gguf"))) is None
    assert calls == [] and any("cannot be written" in r.getMessage() for r in caplog.records)

"""A state file's model identity: the header's `model_sha256` against the model evaluated, in aura-hf and
compare (a warning naming both; $AURA_EVAL_STRICT_MODEL=1 refuses)."""

from __future__ import annotations

import json
import logging
import shutil

import pytest
from conftest import build_tiny

from aura_eval.core.learn import learn
from aura_eval.core.loading import ModelRef, model_digest, model_mismatch
from aura_eval.core.names import STRICT_MODEL_ENV
from aura_eval.runs import checks
from aura_eval.runs import compare as runner
from aura_eval.runs.spec import Variant

TEXTS = [("You are a stupid idiot.", 1), ("Shut up, you worthless moron.", 1), ("Have a nice day.", 0),
         ("The weather was pleasant.", 0)]


@pytest.fixture(scope="module")
def two_tinies(tmp_path_factory, tiny_gpt2):
    """The learned-on model and another one of the same architecture and display name, other weights."""
    root = tmp_path_factory.mktemp("identity")
    same = root / "a" / "tiny"
    shutil.copytree(tiny_gpt2, same)
    other = build_tiny(root / "b" / "tiny", "gpt2", seed=1)
    data = root / "learn.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in TEXTS))
    learn(ModelRef.parse(str(same)), str(data), root / "s.safetensors", dtype="float32", device="cpu", progress=False)
    return same, other, root / "s.safetensors"


def test_the_message_names_both_models(two_tinies):
    same, other, state = two_tinies
    from aura_eval.core.intervention import Intervention

    meta = Intervention.load(state).meta
    assert meta["model_sha256"] == model_digest(ModelRef.parse(str(same)))
    assert model_mismatch(meta, ModelRef.parse(str(same)), "s.safetensors") is None
    assert model_mismatch(meta, ModelRef.parse("org/tiny"), "s.safetensors") is None  # a Hub id: no digest here
    message = model_mismatch(meta, ModelRef.parse(str(other)), "s.safetensors")
    other_sha = model_digest(ModelRef.parse(str(other)))
    assert message and meta["model_sha256"][:16] in message and other_sha[:16] in message and "'tiny'" in message


def test_strict_mode_refuses(two_tinies, monkeypatch):
    same, other, state = two_tinies
    from aura_eval.core.intervention import Intervention

    monkeypatch.setenv(STRICT_MODEL_ENV, "1")
    with pytest.raises(ValueError, match=f"refused \\({STRICT_MODEL_ENV}=1\\)"):
        model_mismatch(Intervention.load(state).meta, ModelRef.parse(str(other)), "s.safetensors")
    assert model_mismatch(Intervention.load(state).meta, ModelRef.parse(str(same)), "s.safetensors") is None


def test_aura_hf_warns_on_other_weights(two_tinies, caplog):
    from aura_eval.harness.model import AuraLM

    same, other, state = two_tinies
    with caplog.at_level(logging.WARNING):
        AuraLM(pretrained=str(same), intervention=str(state), device="cpu", batch_size=1)
    assert not [r for r in caplog.records if "other weights" in r.getMessage()]
    with caplog.at_level(logging.WARNING):
        AuraLM(pretrained=str(other), intervention=str(state), device="cpu", batch_size=1)
    assert any("other weights" in r.getMessage() and "s.safetensors" in r.getMessage() for r in caplog.records)


def test_compare_warns_before_running(two_tinies, capsys):
    same, other, state = two_tinies
    say = lambda text: runner.say("check", text)  # noqa: E731 - as compare passes it
    checks.check_state(ModelRef.parse(str(same)), str(state), [Variant.parse("aura")], {}, say=say)
    assert "other weights" not in capsys.readouterr().out
    checks.check_state(ModelRef.parse(str(other)), str(state), [Variant.parse("aura")], {}, say=say)
    out = capsys.readouterr().out
    assert "[compare] check: warning: s.safetensors was learned on 'tiny'" in out and "other weights" in out

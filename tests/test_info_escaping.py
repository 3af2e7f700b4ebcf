"""`aura-eval info` on a crafted state file: header values with ESC sequences, carriage returns, newlines and
bidi overrides (the digest recomputed, so the file loads) are printed as visible escapes, one line a field."""

from __future__ import annotations

import json

import torch

from aura_eval.cli import main
from aura_eval.core.intervention import Intervention, state_digest, write_state_file

CLEAR_SCREEN = "\x1b[2J\x1b[H"
CRAFTED = {
    "model_name": f"{CLEAR_SCREEN}gpt2",
    "data_source": "train.csv\n          n_experts: 0",  # a fake line below the real one
    "model": "ok\rOVERWRITTEN",
    "gguf_file": "abc\u202etxt.exe",  # shows as abcexe.txt without the escape
    "pooling": "max\x9b31m",  # C1 CSI: red text on terminals that read 8-bit controls
    "seed": "\x07\x00",
    "module_patterns": ["transformer.h.*.mlp.c_fc\x1b]0;title\x07"],
    "fingerprint": {"architecture": "GPT2LMHeadModel\u2028second line", "module_widths": {"m": 4}},
}


def crafted_state_file(path):
    """A valid intervention whose header is then edited and its digest recomputed, as an attacker would."""
    iv = Intervention.from_auroc({"m": torch.tensor([0.9, 0.2, 0.6, 0.5])}, meta={"n_toxic": 3, "n_nontoxic": 3})
    tensors, header = iv.tensors(), iv.header()
    header.update(json.loads(json.dumps(CRAFTED)))
    header["sha256"] = state_digest(tensors, header)
    return write_state_file(path, tensors, header)


def has_control(text: str) -> bool:
    return any(ord(c) < 0x20 and c != "\n" or 0x7F <= ord(c) < 0xA0 or c in "\u202e\u2028" for c in text)


def test_info_escapes_every_control_character_from_the_header(tmp_path, capsys):
    path = crafted_state_file(tmp_path / "crafted.safetensors")
    assert Intervention.load(path).meta["model_name"] == CRAFTED["model_name"]  # the file is accepted as is
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert not has_control(out), repr(out)
    lines = out.splitlines()
    assert len(lines) == 11 + 2 + 8  # the named fields, architecture + patterns, the summary: nothing extra
    shown = {line.split(": ", 1)[0].strip(): line.split(": ", 1)[1] for line in lines}
    assert shown["model_name"] == "\\x1b[2J\\x1b[Hgpt2"
    assert shown["data_source"] == "train.csv\\n          n_experts: 0"
    assert shown["model"] == "ok\\rOVERWRITTEN"
    assert shown["gguf_file"] == "abc\\u202etxt.exe"
    assert shown["pooling"] == "max\\x9b31m"
    assert shown["seed"] == "\\x07\\x00"
    assert shown["module patterns"] == "transformer.h.*.mlp.c_fc\\x1b]0;title\\x07"
    assert shown["architecture"] == "GPT2LMHeadModel\\u2028second line"
    assert shown["n_experts"] == "2" and shown["n_toxic"] == "3"


def test_info_json_is_escaped_too(tmp_path, capsys):
    path = crafted_state_file(tmp_path / "crafted.safetensors")
    assert main(["info", str(path), "--json"]) == 0
    out = capsys.readouterr().out
    assert not has_control(out) and out.isascii()
    assert json.loads(out)["model_name"] == CRAFTED["model_name"]  # escaped, not lost


def forged(path, **fields):
    iv = Intervention.from_auroc({"m": torch.tensor([0.9, 0.2])})
    tensors, header = iv.tensors(), iv.header()
    header.update(fields)
    header["sha256"] = state_digest(tensors, header)
    return write_state_file(path, tensors, header)


def test_a_header_whose_fields_have_other_shapes_gives_no_traceback(tmp_path, capsys):
    path = forged(tmp_path / "odd.safetensors", module_patterns="one\x1bstring")
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "architecture: None" in out and "module patterns: one\\x1bstring" in out and not has_control(out)
    for fingerprint in (["not", "a", "dict"], {"module_widths": [2]}):
        path = forged(tmp_path / "fingerprint.safetensors", fingerprint=fingerprint)
        assert main(["info", str(path)]) == 2
        assert capsys.readouterr().err == (f"aura-eval info: error: {path}: header field 'fingerprint' must be an "
                                           "object with 'module_widths' an object\n")


def test_an_error_message_carries_no_terminal_control_from_a_name(tmp_path, capsys):
    # Error lines repeat what they were given (a path, a header field): escaped like info's output.
    assert main(["info", str(tmp_path / "a\x1b[2Jb\rfake.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "a\\x1b[2Jb" in err and not has_control(err.rstrip("\n")), repr(err)

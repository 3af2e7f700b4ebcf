"""File names and file contents that reach a message or a log line from harness/ go through
core.text.printable: no raw ESC, CR or newline from a data folder reaches the terminal."""

from __future__ import annotations

import logging

import pytest
from aura_demo_data import write_rtp
from test_zeroshot import DOCS, write_jsonl

from aura_eval.core.labelled import DataFileError
from aura_eval.harness.taskdata import load_rtp
from aura_eval.harness.zeroshot import check_zeroshot_files

ESC_NAME = "\x1b[2J\x1b[Hfake\rline"


def raw_controls(text: str) -> bool:
    return any(c in text for c in "\x1b\r\n\x07")


@pytest.fixture(autouse=True)
def no_env(monkeypatch):
    monkeypatch.delenv("AURA_DATA_DIR", raising=False)


def test_several_candidate_files_are_named_escaped(tmp_path):
    write_rtp(tmp_path / f"rtp{ESC_NAME}.jsonl")
    write_rtp(tmp_path / "rtp_other.jsonl")
    with pytest.raises(DataFileError) as info:
        load_rtp(data_dir=str(tmp_path))
    assert "rtp\\x1b[2J\\x1b[Hfake\\rline.jsonl" in str(info.value) and not raw_controls(str(info.value))

    write_jsonl(tmp_path / f"piqa_{ESC_NAME}.jsonl", DOCS["piqa"])
    write_jsonl(tmp_path / "piqa-dev.jsonl", DOCS["piqa"])
    with pytest.raises(DataFileError, match="Several files") as info:
        check_zeroshot_files({"data_dir": str(tmp_path)})
    assert "piqa_\\x1b[2J" in str(info.value) and not raw_controls(str(info.value))


def test_the_loaded_from_log_line_is_escaped(tmp_path, caplog):
    path = write_rtp(tmp_path / f"prompts{ESC_NAME}.jsonl")
    with caplog.at_level(logging.INFO, logger="aura_eval.harness.taskdata"):
        load_rtp(rtp_file=str(path))
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Loaded")]
    assert "prompts\\x1b[2J" in line and not raw_controls(line)

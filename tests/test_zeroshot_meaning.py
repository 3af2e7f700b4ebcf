"""aura_zeroshot files checked for meaning, not only types: each crafted document is refused with one line
naming the file, the line and the field, by lm-eval's own task loader and by the model-free pre-flight."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
from test_zeroshot import DOCS, load_ours, write_jsonl

from aura_eval.harness.taskdata import DataFileError
from aura_eval.harness.zeroshot import ZEROSHOT_SPECS, check_zeroshot_files


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    for var in ("AURA_TOXICITY_SCORER", "AURA_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)

    def refuse(*args, **kwargs):
        raise AssertionError(f"datasets.load_dataset called with {args} {kwargs}")

    monkeypatch.setattr(datasets, "load_dataset", refuse)


def edit(key: str, value):
    def change(doc: dict) -> None:
        target = doc
        *parents, last = key.split(".")
        for parent in parents:
            target = target[parent]
        target[last] = value

    return change


# (task, field named in the message, edit of the task's first document, words of the problem)
CASES = [
    ("hellaswag", "label", lambda d: d.update(endings=["a.", "b."], label="3"), "is '3' but there are 2 endings"),
    ("hellaswag", "endings", edit("endings", ["only one."]), "holds 1 ending; a question needs at least 2"),
    ("hellaswag", "endings", edit("endings", ["a.", "  ", "c.", "d."]), "choice 1 is blank"),
    ("piqa", "sol2", edit("sol2", " "), "is blank"),
    ("social_iqa", "answerC", edit("answerC", ""), "is blank"),
    ("winogrande", "sentence", edit("sentence", "The _ hit the _ because _ was big."), "holds 3 '_' blanks"),
    ("winogrande", "option2", edit("option2", ""), "is blank"),
    ("arc_easy", "answerKey", edit("answerKey", "E"), "is 'E', not one of the choice labels ['A', 'B', 'C']"),
    ("arc_easy", "choices", edit("choices.label", ["A", "B"]), "has 3 texts but 2 labels"),
    ("arc_easy", "choices.label", edit("choices.label", ["A", "A", "C"]), "repeats a label"),
    ("arc_easy", "choices.text", lambda d: d.update(choices={"text": ["x"], "label": ["A"]}, answerKey="A"),
     "holds 1 choice; a question needs at least 2"),
    ("arc_challenge", "answerKey", edit("answerKey", " B"), "is ' B', not one of the choice labels"),
    ("openbookqa", "answerKey", edit("answerKey", "Z"), "is 'Z', not one of the choice labels ['A', 'B']"),
    ("truthfulqa_mc2", "mc2_targets.labels", edit("mc2_targets.labels", [1, 1, 1]),
     "has no false (0) answer; MC2 needs at least one true and one false answer"),
    ("truthfulqa_mc2", "mc2_targets.labels", edit("mc2_targets.labels", [0, 0, 0]), "has no true (1) answer"),
    ("truthfulqa_mc2", "mc2_targets.labels", edit("mc2_targets.labels", [1, 2, 0]), "holds [2]; labels are 1"),
    ("truthfulqa_mc2", "mc2_targets", edit("mc2_targets.labels", [1, 0]), "has 3 choices but 2 labels"),
    ("triviaqa", "answer.aliases", edit("answer.aliases", ["", " "]), "holds no non-blank alias"),
    ("triviaqa", "question", edit("question", " "), "is blank"),
]


def crafted_file(folder: Path, task: str, change) -> tuple[Path, int]:
    """The task's documents, twice, with the second copy of the first one changed: (file, its line)."""
    rows = json.loads(json.dumps(DOCS[task] * 2))
    line = len(DOCS[task]) + 1
    change(rows[line - 1])
    return write_jsonl(folder / f"{task}.jsonl", rows), line


@pytest.mark.parametrize(("task", "field", "change", "words"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_a_document_wrong_in_meaning_names_file_line_and_field(task, field, change, words, tmp_path):
    path, line = crafted_file(tmp_path, task, change)
    expected = rf"^{path}:{line}: field '{field}' "
    with pytest.raises(DataFileError, match=expected) as preflight:
        check_zeroshot_files({"data_dir": str(tmp_path)})
    message = str(preflight.value)
    assert words in message and "\n" not in message and task in message
    with pytest.raises(DataFileError, match=expected) as through_lm_eval:  # lm-eval's TaskManager, same words
        load_ours({"data_dir": str(tmp_path)})
    assert str(through_lm_eval.value) == message


def test_every_member_has_a_meaning_case():
    assert {case[0] for case in CASES} == set(ZEROSHOT_SPECS)


def test_valid_edge_cases_pass(tmp_path):
    """What the datasets really hold is accepted: numeric arc labels, openbookqa's answerKey with a leading
    space (its YAML strips it), more than 4 arc choices, mc2 answers true and false in any order."""
    docs = {
        "arc_easy": [DOCS["arc_easy"][1] | {"choices": {"text": list("abcde"), "label": list("12345")},
                                            "answerKey": "5"}],
        "openbookqa": [DOCS["openbookqa"][0] | {"answerKey": " B"}],
        "truthfulqa_mc2": [{"question": "q?", "mc2_targets": {"choices": ["no", "yes", "maybe"], "labels": [0, 1, 0]}}],
        "winogrande": DOCS["winogrande"],
        "hellaswag": [DOCS["hellaswag"][0] | {"endings": ["a.", "b."], "label": "1"}],
    }
    for task, rows in docs.items():
        write_jsonl(tmp_path / f"{task}.jsonl", rows)
    assert set(check_zeroshot_files({"data_dir": str(tmp_path)})) == set(docs)
    assert sorted(load_ours({"data_dir": str(tmp_path)})["tasks"]) == sorted(docs)


def test_the_preflight_loads_no_model_and_no_lm_eval_task(tmp_path, monkeypatch):
    """The check a runner calls before it starts lm_eval: it reads the files only. Anything that would load a
    model or build lm-eval's tasks fails this test."""
    import transformers
    from lm_eval.api.task import ConfigurableTask

    def refuse(*args, **kwargs):
        raise AssertionError("a model or an lm-eval task was loaded")

    for name in ("AutoModelForCausalLM", "AutoModel", "AutoTokenizer"):
        monkeypatch.setattr(getattr(transformers, name), "from_pretrained", refuse)
    monkeypatch.setattr(ConfigurableTask, "__init__", refuse)
    path, line = crafted_file(tmp_path, "arc_easy", edit("answerKey", "E"))
    write_jsonl(tmp_path / "piqa.jsonl", DOCS["piqa"])
    with pytest.raises(DataFileError, match=rf"^{path}:{line}: field 'answerKey' is 'E'"):
        check_zeroshot_files({"data_dir": str(tmp_path)})
    assert check_zeroshot_files({"data_dir": str(tmp_path)}, ["piqa"]) == {"piqa": tmp_path / "piqa.jsonl"}

"""aura_zeroshot: lm-eval's own zero-shot tasks on local files, skipped members named, bad files refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import pytest

from aura_eval.harness.taskdata import DataFileError
from aura_eval.harness.zeroshot import SKIPPED_KEY, ZEROSHOT_SPECS, ZeroShotGroup, lm_eval_config, lm_eval_tasks_dir

REPO = Path(__file__).resolve().parents[1]
TASKS_DIR = REPO / "tasks"
MEMBERS = list(ZEROSHOT_SPECS)

# A few documents per task in the dataset's original layout (the fields the Hub dataset has).
DOCS: dict[str, list[dict]] = {
    "piqa": [
        {"goal": "How do you open a jar?", "sol1": "Twist the lid.", "sol2": "Eat the lid.", "label": 0},
        {"goal": "How do you dry wet hair?", "sol1": "Pour water on it.", "sol2": "Use a towel.", "label": 1},
        {"goal": "Cool soup quickly", "sol1": "Stir it in a cold bowl.", "sol2": "Heat it more.", "label": 0},
    ],
    "social_iqa": [
        {"context": "Tracy gave Riley a gift.", "question": "How would Riley feel?", "answerA": "thankful",
         "answerB": "angry", "answerC": "bored", "label": "1"},
        {"context": "Sam missed the bus.", "question": "What will Sam do next?", "answerA": "sleep",
         "answerB": "walk to school", "answerC": "cook", "label": "2"},
    ],
    "hellaswag": [
        {"ind": 4, "activity_label": "Removing ice from car", "ctx_a": "Then, the man writes over the snow.",
         "ctx_b": "then", "ctx": "Then, the man writes over the snow. then",
         "endings": [", the man adds wax [title] to the windshield.", ", a woman is seen.", ", the man sits.",
                     ", the man stands."],
         "source_id": "activitynet~v_-1IBHYS3L-Y", "split": "val", "split_type": "indomain", "label": "3"},
        {"ind": 9, "activity_label": "Baking cookies", "ctx_a": "A woman mixes flour.", "ctx_b": "she",
         "ctx": "A woman mixes flour. she", "endings": ["bakes the dough.", "swims.", "sings  loudly.", "runs."],
         "source_id": "wikihow~1", "split": "val", "split_type": "zeroshot", "label": "0"},
    ],
    "winogrande": [
        {"sentence": "The trophy didn't fit in the case because the _ was too big.", "option1": "trophy",
         "option2": "case", "answer": "1"},
        {"sentence": "Ann asked Mary for help because _ was stuck.", "option1": "Ann", "option2": "Mary",
         "answer": "1"},
    ],
    "arc_easy": [
        {"id": "Mercury_1", "question": "Which is a liquid at room temperature?",
         "choices": {"text": ["water", "ice", "steam"], "label": ["A", "B", "C"]}, "answerKey": "A"},
        {"id": "Mercury_2", "question": "What do plants need for photosynthesis?",
         "choices": {"text": ["sand", "light", "salt", "iron"], "label": ["1", "2", "3", "4"]}, "answerKey": "2"},
    ],
    "arc_challenge": [
        {"id": "Mercury_3", "question": "Which force pulls objects toward Earth?",
         "choices": {"text": ["magnetism", "gravity", "friction", "tension"], "label": ["A", "B", "C", "D"]},
         "answerKey": "B"},
    ],
    "openbookqa": [
        {"id": "7-980", "question_stem": "The sun is responsible for",
         "choices": {"text": ["puppies learning new tricks", "plants sprouting"], "label": ["A", "B"]},
         "answerKey": "B"},
        {"id": "7-981", "question_stem": "A magnet attracts",
         "choices": {"text": ["wood", "iron", "glass"], "label": ["A", "B", "C"]}, "answerKey": "B"},
    ],
    "truthfulqa_mc2": [
        {"question": "What happens if you crack your knuckles a lot?",
         "mc1_targets": {"choices": ["Nothing in particular happens.", "You get arthritis."], "labels": [1, 0]},
         "mc2_targets": {"choices": ["Nothing in particular happens.", "It does no harm.", "You get arthritis."],
                         "labels": [1, 1, 0]}},
    ],
    "triviaqa": [
        {"question": "Which planet is known as the red planet", "question_id": "tc_1", "question_source": "x",
         "answer": {"aliases": ["Mars", "mars"], "normalized_aliases": ["mars"], "value": "Mars",
                    "normalized_value": "mars", "type": "WikipediaEntity", "matched_wiki_entity_name": "",
                    "normalized_matched_wiki_entity_name": ""}},
        {"question": "What is the capital of France", "question_id": "tc_2", "question_source": "x",
         "answer": {"aliases": ["Paris"], "normalized_aliases": ["paris"], "value": "Paris",
                    "normalized_value": "paris", "type": "WikipediaEntity", "matched_wiki_entity_name": "",
                    "normalized_matched_wiki_entity_name": ""}},
    ],
}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def write_data_dir(folder: Path, tasks: list[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for task in tasks:
        write_jsonl(folder / f"{task}.jsonl", DOCS[task])
    return folder


@pytest.fixture(autouse=True)
def no_aura_env(monkeypatch):
    for var in ("AURA_TOXICITY_SCORER", "AURA_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def no_hub(monkeypatch):
    """Any Hub dataset load fails the test: with a data folder, nothing may be fetched."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"datasets.load_dataset called with {args} {kwargs}")

    monkeypatch.setattr(datasets, "load_dataset", refuse)


def load_ours(metadata: dict | None = None) -> dict:
    """Our group through lm-eval's own loader (our task folder only: the group needs no other index entry)."""
    return load_ours_named("aura_zeroshot", metadata)


def load_ours_named(name: str, metadata: dict | None = None) -> dict:
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(TASKS_DIR), include_defaults=False, metadata=metadata).load([name])


# ------------------------------------------------------------------------------ same requests as lm-eval


def fake_hub(task_docs: dict[str, list[dict]]):
    """A datasets.load_dataset stand-in serving each task's documents under every split; records the calls."""
    by_dataset = {}
    for name, spec in ZEROSHOT_SPECS.items():
        config = lm_eval_config(spec)
        by_dataset[(config["dataset_path"], config.get("dataset_name"))] = name
    calls = []

    def load_dataset(path=None, name=None, **kwargs):
        calls.append((path, name))
        split = datasets.Dataset.from_list(task_docs[by_dataset[(path, name)]])
        return datasets.DatasetDict({"train": split, "validation": split, "test": split})

    return load_dataset, calls


def requests_of(task) -> list[tuple]:
    task.set_fewshot_seed(1234)
    task.build_all_requests(limit=None, rank=0, world_size=1)
    return [(i.request_type, i.doc_id, i.idx, i.metadata, i.arguments, i.doc) for i in task.instances]


def fake_results(task, doc) -> list:
    """Deterministic model outputs for one document, so both tasks score the same answers."""
    if task.OUTPUT_TYPE == "generate_until":
        return ["Mars"]
    return [(-1.0 - 0.5 * i, i == 1) for i, _ in enumerate(task.doc_to_choice(doc))]


@pytest.fixture(scope="module")
def lm_eval_manager():
    from lm_eval.tasks import TaskManager

    return TaskManager(include_path=str(TASKS_DIR))  # lm-eval's own tasks and ours, one (slow) index


def test_specs_point_at_lm_evals_registered_tasks(lm_eval_manager):
    """The YAML each member is built from is the one lm-eval registers under that name."""
    for name, spec in ZEROSHOT_SPECS.items():
        registered = Path(lm_eval_manager.task_index[name].yaml_path).resolve()
        assert registered == (lm_eval_tasks_dir() / spec.lm_eval_yaml).resolve(), name
    assert set(DOCS) == set(ZEROSHOT_SPECS)


@pytest.fixture(scope="module")
def ours_on_every_file(tmp_path_factory, lm_eval_manager):
    folder = write_data_dir(tmp_path_factory.mktemp("zeroshot-all"), MEMBERS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AURA_DATA_DIR", str(folder))
        loaded = lm_eval_manager.load(["aura_zeroshot"])
    return folder, loaded


@pytest.mark.parametrize("name", MEMBERS)
def test_requests_are_lm_evals_own_on_the_same_documents(name, lm_eval_manager, ours_on_every_file, monkeypatch):
    """Prompts, choices, targets and scoring of our member == lm-eval's `--tasks <name>` on the same docs."""
    folder, loaded = ours_on_every_file
    ours = loaded["tasks"][name]
    assert ours.config.metadata["data_source"] == str(folder / f"{name}.jsonl")
    load_dataset, calls = fake_hub(DOCS)
    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    theirs = lm_eval_manager.load([name])["tasks"][name]
    assert calls, "lm-eval's own task did not load through datasets.load_dataset"
    assert type(theirs).__name__ == "ConfigurableTask" and theirs.config.custom_dataset is None

    ours_requests, their_requests = requests_of(ours), requests_of(theirs)
    assert len(ours_requests) >= len(DOCS[name])
    assert ours_requests == their_requests
    for (_, ours_doc), (_, their_doc) in zip(ours.doc_iterator(), theirs.doc_iterator(), strict=True):
        assert ours.doc_to_target(ours_doc) == theirs.doc_to_target(their_doc)
        results = fake_results(theirs, their_doc)
        assert ours.process_results(ours_doc, results) == theirs.process_results(their_doc, results)
    assert ours.VERSION == theirs.VERSION
    assert ours.aggregation() == theirs.aggregation() and ours.higher_is_better() == theirs.higher_is_better()


def test_hellaswag_process_docs_ran_on_the_file(tmp_path, no_hub):
    """lm-eval's hellaswag preprocessing (query/choices/gold, '[title]' clean-up) applies to local documents."""
    write_data_dir(tmp_path, ["hellaswag"])
    docs = load_ours({"data_dir": str(tmp_path)})["tasks"]["hellaswag"].eval_docs
    assert docs[0]["query"] == "Removing ice from car: Then, the man writes over the snow. Then"
    assert docs[0]["choices"][0] == ", the man adds wax. to the windshield."
    assert docs[1]["choices"][2] == "sings loudly." and docs[1]["gold"] == 0


# ------------------------------------------------------------------------------ which members run


def test_a_partial_folder_runs_its_files_and_names_the_others(tmp_path, no_hub):
    write_data_dir(tmp_path, ["piqa", "hellaswag"])
    loaded = load_ours({"data_dir": str(tmp_path)})
    group = loaded["groups"]["aura_zeroshot"]
    assert isinstance(group, ZeroShotGroup)
    assert sorted(loaded["tasks"]) == ["hellaswag", "piqa"]
    assert group.child_names == ["piqa", "hellaswag"]
    assert group.skipped == [m for m in MEMBERS if m not in ("piqa", "hellaswag")]
    # what lm-eval writes for the group: its mean over the members that ran, and the skipped list
    metrics = group.aggregate({
        "piqa": {"acc,none": 0.5, "acc_stderr,none": 0.1, "sample_len": 3},
        "hellaswag": {"acc,none": 1.0, "acc_stderr,none": 0.2, "sample_len": 2},
    })
    assert metrics["acc,none"] == 0.75
    assert metrics[SKIPPED_KEY] == group.skipped


def test_the_full_suite_nests_the_group(tmp_path, no_hub):
    """aura_suite_full = the offline suite + aura_zeroshot, all from one data folder."""
    from aura_demo_data import write_data_dir as write_suite_data

    write_data_dir(write_suite_data(tmp_path), ["piqa"])
    loaded = load_ours_named("aura_suite_full", {"data_dir": str(tmp_path), "toxicity_scorer": "profanity-check"})
    assert "piqa" in loaded["tasks"] and "aura_rtp" in loaded["tasks"] and "aura_ppl_toxic" in loaded["tasks"]
    assert "aura_zeroshot" in loaded["group_map"]["aura_suite_full"]
    assert loaded["group_map"]["aura_zeroshot"] == ["piqa"]
    assert loaded["groups"]["aura_zeroshot"].skipped == MEMBERS[1:]


def test_env_var_data_dir_works_like_metadata(tmp_path, monkeypatch, no_hub):
    write_data_dir(tmp_path, ["arc_easy"])
    monkeypatch.setenv("AURA_DATA_DIR", str(tmp_path))
    loaded = load_ours()
    assert list(loaded["tasks"]) == ["arc_easy"]
    assert loaded["tasks"]["arc_easy"].config.metadata["data_source"] == str(tmp_path / "arc_easy.jsonl")


def test_without_a_data_folder_every_member_reads_the_hub_as_lm_eval_does(monkeypatch):
    load_dataset, calls = fake_hub(DOCS)
    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    loaded = load_ours()
    assert list(loaded["tasks"]) == MEMBERS
    assert loaded["groups"]["aura_zeroshot"].skipped == []
    assert ("baber/piqa", None) in calls and ("allenai/ai2_arc", "ARC-Challenge") in calls and len(calls) == 9
    piqa = loaded["tasks"]["piqa"]
    assert piqa.config.custom_dataset is None and piqa.config.training_split == "train"
    assert piqa.config.metadata["data_source"] == "hub:baber/piqa"


def test_a_folder_without_any_zero_shot_file_is_an_error(tmp_path, no_hub):
    (tmp_path / "rtp_prompts.jsonl").write_text("{}\n")
    with pytest.raises(DataFileError, match=r"none of its files is in .*piqa\.jsonl, social_iqa\.jsonl"):
        load_ours({"data_dir": str(tmp_path)})


def test_other_file_names_and_the_file_key(tmp_path, no_hub):
    write_jsonl(tmp_path / "piqa_dev.jsonl", DOCS["piqa"])  # the name ../shared/data uses
    loaded = load_ours({"data_dir": str(tmp_path)})
    assert list(loaded["tasks"]) == ["piqa"]
    assert loaded["tasks"]["piqa"].config.metadata["data_source"] == str(tmp_path / "piqa_dev.jsonl")

    write_jsonl(tmp_path / "piqa-test.jsonl", DOCS["piqa"])
    with pytest.raises(DataFileError, match=r"Several files .* piqa-test\.jsonl, piqa_dev\.jsonl.*piqa_file"):
        load_ours({"data_dir": str(tmp_path)})
    loaded = load_ours({"data_dir": str(tmp_path), "piqa_file": "piqa-test.jsonl"})
    assert loaded["tasks"]["piqa"].config.metadata["data_source"] == str(tmp_path / "piqa-test.jsonl")
    with pytest.raises(DataFileError, match="piqa_file='nope.jsonl' does not exist"):
        load_ours({"data_dir": str(tmp_path), "piqa_file": "nope.jsonl"})


def test_few_shot_on_a_file_is_refused(tmp_path, no_hub):
    write_data_dir(tmp_path, ["piqa"])
    piqa = load_ours({"data_dir": str(tmp_path)})["tasks"]["piqa"]
    assert piqa.config.training_split is None  # the file holds the evaluated split only
    piqa.set_config(key="num_fewshot", value=2)
    with pytest.raises(ValueError, match="num_fewshot 2 with a local file"):
        piqa.build_all_requests(limit=1)


# ------------------------------------------------------------------------------ files with a wrong layout


@pytest.mark.parametrize(
    ("task", "line", "broken", "message"),
    [
        ("piqa", 2, lambda d: d.pop("sol2"), r"missing field 'sol2'; piqa\.jsonl holds baber/piqa's original "
                                             r"fields: goal \(a string\), sol1 \(a string\), sol2"),
        ("piqa", 3, lambda d: d.update(label="1"), r"field 'label' must be 0 or 1 \(as in baber/piqa\), got '1'"),
        ("winogrande", 1, lambda d: d.update(answer=1), r"field 'answer' must be '1' or '2'"),
        ("arc_easy", 2, lambda d: d["choices"].pop("label"), r"missing field 'choices\.label'"),
        ("hellaswag", 1, lambda d: d.update(endings="one ending"), r"field 'endings' must be a non-empty list"),
        ("truthfulqa_mc2", 1, lambda d: d.update(mc2_targets=["x"]), r"field 'mc2_targets' must be an object"),
        ("triviaqa", 2, lambda d: d.pop("answer"), r"missing field 'answer'"),
    ],
)
def test_a_file_with_a_wrong_layout_names_file_line_and_field(task, line, broken, message, tmp_path, no_hub):
    rows = json.loads(json.dumps(DOCS[task] * 2))
    broken(rows[line - 1])
    path = write_jsonl(tmp_path / f"{task}.jsonl", rows)
    with pytest.raises(DataFileError, match=rf"^{path}:{line}: {message}"):
        load_ours({"data_dir": str(tmp_path)})


def test_bad_json_and_empty_files(tmp_path, no_hub):
    path = tmp_path / "piqa.jsonl"
    path.write_text(json.dumps(DOCS["piqa"][0]) + "\n{not json\n")
    with pytest.raises(DataFileError, match=rf"{path}:2: not valid JSON"):
        load_ours({"data_dir": str(tmp_path)})
    path.write_text("\n")
    with pytest.raises(DataFileError, match=rf"{path}: (the file is empty|no documents)"):
        load_ours({"data_dir": str(tmp_path)})


# ------------------------------------------------------------------------------ a real lm_eval run


def test_lm_eval_run_on_a_folder_with_piqa_only(tiny_llama, tmp_path):
    """`lm_eval --model aura-hf --tasks aura_zeroshot` offline: piqa runs, the others are named as skipped."""
    data = write_data_dir(tmp_path / "data", ["piqa"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("AURA_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    env |= {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "AURA_DATA_DIR": str(data)}
    out = tmp_path / "out"
    cmd = [
        sys.executable, "-m", "lm_eval", "--model", "aura-hf", "--model_args",
        f"pretrained={tiny_llama},intervention=none", "--device", "cpu", "--include_path", str(TASKS_DIR),
        "--tasks", "aura_zeroshot", "--output_path", str(out), "--log_samples",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=400)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    (results_file,) = out.rglob("results_*.json")
    results = json.loads(results_file.read_text())

    skipped = [m for m in MEMBERS if m != "piqa"]
    group = results["results"]["aura_zeroshot"]
    assert group[SKIPPED_KEY] == skipped and results["groups"]["aura_zeroshot"][SKIPPED_KEY] == skipped
    assert results["group_subtasks"]["aura_zeroshot"] == ["piqa"]
    assert set(results["configs"]) == {"piqa"}
    assert results["configs"]["piqa"]["metadata"]["data_source"] == str(data / "piqa.jsonl")
    (samples_file,) = out.rglob("samples_piqa_*.jsonl")
    samples = [json.loads(line) for line in samples_file.read_text().splitlines()]
    assert [s["doc"] for s in samples] == DOCS["piqa"]
    by_hand = sum(s["acc"] for s in samples) / len(samples)
    assert results["results"]["piqa"]["acc,none"] == pytest.approx(by_hand)
    assert group["acc,none"] == pytest.approx(by_hand)  # the mean over the one member that ran
    assert "skipped_tasks" in done.stdout  # the printed table shows the list too

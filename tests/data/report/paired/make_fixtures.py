"""Regenerate the paired-statistics fixtures in this folder from real lm-eval 0.4.13 runs on a tiny model.

    python tests/data/report/paired/make_fixtures.py WORK_DIR

Runs `lm_eval --log_samples` for a tiny random Llama (tests/conftest.build_tiny) on the demo data
(tests/aura_demo_data), base and aura, on aura_rtp, aura_ppl_nontoxic and two local multiple-choice
tasks shaped like piqa / arc_easy in a group shaped like aura_zeroshot (named so afterwards, since the
real ones need the Hub); then an aura run with --limit 2 (other documents) and a damp run without
--log_samples. The files kept here are trimmed: long environment fields and the raw responses are
dropped; every field the report reads is as lm-eval wrote it.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[3]
sys.path.insert(0, str(REPO / "tests"))

RENAMES = {"mc_piqa": "piqa", "mc_arc": "arc_easy", "mc_zeroshot": "aura_zeroshot"}
PIQA = [("To open a jar", "twist the lid", "eat the lid", 0), ("To dry hair", "use water", "use a towel", 1),
        ("To read at night", "turn on a lamp", "close the book", 0), ("To cool soup", "heat it", "let it rest", 1),
        ("To wake up early", "set an alarm", "stay up late", 0), ("To keep food fresh", "leave it out", "cool it", 1),
        ("To water a plant", "pour water on soil", "pour sand on it", 0), ("To cut paper", "use a spoon", "use scissors", 1)]
ARC = [("Which is a liquid?", ["rock", "water", "wood", "iron"], 1), ("What gives light?", ["the sun", "a stone", "soil", "clay"], 0),
       ("What do plants need?", ["plastic", "noise", "light", "metal"], 2), ("Which is cold?", ["fire", "ice", "lava", "steam"], 1),
       ("What melts?", ["glass", "sand", "stone", "snow"], 3), ("Which can fly?", ["a bird", "a fish", "a worm", "a rock"], 0)]

MC_TASK = """task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    validation: {data}
validation_split: validation
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: label
doc_to_choice: choices
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""
GROUP = """group: mc_zeroshot
task: [mc_piqa, mc_arc]
aggregate_metric_list:
  - metric: acc
    filter_list: none
    aggregation: mean
    weight_by_size: false
metadata:
  version: 1.0
"""


def write_tasks(work: Path) -> Path:
    """The suite's task folder plus the local multiple-choice tasks, in one include path."""
    tasks = work / "tasks"
    shutil.copytree(REPO / "tasks", tasks, dirs_exist_ok=True)
    piqa = [{"question": g, "choices": [a, b], "label": y} for g, a, b, y in PIQA]
    arc = [{"question": q, "choices": c, "label": y} for q, c, y in ARC]
    for name, rows in (("mc_piqa", piqa), ("mc_arc", arc)):
        data = work / f"{name}.jsonl"
        data.write_text("".join(json.dumps(row) + "\n" for row in rows))
        (tasks / f"{name}.yaml").write_text(MC_TASK.format(name=name, data=data))
    (tasks / "mc_zeroshot.yaml").write_text(GROUP)
    return tasks


def lm_eval(work: Path, tasks: Path, model: Path, intervention: str, out: Path, *extra: str) -> None:
    args = [sys.executable, "-m", "lm_eval", "--model", "aura-hf", "--model_args",
            f"pretrained={model},intervention={intervention}", "--include_path", str(tasks), "--device", "cpu",
            "--batch_size", "4", "--output_path", str(out), *extra]
    env = {**os.environ, "AURA_DATA_DIR": str(work / "data"), "AURA_TOXICITY_SCORER": "profanity-check",
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "AURA_EVAL_CACHE": str(work / "cache")}
    subprocess.run(args, check=True, env=env, stdout=subprocess.DEVNULL)


def rename(text: str) -> str:
    for old, new in RENAMES.items():
        text = text.replace(old, new)
    return text


def trim_results(path: Path) -> dict:
    data = json.loads(path.read_text())
    keep = ("results", "groups", "group_subtasks", "configs", "n-samples", "config", "date", "task_hashes",
            "model_name", "lm_eval_version")
    data = {key: data[key] for key in keep if key in data}
    for config in data.get("configs", {}).values():
        for key in ("custom_dataset", "process_results", "filter_list"):
            config.pop(key, None)
        for key, value in list(config.items()):
            if isinstance(value, str) and value.startswith("def "):
                config[key] = "<function>"
    return json.loads(rename(json.dumps(data)))


def trim_sample(sample: dict) -> dict:
    for key in ("arguments", "resps", "filtered_resps"):
        sample[key] = "<trimmed>"
    return sample


def copy_run(run_dir: Path, dest: Path) -> None:
    """Trimmed results and samples of every run under `run_dir` into `dest`, names as lm-eval wrote them."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in run_dir.rglob("results_*.json"):
        (dest / path.name).write_text(json.dumps(trim_results(path), indent=1) + "\n")
    for path in run_dir.rglob("samples_*.jsonl"):
        samples = [trim_sample(json.loads(line)) for line in path.read_text().splitlines()]
        (dest / rename(path.name)).write_text(rename("".join(json.dumps(s) + "\n" for s in samples)))


def main(work: Path) -> None:
    from aura_demo_data import write_data_dir
    from conftest import build_tiny

    from aura_eval.core.learn import learn

    work.mkdir(parents=True, exist_ok=True)
    model = build_tiny(work / "tiny", "llama")
    write_data_dir(work / "data")
    learn_csv = work / "learn.csv"
    with open(learn_csv, "w", newline="") as f:
        csv.writer(f).writerows([("text", "label"), ("You are a stupid idiot.", 1), ("Shut up, you moron.", 1),
                                 ("Have a nice day.", 0), ("The library opens at nine.", 0)])
    state = work / "aura.safetensors"
    learn(str(model), str(learn_csv), state, device="cpu", progress=False)
    tasks = write_tasks(work)
    runs = work / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    everything = "aura_rtp,aura_ppl_nontoxic,mc_zeroshot"
    lm_eval(work, tasks, model, "none", runs / "base", "--tasks", everything, "--log_samples")
    lm_eval(work, tasks, model, str(state), runs / "aura", "--tasks", everything, "--log_samples")
    lm_eval(work, tasks, model, f"{state},method=damp,k=20,alpha=0.5", runs / "damp", "--tasks", "aura_rtp")
    # A second model name (same weights) whose aura run saw other documents than its base run.
    other = work / "tiny-other"
    shutil.copytree(model, other, dirs_exist_ok=True)
    lm_eval(work, tasks, other, "none", runs / "other-base", "--tasks", "aura_rtp", "--log_samples")
    lm_eval(work, tasks, other, str(state), runs / "other-aura", "--tasks", "aura_rtp", "--limit", "2",
            "--log_samples")
    for name in ("tiny", "tiny-other"):
        shutil.rmtree(HERE / name, ignore_errors=True)
    copy_run(runs / "base", HERE / "tiny" / "base")
    copy_run(runs / "aura", HERE / "tiny" / "aura")
    copy_run(runs / "damp", HERE / "tiny" / "damp-k20-a0.5")
    copy_run(runs / "other-base", HERE / "tiny-other" / "base")
    copy_run(runs / "other-aura", HERE / "tiny-other" / "aura")


if __name__ == "__main__":
    main(Path(sys.argv[1]))

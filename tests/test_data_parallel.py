"""Data parallelism on CPU processes: `torchrun --nproc_per_node 2 -m lm_eval --model aura-hf`, and
`accelerate launch --config_file <MULTI_GPU config> --num_processes 2` as compare renders it, split the
documents over two gloo processes and rank 0 writes one results file with every document once, with the
same per-document results and metrics as one process."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_task_dir
from test_shared_prefill import random_state

DOCS = ["The library opens at nine in the morning on weekdays.", "You are a stupid idiot and everyone hates you.",
        "Thank you so much for the help with my homework yesterday.", "Shut up, you worthless moron, nobody asked you.",
        "What a pathetic loser, go away and never come back."]  # 5: the ranks get unequal shares
TASKS = {
    "dp_ll": "output_type: multiple_choice\ndoc_to_text: '{{text}}'\ndoc_to_target: 0\ndoc_to_choice: [' yes', ' no', ' maybe']\n"
             "metric_list:\n  - metric: acc\n",
    "dp_ppl": "output_type: loglikelihood_rolling\ndoc_to_text: ''\ndoc_to_target: '{{text}}'\n"
              "metric_list:\n  - metric: word_perplexity\n",
    "dp_gen": "output_type: generate_until\ndoc_to_text: '{{text}}'\ndoc_to_target: ''\nrepeats: 3\n"
              "generation_kwargs:\n  until: ['\\n\\n']\n  do_sample: false\n  max_gen_toks: 8\n"
              "metric_list:\n  - metric: exact_match\n",
}


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory):
    return write_task_dir(tmp_path_factory.mktemp("dp_tasks"), TASKS, DOCS)


def run_lm_eval(launcher, model_args, task_dir, out):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, *launcher, "-m", "lm_eval", "--model", "aura-hf", "--model_args", model_args,
           "--include_path", str(task_dir), "--tasks", ",".join(TASKS), "--device", "cpu", "--batch_size", "4",
           "--output_path", str(out), "--log_samples"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    (results,) = Path(out).rglob("results_*.json")  # rank 0 alone writes
    samples = {}
    for f in Path(out).rglob("samples_*.jsonl"):
        rows = [json.loads(line) for line in f.read_text().splitlines()]
        task = f.name.removeprefix("samples_").rsplit("_", 1)[0]
        samples[task] = sorted((r["doc_id"], json.dumps(r["resps"]), json.dumps(r["filtered_resps"]),
                                 json.dumps({m: r[m] for m in ("acc", "word_perplexity", "exact_match") if m in r}))
                                for r in rows)
    return json.loads(results.read_text()), samples


@pytest.fixture(scope="module")
def one_process(tiny_llama, task_dir, tmp_path_factory):
    """(model args, results and samples of one process): what every launch must reproduce."""
    tmp = tmp_path_factory.mktemp("dp_one")
    args = f"pretrained={tiny_llama},intervention={random_state(tiny_llama, tmp / 's.safetensors')}"
    return args, *run_lm_eval([], args, task_dir, tmp / "one")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


LAUNCHERS = {
    "torchrun": lambda tmp: ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
    # what `compare --accelerate-config FILE --num-processes 2` launches; a MULTI_GPU config starts its
    # processes through torchrun even without GPUs, and aura-hf groups them over gloo
    "accelerate": lambda tmp: ["-m", "accelerate.commands.launch", "--config_file", str(accelerate_config(tmp)),
                               "--num_processes", "2", "--main_process_port", str(free_port())],
}


def accelerate_config(tmp: Path) -> Path:
    path = tmp / "accelerate.yaml"
    path.write_text("compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_GPU\nnum_machines: 1\n"
                    "num_processes: 2\ngpu_ids: all\nmixed_precision: 'no'\nuse_cpu: false\n")
    return path


@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_two_cpu_processes_equal_one(launcher, one_process, task_dir, tmp_path):
    args, one, one_samples = one_process
    two, two_samples = run_lm_eval(LAUNCHERS[launcher](tmp_path), args, task_dir, tmp_path / "two")
    assert set(one_samples) == set(TASKS)
    for task in TASKS:
        assert [s[0] for s in two_samples[task]] == list(range(len(DOCS))), f"{task}: every document once"
        assert two_samples[task] == one_samples[task], f"{task}: per-document results differ"
    assert two["results"] == one["results"]
    assert two["config"]["aura"]["applied"] == "folded in memory"
    assert (one["config"]["aura"]["processes"], two["config"]["aura"]["processes"]) == (1, 2), "the documents were not split"
    assert two["n-samples"] == one["n-samples"]

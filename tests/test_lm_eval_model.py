"""The real `lm_eval` CLI with --model aura-hf, in a subprocess, on local tasks and tiny models."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import write_task_dir

from aura_eval.core.intervention import Intervention

DOCS = ["The library opens at nine in the morning on weekdays.", "You are a stupid idiot and everyone hates you.",
        "Thank you so much for the help with my homework yesterday."]
TASKS = {
    "tiny_ppl": "output_type: loglikelihood_rolling\ndoc_to_text: ''\ndoc_to_target: '{{text}}'\n"
                "metric_list:\n  - metric: word_perplexity\n",
    "tiny_ll": "output_type: multiple_choice\ndoc_to_text: '{{text}}'\ndoc_to_target: 0\ndoc_to_choice: [' yes', ' no']\n"
               "metric_list:\n  - metric: acc\n",
    "tiny_gen": "output_type: generate_until\ndoc_to_text: '{{text}}'\ndoc_to_target: ''\n"
                "generation_kwargs:\n  until: ['\\n\\n']\n  do_sample: false\n  max_gen_toks: 6\n"
                "metric_list:\n  - metric: exact_match\n",
}


@pytest.fixture(scope="module")
def task_dir(tmp_path_factory):
    return write_task_dir(tmp_path_factory.mktemp("tasks"), TASKS, DOCS)


@pytest.fixture(scope="module")
def state(tiny_llama, tmp_path_factory):
    d = tmp_path_factory.mktemp("state")
    with open(d / "learn.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        w.writerows([("You are a stupid idiot.", 1), ("Shut up, you worthless moron.", 1), ("What a pathetic loser.", 1),
                     ("Have a nice day.", 0), ("The weather was pleasant.", 0), ("Thank you for the help.", 0)])
    out = d / "s.safetensors"
    run([sys.executable, "-m", "aura_eval.cli", "learn", "--model", str(tiny_llama), "--data", str(d / "learn.csv"),
         "--out", str(out), "--device", "cpu", "--no-progress"])
    return out


def run(cmd, cwd=None):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def lm_eval(model, model_args, task_dir, out, tasks="tiny_ppl,tiny_ll,tiny_gen"):
    lm_eval_bin = Path(sys.executable).with_name("lm_eval")
    run([str(lm_eval_bin), "--model", model, "--model_args", model_args, "--include_path", str(task_dir),
         "--tasks", tasks, "--device", "cpu", "--batch_size", "2", "--output_path", str(out)])
    (result,) = Path(out).rglob("results_*.json")
    return json.loads(result.read_text())


def metrics(res):
    return (res["results"]["tiny_ppl"]["word_perplexity,none"], res["results"]["tiny_ll"]["acc,none"])


def test_aura_hf_cli_all_request_types(tiny_llama, task_dir, state, tmp_path):
    base_hf = lm_eval("hf", f"pretrained={tiny_llama}", task_dir, tmp_path / "hf")  # the hook keeps --model hf working
    base = lm_eval("aura-hf", f"pretrained={tiny_llama},intervention=none", task_dir, tmp_path / "base")
    aura = lm_eval("aura-hf", f"pretrained={tiny_llama},intervention={state}", task_dir, tmp_path / "aura")
    zero = lm_eval("aura-hf", f"pretrained={tiny_llama},intervention={state},method=det_zero,k=40", task_dir, tmp_path / "zero")

    assert metrics(base) == metrics(base_hf), "intervention=none is the bare model"
    assert metrics(aura)[0] != pytest.approx(metrics(base)[0], rel=1e-6), "AurA changes rolling loglikelihoods"
    assert metrics(zero)[0] != pytest.approx(metrics(aura)[0], rel=1e-6)
    assert base["config"]["aura"]["variant"] == "base"
    info = aura["config"]["aura"]
    assert info["variant"] == "aura" and info["n_toxic"] == 3
    # portable: the state file by name and sha256, the learning data by file name, the model by name and digest
    assert info["state_file"] == Path(state).name and len(info["state_file_sha256"]) == 64
    assert info["data_source"] == "learn.csv"
    assert str(Path(state).parent) not in json.dumps(info) and str(tiny_llama) not in json.dumps(info)
    header = Intervention.load(state).meta
    assert header["model"] == tiny_llama.name and len(header["model_sha256"]) == 64 and len(header["data_sha256"]) == 64
    assert str(Path(state).parent) not in json.dumps(header) and str(tiny_llama) not in json.dumps(header)
    assert info["applied"] == "folded in memory" and info["folded_modules"] > 0 and info["hooked_modules"] == 0
    assert zero["config"]["aura"]["variant"] == "det_zero-k40" and zero["config"]["aura"]["n_units_changed"] == 40
    assert "tiny_gen" in aura["results"]


def test_generations_change_under_intervention(tiny_llama, task_dir, state, tmp_path):
    import torch
    from lm_eval.api.instance import Instance

    from aura_eval.harness.model import AuraLM

    def generate(**kw):
        lm = AuraLM(pretrained=str(tiny_llama), device="cpu", batch_size=1, **kw)
        req = Instance("generate_until", {}, (DOCS[0], {"until": ["\n\n"], "do_sample": False, "max_gen_toks": 12}), 0)
        torch.manual_seed(0)
        return lm.generate_until([req])[0]

    # Zeroing every MLP unit: greedy text of even a random tiny model must move.
    assert generate(intervention="none") != generate(intervention=str(state), method="det_zero", k=256)


def test_rolling_batch_size_batches_the_windows_and_leaves_the_rest_alone(tiny_llama, monkeypatch):
    """One process for every task: perplexity windows in batches of rolling_batch_size, equal to a process
    whose --batch_size is that number; the other request types keep batch_size."""
    from lm_eval.api.instance import Instance
    from lm_eval.models.huggingface import HFLM

    from aura_eval.harness.model import AuraLM

    long_doc = " ".join(DOCS * 8)  # several windows of max_length 16
    requests = [Instance("loglikelihood_rolling", {}, (text,), i) for i, text in enumerate([long_doc, *DOCS])]
    sizes = []
    tokens = HFLM._loglikelihood_tokens

    def spy(self, requests, disable_tqdm=False, override_bs=None):
        sizes.append((len(requests), self.batch_size))
        return tokens(self, requests, disable_tqdm=disable_tqdm, override_bs=override_bs)

    monkeypatch.setattr(HFLM, "_loglikelihood_tokens", spy)
    mixed = AuraLM(pretrained=str(tiny_llama), device="cpu", batch_size=8, rolling_batch_size=2, max_length=16)
    got = mixed.loglikelihood_rolling(requests)
    assert sizes and all(n <= 2 and size == 2 for n, size in sizes) and mixed.batch_size == 8
    sizes.clear()
    alone = AuraLM(pretrained=str(tiny_llama), device="cpu", batch_size=2, max_length=16)
    assert got == pytest.approx(alone.loglikelihood_rolling(requests), abs=1e-5)
    mixed.loglikelihood([Instance("loglikelihood", {}, ("The sky is", " blue"), 0)] * 3)
    assert sizes[-1][1] == 8
    with pytest.raises(ValueError, match="aura-hf: rolling_batch_size=0: expected a whole number >= 1"):
        AuraLM(pretrained=str(tiny_llama), device="cpu", rolling_batch_size=0)


def test_bad_model_args_are_clear(tiny_llama, tiny_gpt2, state):
    from aura_eval.core.intervention import StateFileError
    from aura_eval.harness.model import AuraLM

    with pytest.raises(ValueError, match="needs intervention"):
        AuraLM(pretrained=str(tiny_llama), device="cpu", method="damp", k=3)
    with pytest.raises(StateFileError, match="architecture"):
        AuraLM(pretrained=str(tiny_gpt2), device="cpu", intervention=str(state))
    with pytest.raises(StateFileError, match="No intervention state file"):
        AuraLM(pretrained=str(tiny_llama), device="cpu", intervention="/nonexistent.safetensors")


def test_det_zero_with_alpha_is_refused_before_the_model_loads():
    """alpha=0.3 would be silently ignored by det_zero: refused, before a (here nonexistent) model is loaded."""
    from aura_eval.harness.model import AuraLM

    with pytest.raises(ValueError, match="aura-hf: method=det_zero sets units to 0 and takes no alpha .*use method=damp"):
        AuraLM(pretrained="/nonexistent/model", device="cpu", intervention="/nonexistent.safetensors",
               method="det_zero", k=3, alpha=0.3)
    with pytest.raises(ValueError, match=r"aura-hf: alpha=1.5: expected a number in \[0, 1\]"):
        AuraLM(pretrained="/nonexistent/model", device="cpu", intervention="/nonexistent.safetensors",
               method="damp", k=3, alpha=1.5)


def test_learn_info_export_cli(tiny_gpt2, tmp_path):
    import torch
    from transformers import AutoModelForCausalLM

    from aura_eval.core.hooks import applied
    from aura_eval.core.intervention import Intervention

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": int(i % 2 == 1)}) + "\n" for i, t in enumerate(DOCS * 4)))
    state = tmp_path / "s.safetensors"
    run([sys.executable, "-m", "aura_eval.cli", "learn", "--model", str(tiny_gpt2), "--data", str(data), "--out", str(state),
         "--n-per-class", "3", "--pooling", "mean", "--device", "cpu", "--no-progress"])
    info = json.loads(run([sys.executable, "-m", "aura_eval.cli", "info", str(state), "--json"]).stdout)
    assert info["pooling"] == "mean" and info["n_toxic"] == 3 and info["n_nontoxic"] == 3
    assert info["fingerprint"]["architecture"] == "GPT2LMHeadModel"
    run([sys.executable, "-m", "aura_eval.cli", "export", "--model", str(tiny_gpt2), "--intervention", str(state),
         "--out", str(tmp_path / "folded"), "--dtype", "float32"])
    folded = AutoModelForCausalLM.from_pretrained(tmp_path / "folded")
    model = AutoModelForCausalLM.from_pretrained(tiny_gpt2)
    x = torch.tensor([[3, 14, 15, 92, 65]])
    with torch.no_grad(), applied(model, Intervention.load(state, model=model)):
        torch.testing.assert_close(folded(x).logits, model(x).logits, atol=1e-5, rtol=1e-5)

    bad = subprocess.run([sys.executable, "-m", "aura_eval.cli", "learn", "--model", str(tiny_gpt2), "--data",
                          str(tmp_path / "missing.csv"), "--out", str(tmp_path / "x.safetensors")], capture_output=True, text=True)
    assert bad.returncode == 2 and "No data file" in bad.stderr


def test_lm_eval_cli_method_none_strength_and_a_bad_boolean(tiny_llama, task_dir, state, tmp_path):
    """lm-eval turns `method=None` into Python None: the bare model, not AurA. strength reaches aura-hf and its
    results; `fold=maybe` is refused in one line before the model loads."""
    bare = lm_eval("aura-hf", f"pretrained={tiny_llama},intervention={state},method=None", task_dir, tmp_path / "none",
                   tasks="tiny_ppl")
    assert bare["config"]["aura"]["variant"] == "base" and bare["config"]["aura"]["applied"] == "nothing to apply"
    half = lm_eval("aura-hf", f"pretrained={tiny_llama},intervention={state},strength=0.5", task_dir, tmp_path / "half",
                   tasks="tiny_ppl")
    assert half["config"]["aura"]["variant"] == "aura-s0.5" and half["config"]["aura"]["strength"] == 0.5
    assert half["results"]["tiny_ppl"] != bare["results"]["tiny_ppl"]
    bad = subprocess.run([str(Path(sys.executable).with_name("lm_eval")), "--model", "aura-hf", "--model_args",
                          f"pretrained={tiny_llama},intervention={state},fold=maybe", "--include_path", str(task_dir),
                          "--tasks", "tiny_ppl", "--device", "cpu"], capture_output=True, text=True, timeout=600)
    assert bad.returncode != 0 and "aura-hf: fold='maybe': expected true/false, 1/0 or yes/no" in bad.stderr

"""GPU check: aura-eval's CUDA paths on a tiny model built here (no downloads), in well under 5 minutes.

    python bench/gpu_check.py          # on a machine with a CUDA device
    python bench/gpu_check.py --cpu    # the same checks on the CPU (tests this script; proves nothing about CUDA)

Checks, each printed as PASS / FAIL:
1. learn: `aura-eval learn` (collect responses, AUROCs) on the device gives the CPU's AUROCs;
2. bf16: hooks and the in-memory fold give the same bf16 logits on the device (and fp32 tightly);
3. lm_eval: `lm_eval --model aura-hf` on the device with a small limit: a loglikelihood task and a sampled
   generation task with repeats (shared prefill), its results naming how the intervention was applied;
4. scorer: an `hf:<folder>` classifier (a tiny random BERT built here; Detoxify's checkpoints need a
   download) scores on the device as on the CPU. profanity-check is a scikit-learn model: CPU only.
Exit status 0 when every check passes, 1 when one fails, 2 without a CUDA device (nothing checked).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

SENTENCES = [
    ("You are a stupid idiot and everyone hates you.", 1), ("Shut up, you worthless moron.", 1),
    ("What a pathetic loser, go away.", 1), ("Nobody likes you, you ugly fool.", 1),
    ("The library opens at nine in the morning.", 0), ("Thank you so much for the help.", 0),
    ("The weather was pleasant today.", 0), ("We planted tomatoes in the garden.", 0),
]


def build_tiny(folder: Path) -> Path:
    """A tiny random Llama with a byte-level BPE tokenizer trained on SENTENCES."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoModelForCausalLM, LlamaConfig, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([s for s, _ in SENTENCES] * 10, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   unk_token="<|endoftext|>")
    fast.save_pretrained(folder)
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(fast), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                      bos_token_id=fast.bos_token_id, eos_token_id=fast.eos_token_id, initializer_range=0.2)
    AutoModelForCausalLM.from_config(cfg).save_pretrained(folder)
    return folder


def build_classifier(folder: Path, tokenizer_dir: Path) -> Path:
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    tok.pad_token = tok.eos_token
    tok.save_pretrained(folder)
    torch.manual_seed(1)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                     max_position_embeddings=128, pad_token_id=tok.pad_token_id, id2label={0: "non-toxic", 1: "toxic"},
                     label2id={"non-toxic": 0, "toxic": 1})
    BertForSequenceClassification(cfg).save_pretrained(folder)
    return folder


def check_learn(work: Path, model_dir: Path, device: str) -> str:
    from aura_eval.core.learn import learn

    data = work / "learn.csv"
    with open(data, "w", newline="") as f:
        csv.writer(f).writerows([("text", "label"), *SENTENCES])
    on_device = learn(str(model_dir), str(data), work / "state.safetensors", device=device, progress=False)
    on_cpu = learn(str(model_dir), str(data), None, device="cpu", progress=False)
    # AUROCs over 4 x 4 sentences are multiples of 1/16: a response equal up to float rounding on the two
    # devices may swap one pair, so a few units may differ by one step, no more
    diff = torch.cat([(on_device.auroc[n] - on_cpu.auroc[n]).abs() for n in on_cpu.auroc])
    n_diff, worst = int((diff > 1e-9).sum()), float(diff.max())
    assert n_diff <= 0.01 * diff.numel() and worst <= 1 / 16 + 1e-9, f"{n_diff}/{diff.numel()} AUROCs differ (max {worst})"
    changed = on_device.summary()["n_units_changed"]
    assert changed > 0, "nothing learned"
    return f"{len(on_device.auroc)} modules, {changed} units changed, AUROCs {device} vs cpu: {n_diff}/{diff.numel()} differ"


def check_fold(work: Path, model_dir: Path, device: str) -> str:
    from transformers import AutoModelForCausalLM

    from aura_eval.core.hooks import applied, apply_folded
    from aura_eval.core.intervention import Intervention

    iv = Intervention.load(work / "state.safetensors")
    ids = torch.tensor([[5, 17, 42, 99, 3, 250, 7, 8, 9, 10]], device=device)
    out = []
    for dtype, tol in ((torch.bfloat16, 0.05), (torch.float32, 1e-4)):
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device).eval()
        with torch.no_grad():
            bare = model(ids).logits.float()
            with applied(model, iv):
                hooked = model(ids).logits.float()
            done = apply_folded(model, iv)
            folded = model(ids).logits.float()
        diff, moved = float((hooked - folded).abs().max()), float((hooked - bare).abs().max())
        scale = float(hooked.abs().max())
        assert done.how == "folded in memory", done.how
        assert diff <= tol * max(1.0, scale), f"{dtype}: hooks and fold differ by {diff} (logits up to {scale})"
        assert moved > 10 * diff, f"{dtype}: the intervention moves logits by only {moved}"
        out.append(f"{str(dtype).removeprefix('torch.')} |hooks - fold| = {diff:.3g} (intervention moves {moved:.3g})")
    return "; ".join(out)


def check_lm_eval(work: Path, model_dir: Path, device: str) -> str:
    tasks = work / "tasks"
    tasks.mkdir()
    (tasks / "docs.jsonl").write_text("".join(json.dumps({"text": s}) + "\n" for s, _ in SENTENCES))
    head = f"dataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {tasks / 'docs.jsonl'}\ntest_split: test\n"
    (tasks / "gc_ll.yaml").write_text(f"task: gc_ll\n{head}output_type: multiple_choice\ndoc_to_text: '{{{{text}}}}'\n"
                                      "doc_to_target: 0\ndoc_to_choice: [' yes', ' no']\nmetric_list:\n  - metric: acc\n")
    (tasks / "gc_gen.yaml").write_text(f"task: gc_gen\n{head}output_type: generate_until\ndoc_to_text: '{{{{text}}}}'\n"
                                       "doc_to_target: ''\nrepeats: 5\ngeneration_kwargs:\n  until: []\n  do_sample: true\n"
                                       "  temperature: 1.0\n  max_gen_toks: 10\nmetric_list:\n  - metric: exact_match\n")
    out = work / "lm_eval_out"
    cmd = [sys.executable, "-m", "lm_eval", "--model", "aura-hf", "--model_args",
           f"pretrained={model_dir},intervention={work / 'state.safetensors'}", "--include_path", str(tasks),
           "--tasks", "gc_ll,gc_gen", "--device", device, "--batch_size", "8", "--limit", "4", "--output_path", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
    assert proc.returncode == 0, f"lm_eval failed:\n{proc.stderr[-2000:]}"
    (results,) = out.rglob("results_*.json")
    res = json.loads(results.read_text())
    aura = res["config"]["aura"]
    assert aura["variant"] == "aura" and aura["applied"] == "folded in memory", aura
    assert aura["generation"]["prompts_prefilled"] < aura["generation"]["rows"], aura["generation"]  # shared prefill
    assert "gc_ll" in res["results"] and "gc_gen" in res["results"]
    return f"acc={res['results']['gc_ll']['acc,none']}, applied={aura['applied']}, generation={aura['generation']}"


def check_scorer(work: Path, model_dir: Path, device: str) -> str:
    from aura_eval.harness.scorers import HFClassifierScorer, clear_scorer_cache

    folder = build_classifier(work / "classifier", model_dir)
    texts = [s for s, _ in SENTENCES]
    scores = {}
    for where in (device, "cpu"):
        os.environ["AURA_SCORER_DEVICE"] = where
        clear_scorer_cache()
        scorer = HFClassifierScorer.from_spec(f"hf:{folder}#toxic")
        assert next(scorer.model.parameters()).device.type == torch.device(where).type
        scores[where] = scorer.score(texts)
    worst = max(abs(a - b) for a, b in zip(scores[device], scores["cpu"]))
    assert worst < 1e-3, f"{device} and cpu scores differ by {worst}"
    return f"hf:<tiny random BERT> on {device} == cpu (max diff {worst:.2g}); profanity-check: CPU only, not a device check"


CHECKS = [("learn", check_learn), ("bf16 hooks == fold", check_fold), ("lm_eval aura-hf", check_lm_eval), ("scorer", check_scorer)]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cpu", action="store_true", help="run the checks on the CPU (tests the script, not CUDA)")
    args = p.parse_args()
    if not args.cpu and not torch.cuda.is_available():
        print("no CUDA device: nothing checked")
        return 2
    device = "cpu" if args.cpu else "cuda"
    where = torch.cuda.get_device_name(0) if device == "cuda" else "CPU (--cpu: this checks the script, not CUDA)"
    print(f"device: {where}; torch {torch.__version__}", flush=True)
    failed = 0
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model_dir = build_tiny(work / "tiny")
        for name, check in CHECKS:
            t = time.perf_counter()
            try:
                detail = check(work, model_dir, device)
                print(f"PASS {name} ({time.perf_counter() - t:.1f} s): {detail}", flush=True)
            except Exception as e:  # one failing check must not hide the others
                failed += 1
                print(f"FAIL {name} ({time.perf_counter() - t:.1f} s): {type(e).__name__}: {e}", flush=True)
                traceback.print_exc(limit=3)
    print(f"{len(CHECKS) - failed}/{len(CHECKS)} checks passed in {time.perf_counter() - t_all:.0f} s on {device}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

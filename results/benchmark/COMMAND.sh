# The exact command that produced results/benchmark/ (run from the repository root, with ../shared/data present).
# AurA learned on 500 + 500 Jigsaw comments; 100 RTP prompts (seeded subset, 25 continuations of 20 tokens each)
# scored by the offline profanity-check scorer; non-toxic perplexity on the 30 WikiText-2 articles; toxic
# perplexity on 100 offensive tweets (disjoint from the learning data); perplexity windows of 1024 tokens.
HF_HUB_OFFLINE=1 aura-eval demo --out results/benchmark \
    --learn-data ../shared/data/jigsaw_comments_dev.csv --n-per-class 500 \
    --data-dir ../shared/data --metadata '{"toxic_file": "offensive_tweets_dev.csv"}' \
    --scorer profanity-check --limit 100 --model-args max_length=1024 \
    --variants base,aura,damp-k2000,det_zero-k2000

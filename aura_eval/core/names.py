"""The suite's names, owned here once: tasks, metric columns, metadata keys, environment variables, files.

Every layer imports its names from this module (it imports nothing), so a task, a variable or a marker
file is spelled in one place.
"""

from __future__ import annotations

# -- variants ------------------------------------------------------------------------------------
BASE_VARIANT = "base"  # the unmodified model (method "none")
FOLDED_VARIANT = "aura-folded"  # AurA folded into the weights, evaluated as a plain `hf` model
LM_EVAL_MODEL = "aura-hf"  # our lm-eval model name

# -- tasks ---------------------------------------------------------------------------------------
RTP_TASK = "aura_rtp"
RTP_CHALLENGING_TASK = "aura_rtp_challenging"
PREPROMPT_FAVOURABLE_TASK = "aura_preprompt_favourable"
PREPROMPT_ADVERSARIAL_TASK = "aura_preprompt_adversarial"
PREPROMPT_TASKS = (PREPROMPT_FAVOURABLE_TASK, PREPROMPT_ADVERSARIAL_TASK)
TOXICITY_TASKS = (RTP_TASK, RTP_CHALLENGING_TASK, *PREPROMPT_TASKS)
PPL_NONTOXIC_TASK = "aura_ppl_nontoxic"
PPL_TOXIC_TASK = "aura_ppl_toxic"
PPL_PREFIX = "aura_ppl"  # perplexity tasks run in their own lm_eval process (smaller batches)
ZEROSHOT_GROUP = "aura_zeroshot"
ZEROSHOT_MEMBERS = ("piqa", "social_iqa", "hellaswag", "winogrande", "arc_easy", "arc_challenge", "openbookqa",
                    "truthfulqa_mc2", "triviaqa")
DEFAULT_COMPARE_TASKS = (RTP_TASK, PPL_NONTOXIC_TASK, PPL_TOXIC_TASK)

# -- metrics (lm-eval result keys, filter "none") ---------------------------------------------------
TOXICITY_PROB = "toxicity_prob"  # share of prompts with at least one toxic continuation
EXPECTED_MAX_TOXICITY = "expected_max_toxicity"
MEAN_TOXICITY = "mean_toxicity"
TOXIC_PROMPTS_SUFFIX = "_toxic_prompts"  # the same metric over the prompts whose own toxicity is >= 0.5
NONTOXIC_PROMPTS_SUFFIX = "_nontoxic_prompts"
RTP_METRICS = (TOXICITY_PROB, EXPECTED_MAX_TOXICITY, MEAN_TOXICITY,
               TOXICITY_PROB + TOXIC_PROMPTS_SUFFIX, TOXICITY_PROB + NONTOXIC_PROMPTS_SUFFIX,
               EXPECTED_MAX_TOXICITY + TOXIC_PROMPTS_SUFFIX, EXPECTED_MAX_TOXICITY + NONTOXIC_PROMPTS_SUFFIX)
DIST_ORDERS = (1, 2, 3)
DIVERSITY_METRICS = tuple(f"dist_{n}" for n in DIST_ORDERS)  # distinct n-grams over a prompt's continuations
ACCURACY = "acc"
WORD_PERPLEXITY = "word_perplexity"
ZEROSHOT_SKIPPED_KEY = "skipped_tasks"  # results[<group>][key]: the members that had no data file
DATA_SOURCE_KEY = "data_source"  # what the tasks record about the file they read

# -- task metadata keys --------------------------------------------------------------------------
DATA_DIR_KEY = "data_dir"
SCORER_KEY = "toxicity_scorer"
FILE_KEY_SUFFIX = "_file"  # rtp_file, nontoxic_file, toxic_file, <zero-shot member>_file

# -- environment variables -------------------------------------------------------------------------
DATA_DIR_ENV = "AURA_DATA_DIR"
SCORER_ENV = "AURA_TOXICITY_SCORER"
SCORER_DEVICE_ENV = "AURA_SCORER_DEVICE"
SCORER_BATCH_SIZE_ENV = "AURA_SCORER_BATCH_SIZE"
DETOXIFY_CHECKPOINT_ENV = "AURA_DETOXIFY_CHECKPOINT"
DETOXIFY_CONFIG_ENV = "AURA_DETOXIFY_CONFIG_DIR"
CACHE_ENV = "AURA_EVAL_CACHE"
STRICT_MODEL_ENV = "AURA_EVAL_STRICT_MODEL"  # 1: refuse a state file learned on other weights (else a warning)
NO_REGISTRATION_ENV = "AURA_EVAL_NO_LM_EVAL_HOOK"  # switches off the lm-eval registration at start-up

# -- files aura-eval writes ------------------------------------------------------------------------
COMPARE_MARKER = "command.txt"  # `aura-eval compare` writes it in every variant folder it runs
COMPARE_LOG = "lm_eval.log"
COMPARE_LOCK = "compare.lock"
RUN_RECORD_PREFIX = "run_"  # run_<date>.json beside lm-eval's results_<date>.json
STALE_DIR = "stale"
FOLDED_MARKER = "aura_intervention.json"  # written last into every folded checkpoint: what was folded, its files
DEQUANTIZED_MARKER = "aura_gguf_source.json"  # written last into every de-quantised GGUF copy in the cache

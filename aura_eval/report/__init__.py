"""Runs and reports: `compare` runs lm_eval per variant, the leaderboard reads what lm-eval wrote."""

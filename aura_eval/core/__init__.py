"""The AurA method itself: responses, AUROC, alphas, hooks, state files, learning.

This layer imports neither lm-eval nor the reporting code nor the CLI (a test enforces it), so it can be
used alone: ``from aura_eval.core.learn import learn``.
"""

"""aura-eval: AurA (AUROC adaptation) toxicity mitigation for Hugging Face causal LMs, evaluated with lm-eval.

Heavy modules (torch, transformers, lm-eval) are imported by the submodules that need them, so that
``import aura_eval`` stays cheap: the lm-eval import hook runs in every Python process.
"""

__version__ = "0.1.0"

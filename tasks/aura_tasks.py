"""Names that tasks/*.yaml reach with `!function aura_tasks.<name>`; the code lives in the aura_eval package."""

from aura_eval.harness.rtp import challenging_only, mean_skipping_none, process_results  # noqa: F401
from aura_eval.harness.taskdata import load_nontoxic, load_rtp, load_toxic  # noqa: F401
from aura_eval.harness.tasks import AuraTask, AuraToxicityTask  # noqa: F401
from aura_eval.harness.zeroshot import ZeroShotGroup  # noqa: F401

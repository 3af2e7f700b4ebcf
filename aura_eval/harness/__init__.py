"""Everything lm-eval sees: the `aura-hf` model, the suite's task classes, data loaders and scorers.

Importing this package is cheap (the `.pth` file imports `aura_eval.harness.registration` at interpreter start).
"""

from __future__ import annotations

from pathlib import Path


def tasks_dir() -> Path:
    """The task YAMLs: `tasks/` beside the package in a checkout, `aura_eval/_tasks` in a wheel."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package.parent / "tasks", package / "_tasks"):
        if candidate.is_dir() and any(candidate.glob("*.yaml")):
            return candidate
    raise FileNotFoundError("aura-eval's task folder is missing from this installation")

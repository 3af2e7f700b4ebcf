"""Every dependency pyproject.toml declares is imported by the package (or needed by a library at load)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

REPO = Path(__file__).resolve().parents[1]
# Declared for a library below, not imported by us: transformers reads GGUF files with `gguf`.
NEEDED_AT_LOAD = {"gguf": "transformers reads GGUF checkpoints with it"}


def imported_top_levels() -> set[str]:
    names = set()
    for path in list((REPO / "aura_eval").rglob("*.py")) + [REPO / "tasks" / "aura_tasks.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module.split(".")[0])
    return names


def test_every_declared_dependency_is_imported():
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    by_distribution: dict[str, set[str]] = {}
    for module, distributions in importlib.metadata.packages_distributions().items():
        for dist in distributions:
            by_distribution.setdefault(dist.lower().replace("_", "-"), set()).add(module)
    imported = imported_top_levels()
    unused = []
    for requirement in declared:
        dist = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        modules = by_distribution.get(dist, {dist.replace("-", "_")})
        if dist not in NEEDED_AT_LOAD and not modules & imported:
            unused.append(f"{dist} (modules {sorted(modules)})")
    assert not unused, f"declared in pyproject.toml but imported nowhere in aura_eval/: {unused}"

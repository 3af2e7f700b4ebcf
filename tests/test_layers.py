"""The package's layers import only downwards: core < harness < runs < report < demo < cli.

Read from the source with `ast`, so imports hidden inside functions count too.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "aura_eval"
LAYERS = ["core", "harness", "runs", "report", "demo", "cli"]
FORBIDDEN_IN_CORE = ("lm_eval", "matplotlib")  # the method itself needs neither
FORBIDDEN_IN_REPORT = ("subprocess", "multiprocessing", "argparse")  # the report reads files; runs/ starts processes, cli.py parses


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "aura_eval" or len(parts) < 2:
        return None
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def imports_of(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: use absolute imports (from aura_eval.<layer>...)"
            names += [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
    return names


FILES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_only_go_down(path):
    own = layer_of("aura_eval." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts))
    if own is None:
        return
    for name in imports_of(path):
        other = layer_of(name)
        assert other is None or other <= own, f"{path.name} ({LAYERS[own]}) imports {name} ({LAYERS[other]})"
        if LAYERS[own] == "core":
            assert not name.startswith(FORBIDDEN_IN_CORE), f"core module {path.name} imports {name}"
        if LAYERS[own] == "report":
            assert not name.startswith(FORBIDDEN_IN_REPORT), f"report module {path.name} imports {name}"


def test_every_module_sits_in_a_layer():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "cli")]
    assert not loose, f"modules outside the layers: {loose}"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def test_no_import_circle_anywhere():
    """No module reaches itself through imports (top-level or inside functions), within a layer or across."""
    modules = {module_name(p): p for p in FILES}

    def target(name: str) -> str | None:  # `from a.b import c`: the module a.b.c when there is one, else a.b
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {m: {t for n in imports_of(p) if (t := target(n)) and t != m and not m.startswith(t + ".")}
             for m, p in modules.items()}  # a module importing its own package's __init__ is how packages work
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        assert module not in path, f"import circle: {' -> '.join([*path[path.index(module):], module])}"
        if module in done:
            return
        for other in sorted(graph[module]):
            visit(other, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])

"""core/ has no import circle (files < loading < export, for instance), counting imports inside functions."""

import ast
from pathlib import Path

CORE = Path(__file__).resolve().parent.parent / "aura_eval" / "core"


def core_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        found |= {n.split(".")[2] for n in names if n.startswith("aura_eval.core.") and len(n.split(".")) > 2}
    return found - {path.stem}


def test_no_import_circle_in_core():
    graph = {p.stem: core_imports(p) & {q.stem for q in CORE.glob("*.py")} for p in CORE.glob("*.py")}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        assert module not in path, f"import circle in core/: {' -> '.join([*path[path.index(module):], module])}"
        if module in done:
            return
        for other in sorted(graph[module]):
            visit(other, [*path, module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])

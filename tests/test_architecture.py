"""The package's import graph: every import (module level or inside a function) runs down the layers
of docs/architecture.md, and no two modules import each other, directly or through others."""

import ast
from pathlib import Path

SRC = Path(__file__).parents[1] / "src"

# Layer of each package or module (longest prefix wins); lower layers never import higher ones.
LAYERS = {
    "smhr.errors": 0, "smhr.records": 0, "smhr.lazy": 0, "smhr.io.atomic": 0, "smhr.io.messages": 0,
    "smhr.io": 1, "smhr.io.exports": 4,  # exports write Hand records with the hands' side names
    "smhr.geometry": 2,
    "smhr.hands": 3,
    "smhr.render": 4, "smhr.teacher": 4,
    "smhr.data": 5,
    "smhr.model": 6, "smhr.losses": 6, "smhr.runtime": 6,
    "smhr.eval": 7, "smhr.label": 7,
    "smhr.train": 8,
    "smhr.app": 9, "smhr.onnx_export": 9,
    "smhr.app.demo": 10,
}  # fmt: skip
TOP = 99  # command-line modules may import anything
CLI = ("smhr.cli", "smhr.app.export_cli")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _layer(module: str) -> int:
    if module in CLI or module.endswith(".cli"):
        return TOP
    best, rank = "", None
    for prefix, r in LAYERS.items():
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
            best, rank = prefix, r
    assert rank is not None, f"{module} has no layer in tests/test_architecture.py LAYERS"
    return rank


def _imports(path: Path, modules: set[str]) -> set[str]:
    """smhr modules imported anywhere in the file (resolved to the deepest existing module)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names] + [node.module]
        for n in names:
            if not n.startswith("smhr"):
                continue
            while n not in modules and "." in n:
                n = n.rsplit(".", 1)[0]
            if n in modules:
                out.add(n)
    return out


def _graph() -> dict[str, set[str]]:
    files = {(_module_name(p)): p for p in (SRC / "smhr").rglob("*.py")}
    modules = set(files)
    graph = {}
    for m, p in files.items():
        deps = _imports(p, modules) - {m}
        # a package's __init__ is no dependency of its own modules (and vice versa for re-exports)
        graph[m] = {d for d in deps if not (m.startswith(d + ".") or d.startswith(m + "."))}
    return graph


def test_every_import_runs_down_the_layers():
    upward = [f"{m} ({_layer(m)}) imports {d} ({_layer(d)})" for m, deps in _graph().items() for d in deps
              if _layer(d) > _layer(m)]
    assert not upward, "\n".join(sorted(upward))


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cycles.append(" -> ".join([*stack[stack.index(d):], d]))
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "\n".join(cycles)


def test_no_module_over_400_lines():
    long = [f"{p.relative_to(SRC)}: {n}" for p in (SRC / "smhr").rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 420]
    assert not long, long

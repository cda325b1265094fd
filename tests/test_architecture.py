"""The package's import graph and module sizes: every import (module level or inside a function)
runs down the layers of docs/architecture.md, no two modules import each other, directly or
through others, and no module is over 400 lines. The checks are functions of a source folder, so
the last tests can show that each one catches a planted violation."""

import ast
import importlib
import re
from pathlib import Path

SRC = Path(__file__).parents[1] / "src"
MAX_LINES = 400

# Layer of each package or module (longest prefix wins); lower layers never import higher ones.
LAYERS = {
    "smhr.errors": 0, "smhr.records": 0, "smhr.lazy": 0, "smhr.registry": 0, "smhr.configdict": 0,
    "smhr.io.atomic": 0, "smhr.io.messages": 0,
    "smhr.io": 1,
    "smhr.geometry": 2,
    "smhr.hands": 3,
    "smhr.render": 4, "smhr.teacher": 4,
    "smhr.data": 5,
    "smhr.model": 6, "smhr.losses": 6, "smhr.runtime": 6,
    "smhr.eval": 7, "smhr.label": 7,
    "smhr.train": 8,
    "smhr.app": 9, "smhr.onnx_export": 9,
}  # fmt: skip
TOP = 99
# The commands that may import anything (lazily): the one command line and the product's commands.
# Every other command module (`smhr.<package>.cli`) sits in its package's layer like its neighbours.
COMMANDS = ("smhr.cli", "smhr.app.demo", "smhr.app.export_cli", "smhr.app.package_cli")


def _module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _layer(module: str) -> int:
    if module in COMMANDS:
        return TOP
    best, rank = "", None
    for prefix, r in LAYERS.items():
        if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > len(best):
            best, rank = prefix, r
    if module == "smhr":
        return 0
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


def _graph(src: Path = SRC) -> dict[str, set[str]]:
    files = {(_module_name(p, src)): p for p in (src / "smhr").rglob("*.py")}
    modules = set(files)
    graph = {}
    for m, p in files.items():
        deps = _imports(p, modules) - {m}
        # a package's __init__ is no dependency of its own modules (and vice versa for re-exports)
        graph[m] = {d for d in deps if not (m.startswith(d + ".") or d.startswith(m + "."))}
    return graph


def upward_imports(src: Path = SRC) -> list[str]:
    return sorted(f"{m} ({_layer(m)}) imports {d} ({_layer(d)})" for m, deps in _graph(src).items()
                  for d in deps if _layer(d) > _layer(m))


def import_cycles(src: Path = SRC) -> list[str]:
    graph = _graph(src)
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
    return cycles


def long_modules(src: Path = SRC) -> list[str]:
    return [f"{p.relative_to(src)}: {n} lines" for p in sorted((src / "smhr").rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_LINES]


def test_every_import_runs_down_the_layers():
    assert not upward_imports(), "\n".join(upward_imports())


def test_no_import_cycles():
    assert not import_cycles(), "\n".join(import_cycles())


def test_no_module_over_400_lines():
    assert not long_modules(), long_modules()


def _plant(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / "smhr" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_the_checks_catch_an_upward_import_a_cycle_and_a_long_module(tmp_path):
    src = _plant(tmp_path, {
        "__init__.py": "", "hands/__init__.py": "", "render/__init__.py": "", "data/__init__.py": "",
        "hands/cli.py": "def show():\n    from smhr.render.pose_sheet import contact_sheet\n",
        "render/pose_sheet.py": "from smhr.hands import cli\n",
        "data/a.py": "import smhr.data.b\n", "data/b.py": "from smhr.data import a\n",
        "data/long.py": "x = 1\n" * (MAX_LINES + 1),
        "data/ok.py": "x = 1\n" * MAX_LINES,
    })  # fmt: skip
    assert upward_imports(src) == ["smhr.hands.cli (3) imports smhr.render.pose_sheet (4)"]
    assert any("smhr.data.a -> smhr.data.b -> smhr.data.a" in c for c in import_cycles(src))
    assert long_modules(src) == [f"smhr/data/long.py: {MAX_LINES + 1} lines"]


DOCS = Path(__file__).parents[1] / "docs"


def test_the_layer_table_of_docs_architecture_is_the_one_checked_here():
    rows = [line.split("|") for line in (DOCS / "architecture.md").read_text().splitlines()
            if line.startswith("| ") and line.split("|")[1].strip() in {*map(str, range(10)), "top"}]
    assert len(rows) == 11
    for row in rows:
        layer = TOP if row[1].strip() == "top" else int(row[1])
        for name in re.findall(r"`(smhr(?:\.\w+)*)`", row[2]):
            assert _layer(name) == layer, f"docs/architecture.md puts {name} in layer {row[1].strip()}"


def test_every_smhr_name_the_docs_give_exists():
    missing = []
    for page in [*sorted(DOCS.glob("*.md")), DOCS.parent / "README.md"]:
        for name in sorted(set(re.findall(r"`(smhr(?:\.[A-Za-z_]\w*)+)", page.read_text()))):
            parts = name.split(".")
            for i in range(len(parts), 0, -1):  # the longest importable module, then attributes
                try:
                    obj = importlib.import_module(".".join(parts[:i]))
                except ImportError:
                    continue
                for attr in parts[i:]:
                    obj = getattr(obj, attr, None)
                if obj is None:
                    missing.append(f"{page.name}: {name}")
                break
    assert not missing, missing

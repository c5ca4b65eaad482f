"""The packages' layering, read from the code with ``ast``: imports run one way.

``simulator`` (the workload) <- ``analysis`` (what the evidence means) <- ``farm``
(orchestration and the command line). A back edge, a project module loaded by a string, or a
module grown past the size limit fails here, naming the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Lower layers first: a package may import only itself and the packages before it.
LAYERS = ("simulator", "analysis", "farm")

#: One job per module: no module of the three packages is longer than this.
MAX_MODULE_LINES = 450


def _modules() -> list[Path]:
    return sorted(p for pkg in LAYERS for p in (ROOT / pkg).rglob("*.py"))


def _imported(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted module) of every import statement, at any depth (functions included)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _string_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of ``import_module("…")`` / ``__import__("…")`` naming a project package."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name not in ("import_module", "__import__", "optional_attr"):
            continue
        for arg in node.args[:1]:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                top = arg.value.split(".")[0]
                if top in LAYERS:
                    found.append((node.lineno, arg.value))
            elif isinstance(arg, ast.JoinedStr):  # f"farm.cli.{name}"
                head = arg.values[0] if arg.values else None
                if isinstance(head, ast.Constant) and str(head.value).split(".")[0] in LAYERS:
                    found.append((node.lineno, ast.unparse(arg)))
    return found


def test_the_three_packages_exist():
    assert all((ROOT / pkg / "__init__.py").is_file() for pkg in LAYERS)
    assert len(_modules()) > 40


def test_imports_run_one_way():
    back_edges = []
    for path in _modules():
        pkg = path.relative_to(ROOT).parts[0]
        allowed = set(LAYERS[: LAYERS.index(pkg) + 1])
        for line, module in _imported(ast.parse(path.read_text(encoding="utf-8"))):
            top = module.split(".")[0]
            if top in LAYERS and top not in allowed:
                back_edges.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not back_edges, "imports that run against the layers:\n" + "\n".join(back_edges)


def test_no_project_module_is_loaded_by_a_string():
    hidden = []
    for path in _modules():
        for line, text in _string_imports(ast.parse(path.read_text(encoding="utf-8"))):
            hidden.append(f"{path.relative_to(ROOT)}:{line} loads {text} by a string")
    assert not hidden, "\n".join(hidden)


def test_modules_keep_to_one_job_in_size():
    big = [
        f"{p.relative_to(ROOT)}: {n} lines"
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES
    ]
    assert not big, f"modules over {MAX_MODULE_LINES} lines:\n" + "\n".join(big)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from farm.grid import Cell", [(1, "farm.grid")]),
        ("def f():\n    import analysis.tables.schema", [(2, "analysis.tables.schema")]),
        ("from . import sibling", []),
    ],
)
def test_the_import_reader_sees_every_form(source, expected):
    assert _imported(ast.parse(source)) == expected


def test_the_string_import_reader_sees_project_names():
    tree = ast.parse(
        "import importlib\nimportlib.import_module('analysis.capture')\n"
        "importlib.import_module(f'farm.cli.{x}')\nimportlib.import_module(user_spec)\n"
    )
    assert [line for line, _ in _string_imports(tree)] == [2, 3]

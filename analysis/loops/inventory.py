"""Loop inventory (Phase A): every for/while loop and comprehension of a package, from its AST.

Each loop gets a stable ``loop_id``: a hash of its module, enclosing function, kind, header
and its rank among loops with the same header in that function, so edits elsewhere in a
file (which move line numbers) keep the id.

Example:
    >>> rows = scan_package(Path("simulator"))
    >>> table = loops_table(rows, stamp="20260101T000000Z")
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa

from analysis.tables.schema import LOOPS, SCHEMA_VERSION

_HEADER_MAX = 160
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)


class InventoryError(ValueError):
    """A package that cannot be found or parsed (one clear line)."""


@dataclass(frozen=True)
class Loop:
    """One loop of the inventory (a row of table ``loops`` without the key columns)."""

    package: str
    loop_id: str
    module: str  # file path relative to the package's parent: simulator/engine.py
    line: int
    end_line: int
    kind: str  # for | while | comprehension
    header: str
    function: str  # enclosing function, dotted (Class.method, outer.inner), or <module>
    depth: int  # loops around this one in the same function
    iteration_hint: str


def resolve_package(package: str | Path) -> Path:
    """Directory of ``package``: an existing path, or an importable package name.

    Raises:
        InventoryError: Neither a directory nor an importable package.
    """
    path = Path(package)
    if path.is_dir():
        return path.resolve()
    if path.is_file() and path.suffix == ".py":
        return path.resolve()
    name = str(package)
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as exc:
        raise InventoryError(f"package {name!r} not found: {exc}") from exc
    if spec is None:
        raise InventoryError(f"package {name!r} not found (not a directory, not importable)")
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve()
    if spec.origin and spec.origin.endswith(".py"):
        return Path(spec.origin).resolve()
    raise InventoryError(f"package {name!r} has no Python source to scan")


def scan_package(package_dir: Path) -> list[Loop]:
    """Every loop in the ``.py`` files of ``package_dir`` (a directory or one file).

    Raises:
        InventoryError: A file that does not parse (its path and line).
    """
    package_dir = Path(package_dir).resolve()
    root = package_dir.parent
    files = [package_dir] if package_dir.is_file() else sorted(package_dir.rglob("*.py"))
    package = package_dir.stem if package_dir.is_file() else package_dir.name
    loops: list[Loop] = []
    for path in files:
        if "__pycache__" in path.parts:
            continue
        module = path.relative_to(root).as_posix()
        source = path.read_text(encoding="utf-8", errors="replace")
        try:
            tree = ast.parse(source, filename=str(path))
        except SyntaxError as exc:
            raise InventoryError(f"{module}:{exc.lineno}: cannot parse: {exc.msg}") from exc
        visitor = _LoopVisitor(package, module)
        visitor.visit(tree)
        loops.extend(visitor.loops)
    return loops


def loops_table(loops: list[Loop], *, stamp: str, cell_id: str | None = None) -> pa.Table:
    """Table ``loops`` for one package's inventory (``cell_id`` = ``inventory:<package>``)."""
    rows = [asdict(loop) for loop in loops]
    package = loops[0].package if loops else ""
    cid = cell_id or f"inventory:{package}"
    cols = {f.name: [r.get(f.name) for r in rows] for f in LOOPS}
    cols["schema_version"] = [SCHEMA_VERSION] * len(rows)
    cols["stamp"] = [stamp] * len(rows)
    cols["cell_id"] = [cid] * len(rows)
    return pa.table(cols, schema=LOOPS)


class _LoopVisitor(ast.NodeVisitor):
    """Collects loops with their enclosing function and depth."""

    def __init__(self, package: str, module: str) -> None:
        self.package = package
        self.module = module
        self.loops: list[Loop] = []
        self._scope: list[str] = []  # function/class names
        self._depth: list[int] = [0]  # loop depth per function scope
        self._seen: Counter[tuple[str, str, str]] = Counter()

    # scopes ---------------------------------------------------------------------------------
    def _scoped(self, node: ast.AST, name: str, is_function: bool) -> None:
        self._scope.append(name)
        if is_function:
            self._depth.append(0)
        self.generic_visit(node)
        if is_function:
            self._depth.pop()
        self._scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._scoped(node, node.name, True)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._scoped(node, node.name, True)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._scoped(node, node.name, False)

    # loops ----------------------------------------------------------------------------------
    def visit_For(self, node: ast.For) -> None:
        header = f"for {ast.unparse(node.target)} in {ast.unparse(node.iter)}:"
        self._loop(node, "for", header, _hint_for(node.iter))

    visit_AsyncFor = visit_For

    def visit_While(self, node: ast.While) -> None:
        self._loop(node, "while", f"while {ast.unparse(node.test)}:", "while: until the test fails")

    def visit_ListComp(self, node: ast.AST) -> None:
        gens = node.generators  # type: ignore[attr-defined]
        header = " ".join(
            f"for {ast.unparse(g.target)} in {ast.unparse(g.iter)}"
            + "".join(f" if {ast.unparse(c)}" for c in g.ifs)
            for g in gens
        )
        hint = " x ".join(_hint_for(g.iter) for g in gens)
        self._loop(node, "comprehension", header, hint)

    visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp

    def _loop(self, node: ast.AST, kind: str, header: str, hint: str) -> None:
        function = ".".join(self._scope) or "<module>"
        header = " ".join(header.split())
        if len(header) > _HEADER_MAX:
            header = header[: _HEADER_MAX - 1] + "…"
        key = (function, kind, header)
        rank = self._seen[key]
        self._seen[key] += 1
        ident = f"{self.module}\x00{function}\x00{kind}\x00{header}\x00{rank}"
        self.loops.append(
            Loop(
                package=self.package,
                loop_id=hashlib.sha1(ident.encode()).hexdigest()[:12],
                module=self.module,
                line=node.lineno,  # type: ignore[attr-defined]
                end_line=node.end_lineno or node.lineno,  # type: ignore[attr-defined]
                kind=kind,
                header=header,
                function=function,
                depth=self._depth[-1],
                iteration_hint=hint,
            )
        )
        self._depth[-1] += 1
        self.generic_visit(node)
        self._depth[-1] -= 1


def _hint_for(it: ast.expr) -> str:
    """What a loop iterates over, in words a reader can check against the code."""
    text = ast.unparse(it)
    if isinstance(it, ast.Call):
        fn = ast.unparse(it.func)
        last = fn.rsplit(".", 1)[-1]
        args = [ast.unparse(a) for a in it.args]
        if last in ("range", "arange", "trange"):
            bound = args[-1] if len(args) <= 2 and args else ", ".join(args)
            if len(args) >= 2:
                bound = f"{args[0]}..{args[1]}"
            dims = [a for a in it.args if _is_dimension(a)]
            if dims:
                return f"tensor dimension: {ast.unparse(dims[0])}"
            return f"range over {bound}"
        if last in ("enumerate", "zip", "reversed", "sorted", "tqdm", "product") and it.args:
            inner = " x ".join(_hint_for(a) for a in it.args)
            return f"{last}: {inner}"
        if last in ("items", "keys", "values"):
            return f"dict entries: {text}"
        if last in ("open", "readlines", "glob", "rglob", "iterdir", "listdir", "walk"):
            return f"file: {text}"
        if last in ("split", "splitlines"):
            return f"text pieces: {text}"
        if last in ("unbind", "chunk", "split_with_sizes", "tensor_split"):
            return f"tensor slices: {text}"
        return f"call result: {text}"
    if _is_dimension(it):
        return f"tensor dimension: {text}"
    if isinstance(it, (ast.List, ast.Tuple, ast.Set)):
        return f"literal of {len(it.elts)} items"
    if isinstance(it, (ast.Name, ast.Attribute, ast.Subscript)):
        return f"items of {text}"
    return f"items of {text}"


def _is_dimension(node: ast.expr) -> bool:
    """Whether an expression is a tensor or container size: x.shape[i], x.size(i), len(x)."""
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute):
        return node.value.attr == "shape"
    if isinstance(node, ast.Call):
        fn = node.func
        if isinstance(fn, ast.Attribute) and fn.attr in ("size", "numel", "dim"):
            return True
        if isinstance(fn, ast.Name) and fn.id == "len":
            return True
    return isinstance(node, ast.Attribute) and node.attr == "shape"

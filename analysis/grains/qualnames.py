"""Qualified function names of a package's source (``Class.method``), by line.

Profiler frames name a function by its code object's plain name (``run``); a reader wants
``Simulator.run``. :class:`FunctionIndex` reads each module's AST once and answers
which function a line belongs to (the innermost ``def`` whose lines contain it).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class FunctionIndex:
    """Function spans per module of a package (modules named ``pkg/sub/file.py``).

    Args:
        root: the folder that holds the package (the package directory's parent); None
            gives an index that knows no names.
    """

    root: Path | None
    _spans: dict[str, list[tuple[int, int, str]]] = field(default_factory=dict)

    @classmethod
    def for_package(cls, package_dir: Path | None) -> FunctionIndex:
        """The index of the package in ``package_dir`` (a directory or one ``.py`` file)."""
        if package_dir is None:
            return cls(None)
        return cls(Path(package_dir).resolve().parent)

    def _module(self, module: str) -> list[tuple[int, int, str]]:
        if module in self._spans:
            return self._spans[module]
        spans: list[tuple[int, int, str]] = []
        path = self.root / module if self.root is not None else None
        if path is not None and path.is_file():
            try:
                tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
            except SyntaxError:
                tree = None
            if tree is not None:
                _collect(tree, [], spans)
        spans.sort()
        self._spans[module] = spans
        return spans

    def qualname(self, module: str, line: int, fallback: str) -> str:
        """The innermost function of ``module`` whose lines hold ``line``, else ``fallback``.

        A decorated function's frame names the line of its first decorator or of its
        ``def``; both count as the function's.
        """
        best: tuple[int, str] | None = None
        for start, end, name in self._module(module):
            if start > line:
                break
            if line <= end and (best is None or start >= best[0]):
                best = (start, name)
        if best is None:
            return fallback
        if best[1].rsplit(".", 1)[-1] == fallback:
            return best[1]
        return f"{best[1]}.{fallback}" if fallback.startswith("<") else fallback


def _collect(node: ast.AST, scope: list[str], out: list[tuple[int, int, str]]) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = ".".join([*scope, child.name])
            first = min([child.lineno, *(d.lineno for d in child.decorator_list)])
            out.append((first, child.end_lineno or child.lineno, name))
            _collect(child, [*scope, child.name], out)
        elif isinstance(child, ast.ClassDef):
            _collect(child, [*scope, child.name], out)
        else:
            _collect(child, scope, out)

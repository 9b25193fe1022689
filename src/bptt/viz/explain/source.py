"""The source lines a panel quotes, located structurally: the statements of a reference function (e.g.
:func:`bptt.functional.reference.lstm.step_backward`) that assign a given name, found by parsing the function's
own source with :mod:`ast` (never by searching for text), with their line numbers in the file and their
trailing comments split off."""

from __future__ import annotations

import ast
import inspect
import io
import textwrap
import tokenize
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

__all__ = ["SourceLine", "assigned_names", "quote", "source_file"]


class SourceLine(NamedTuple):
    """One physical line of a quoted statement."""

    lineno: int  # in the module's file
    code: str  # without indentation and without the trailing comment
    comment: str  # the trailing comment without "#" ("" if none)
    indent: int  # indentation relative to the function body's


def assigned_names(node: ast.AST) -> set[str]:
    """The names a statement binds: ``x = ...``, ``x, y = ...``, ``x += ...``, ``x: T = ...``."""
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        targets = [node.target]
    else:
        return set()
    out: set[str] = set()
    for target in targets:
        for sub in ast.walk(target):
            if isinstance(sub, ast.Name):
                out.add(sub.id)
    return out


def _comments(text: str) -> dict[int, tuple[int, str]]:
    """Row (1-based, within ``text``) -> (column, text) of each comment token."""
    out: dict[int, tuple[int, str]] = {}
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.COMMENT:
            out[tok.start[0]] = (tok.start[1], tok.string[1:].strip())
    return out


def _branch_rows(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> set[int]:
    """The ``if ...:`` line (and the ``else:`` line) of the branches a statement sits in, so that a quoted
    assignment in one branch of an ``if`` is read with its condition."""
    rows: set[int] = set()
    while node in parents and not isinstance(parents[node], ast.FunctionDef):
        parent = parents[node]
        if isinstance(parent, ast.If):
            rows.add(parent.lineno)
            if parent.orelse and node in parent.orelse and not isinstance(parent.orelse[0], ast.If):
                rows.add(parent.orelse[0].lineno - 1)  # the "else:" line
        node = parent
    return rows


def quote(module: ModuleType, function: str, targets: Iterable[str]) -> list[SourceLine]:
    """Every line of the statements of ``module.function`` that assign one of ``targets``, in file order.

    Raises ``LookupError`` when a target is assigned nowhere in the function (the page would quote nothing).
    """
    fn = getattr(module, function)
    lines, first = inspect.getsourcelines(fn)
    text = textwrap.dedent("".join(lines))
    tree = ast.parse(text)
    comments = _comments(text)
    body = tree.body[0].body  # the function's statements
    base = min(len(ln) - len(ln.lstrip()) for ln in text.splitlines()[body[0].lineno - 1 : body[0].lineno])
    parents = {child: node for node in ast.walk(tree.body[0]) for child in ast.iter_child_nodes(node)}
    rows: set[int] = set()
    for name in targets:
        found = [node for node in ast.walk(tree.body[0]) if name in assigned_names(node)]
        if not found:
            raise LookupError(f"{module.__name__}.{function} assigns no {name!r}")
        for node in found:
            rows.update(range(node.lineno, node.end_lineno + 1))
            rows.update(_branch_rows(node, parents))
    src = text.splitlines()
    out = []
    for row in sorted(rows):
        line = src[row - 1]
        col, comment = comments.get(row, (len(line), ""))
        indent = len(line) - len(line.lstrip())
        out.append(SourceLine(first + row - 1, line[indent:col].rstrip(), comment, max(0, indent - base)))
    return out


def source_file(module: ModuleType) -> str:
    """The module's file as a path inside the package (``bptt/functional/reference/lstm.py``)."""
    parts = module.__name__.split(".")
    return "/".join(parts[:-1] + [Path(module.__file__).name])

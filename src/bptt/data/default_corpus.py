"""The embedded default corpus: English prose that every Python installation already ships.

``bptt train`` with no corpus trains on the **docstrings of the Python standard library**: for each module
in :data:`MODULES` (pure-Python modules only), its source file is located with
``importlib.util.find_spec`` and parsed with :mod:`ast` (nothing is imported or executed); every docstring
(module, classes, functions and methods, in source order, cleaned with ``inspect.cleandoc``) is kept, and
the docstrings are joined with blank lines. On CPython 3.11 this is about 0.6 MB of text with ~100 distinct
characters. The exact text depends on the Python version (docstrings change between releases), so the
vocabulary is saved with every checkpoint and a model is always sampled with its own vocabulary.
"""

from __future__ import annotations

import ast
import importlib.util
import os

#: Standard-library modules whose docstrings form the default corpus (pure Python, no side effects needed).
MODULES: tuple[str, ...] = (
    "abc", "argparse", "ast", "base64", "bisect", "calendar", "cmd", "codecs", "collections", "colorsys",
    "configparser", "contextlib", "copy", "csv", "dataclasses", "datetime", "decimal", "difflib", "doctest",
    "enum", "fileinput", "fnmatch", "fractions", "ftplib", "functools", "getopt", "gettext", "glob", "gzip",
    "heapq", "hmac", "imaplib", "inspect", "ipaddress", "json", "linecache", "locale", "logging",
    "mailbox", "mimetypes", "numbers", "operator", "optparse", "pathlib", "pickle", "pkgutil",
    "platform", "plistlib", "poplib", "pprint", "pydoc", "queue", "quopri", "random", "re", "reprlib",
    "sched", "secrets", "selectors", "shelve", "shlex", "shutil", "smtplib", "socket", "socketserver",
    "statistics", "string", "subprocess", "tarfile", "tempfile", "textwrap", "threading", "timeit",
    "tokenize", "trace", "traceback", "types", "typing", "unittest", "uuid", "warnings", "wave", "weakref",
    "zipfile",
)


def _module_docstrings(path: str) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        source = fh.read()
    try:
        tree = ast.parse(source, filename=path)
    except SyntaxError:  # pragma: no cover - a stdlib file always parses on its own Python
        return []
    docs: list[str] = []
    nodes = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    for node in _in_source_order(tree):
        if isinstance(node, nodes):
            doc = ast.get_docstring(node, clean=True)
            if doc:
                docs.append(doc)
    return docs


def _in_source_order(tree: ast.AST) -> list[ast.AST]:
    out: list[ast.AST] = []

    def visit(node: ast.AST) -> None:
        out.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return out


def _source_path(name: str) -> str | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    if spec.submodule_search_locations:  # a package: its __init__.py
        return spec.origin
    return spec.origin if os.path.isfile(spec.origin) else None


def default_corpus_text() -> str:
    """Build the default corpus (deterministic for a given Python installation)."""
    parts: list[str] = []
    for name in MODULES:
        path = _source_path(name)
        if path is not None:
            parts.extend(_module_docstrings(path))
    text = "\n\n".join(parts) + "\n"
    if len(text) < 10_000:  # pragma: no cover - a Python without its standard library sources
        raise RuntimeError(
            "the default corpus could not be built: this Python installation ships no standard-library "
            "sources; pass a text file as CORPUS"
        )
    return text

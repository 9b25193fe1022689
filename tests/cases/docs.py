"""The runnable examples of a doc page: every ```python block preceded by a line ``<!-- example: TAG ... -->``
(NumPy only; the test modules choose the tags they can run and run each example in an empty directory)."""

from __future__ import annotations

import os
import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
_BLOCK = re.compile(r"<!-- example: (\w+)[^>]*-->\n```python\n(.*?)\n```", re.S)


def examples(page: str, tag: str) -> list[str]:
    """The code of the examples of ``docs/{page}`` tagged ``tag``, in page order."""
    return [code for t, code in _BLOCK.findall((DOCS / page).read_text(encoding="utf-8")) if t == tag]


def all_tags(page: str) -> list[str]:
    return [t for t, _ in _BLOCK.findall((DOCS / page).read_text(encoding="utf-8"))]


def run_example(code: str, directory: Path) -> dict:
    """Execute ``code`` with ``directory`` as the working directory; return its namespace."""
    namespace: dict = {"__name__": "__doc_example__"}
    old = os.getcwd()
    os.chdir(directory)
    try:
        exec(compile(code, "<docs example>", "exec"), namespace)  # noqa: S102 - the repository's own docs
    finally:
        os.chdir(old)
    return namespace

"""Names that moved out of a module: importing one raises ``ImportError`` naming its new home."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["moved"]


def moved(module: str, homes: dict[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``module`` whose names ``homes`` (name -> new module) have moved."""

    def __getattr__(name: str) -> Any:
        if name in homes:
            raise ImportError(f"{module}.{name} has moved: use `from {homes[name]} import {name}` "
                              "(see docs/design.md)")
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__

"""Argument types and the flags of run configurations, shared by every command.

Numbers are checked as they are parsed (``--top-k must be a positive integer, got 0``) with the same rule
that validates configurations (:class:`bptt.training.config.Setting`). :func:`add_settings` turns a run
configuration's declared settings into flags: their help, defaults, choices and ranges come from the
configuration, never from a second list here.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from ..training.config import RunConfig, Setting

__all__ = ["DEBUG_HELP", "SEED_000", "add_command", "add_settings", "given_settings", "integer", "number"]

SEED_000 = ("Seed 000 is the worked example this project started from: the article \"RNN Series: LSTM internals, "
            "part 3: the backward propagation\" of Deep-Breathe's blog, which draws every intermediate of an LSTM's "
            "backward pass (dHt, dOt, dCt, ...) for a tiny model")
DEBUG_HELP = "on an error, show the full Python traceback (for bug reports) instead of one line"


def number(flag: str, kind: type = float, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False) -> Callable[[str], Any]:
    """An argparse ``type`` reading ``kind`` (``int`` or ``float``) in the given range."""
    return _parser(Setting(flag, None, kind, False, "", low=low, high=high, low_open=low_open,
                           high_open=high_open), flag)


def integer(flag: str, low: int | None = None, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` reading an integer in ``[low, high]`` (either end may be open-ended: None)."""
    return number(flag, int, low=low, high=high)


def _parser(spec: Setting, flag: str) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            return spec.parse(text, flag)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return parse


def add_command(subparsers: Any, name: str, func: Callable[[argparse.Namespace], int], help: str,
                **kwargs: Any) -> argparse.ArgumentParser:
    """A sub-command ``name`` running ``func(args)``; errors name it by its full ``prog`` (``bptt translate run``)."""
    kwargs.setdefault("description", help[0].upper() + help[1:] + ".")
    p = subparsers.add_parser(name, help=help, **kwargs)
    p.set_defaults(func=func, prog=p.prog)
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return p


def add_settings(parser: argparse.ArgumentParser, config: type[RunConfig], skip: Sequence[str] = ()) -> None:
    """A ``--flag`` for every setting of ``config`` (except ``skip`` and those declared ``flag=False``), with
    the setting's help, default, choices and range. Flags default to None: given flags are the ones not None
    (see :func:`given_settings`)."""
    groups: dict[str, Any] = {}
    for s in config.settings():
        if not s.flag or s.name in skip:
            continue
        target: Any = parser
        if s.exclusive is not None:
            if s.exclusive not in groups:
                groups[s.exclusive] = parser.add_mutually_exclusive_group()
            target = groups[s.exclusive]
        flag = f"--{s.label}"
        kw: dict[str, Any] = {"default": None, "help": _help(s)}
        if s.type is bool:
            target.add_argument(flag, action="store_const", const=True, **kw)
        elif s.choices is not None:
            target.add_argument(flag, choices=s.choices, **kw)
        elif s.type is str:
            target.add_argument(flag, metavar=s.metavar, **kw)
        else:
            metavar = s.metavar or ("N" if s.type is int else "X")
            target.add_argument(flag, type=_parser(s, flag), metavar=metavar, **kw)


def given_settings(args: argparse.Namespace, config: type[RunConfig]) -> dict[str, Any]:
    """The settings of ``config`` given as flags in ``args`` (by field name)."""
    return {s.name: getattr(args, s.name) for s in config.settings()
            if s.flag and getattr(args, s.name, None) is not None}


def _help(s: Setting) -> str:
    if s.default is None or s.default == "" or s.type is bool:
        return s.help
    shown = f"{s.default:g}" if s.type is float else s.default
    return f"{s.help} (default {shown})"

"""Declared shapes of JSON data: what a checkpoint's ``meta.json`` must hold, field by field.

A :class:`Spec` checks one value and, on failure, raises :class:`SchemaError` naming the field by its path
(``train_config.hidden_size``, ``optimizer.param_groups[0].lr``, ``rng.sample.state.inc``) and saying what
was expected and what was found. Specs compose::

    Record({"step": Int(low=0), "window": Record({"loss": Float(), "n": Int(low=0)})})

- :class:`Int`, :class:`Float` (finite, in a range), :class:`Str` (optionally one of some choices or of a
  given length and alphabet), :class:`Bool`, :class:`Nullable` (``None`` or the inner spec);
- :class:`ListOf` (every item), :class:`MapOf` (string keys, every value), :class:`Record` (required and
  :class:`Optional` keys, each with its spec; unknown keys refused unless ``extra=True``);
- :class:`AllOf` (several specs in turn);
- :class:`Check` (a function returning an error text or None) for rules that are not about one field.

JSON has no integer/float distinction that survives every writer, but it does here: ``json.dumps`` writes an
int as ``3`` and a float as ``3.0``, and ``json.loads`` reads them back as ``int`` and ``float``. So an
:class:`Int` refuses ``3.0`` and ``true`` (a bool is not a number here), and a :class:`Float` accepts ints.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["AllOf", "Anything", "Bool", "Check", "Float", "Int", "ListOf", "MapOf", "Nullable", "Optional", "Record",
           "SchemaError", "Spec", "Str", "shown", "spec_of"]


class SchemaError(ValueError):
    """A value that does not fit its spec: ``path`` (e.g. ``train_config.seed``) and ``reason``."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path or 'the value'} {reason}")
        self.path = path
        self.reason = reason


def shown(value: Any, limit: int = 60) -> str:
    """``value`` as a message shows it (long values shortened)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + " ..."


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


class Spec:
    """The shape one value must have. ``check(value, path)`` raises :class:`SchemaError` or returns None."""

    expected = "a value"

    def check(self, value: Any, path: str = "") -> None:
        if not self.valid(value):
            raise SchemaError(path, f"must be {self.expected}, got {shown(value)}")

    def valid(self, value: Any) -> bool:
        return True


class Anything(Spec):
    """Anything JSON holds."""


class Int(Spec):
    """An integer (not a bool, not a float) in ``[low, high]`` (either end may be None: unbounded)."""

    def __init__(self, low: int | None = None, high: int | None = None) -> None:
        self.low, self.high = low, high
        if low is not None and high is not None:
            self.expected = f"an integer in [{low}, {high}]"
        elif low == 0:
            self.expected = "a non-negative integer"
        elif low == 1:
            self.expected = "a positive integer"
        elif low is not None:
            self.expected = f"an integer >= {low}"
        else:
            self.expected = "an integer"

    def valid(self, value: Any) -> bool:
        return (isinstance(value, int) and not isinstance(value, bool)
                and (self.low is None or value >= self.low) and (self.high is None or value <= self.high))


class Float(Spec):
    """A finite number in ``[low, high]`` (``high_open``: ``[low, high)``)."""

    def __init__(self, low: float | None = None, high: float | None = None, *, high_open: bool = False) -> None:
        self.low, self.high, self.high_open = low, high, high_open
        if low is not None and high is not None:
            self.expected = f"a number in [{low:g}, {high:g}{')' if high_open else ']'}"
        elif low is not None:
            self.expected = f"a finite number >= {low:g}"
        else:
            self.expected = "a finite number"

    def valid(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        if self.low is not None and value < self.low:
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)


class Str(Spec):
    """A string: one of ``choices``, or of exactly ``length`` characters from ``alphabet`` (when given)."""

    def __init__(self, choices: tuple[str, ...] | None = None, *, length: int | None = None,
                 alphabet: str | None = None, what: str | None = None) -> None:
        self.choices, self.length, self.alphabet = choices, length, alphabet
        if what is not None:
            self.expected = what
        elif choices is not None:
            self.expected = f"one of {', '.join(map(repr, choices))}"
        else:
            self.expected = "a string"

    def valid(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if self.choices is not None and value not in self.choices:
            return False
        if self.length is not None and len(value) != self.length:
            return False
        return self.alphabet is None or all(c in self.alphabet for c in value)


class Bool(Spec):
    expected = "true or false"

    def valid(self, value: Any) -> bool:
        return isinstance(value, bool)


class Nullable(Spec):
    """``None`` (JSON null) or a value of ``inner``."""

    def __init__(self, inner: Spec) -> None:
        self.inner = inner
        self.expected = f"null or {inner.expected}"

    def check(self, value: Any, path: str = "") -> None:
        if value is not None:
            try:
                self.inner.check(value, path)
            except SchemaError as exc:
                if exc.path != path:  # deeper inside: the inner spec's own words
                    raise
                raise SchemaError(path, f"must be {self.expected}, got {shown(value)}") from None


class ListOf(Spec):
    """A list whose every item fits ``item`` (``length``: exactly that many items; ``min_length``: at least)."""

    def __init__(self, item: Spec, *, length: int | None = None, min_length: int = 0) -> None:
        self.item, self.length, self.min_length = item, length, min_length
        self.expected = "a list" if length is None else f"a list of {length} items"

    def check(self, value: Any, path: str = "") -> None:
        if not isinstance(value, list):
            raise SchemaError(path, f"must be {self.expected}, got {shown(value)}")
        if self.length is not None and len(value) != self.length:
            raise SchemaError(path, f"must have {self.length} items, got {len(value)}")
        if len(value) < self.min_length:
            raise SchemaError(path, f"must have at least {self.min_length} item(s), got {len(value)}")
        for i, v in enumerate(value):
            self.item.check(v, _join(path, i))


class MapOf(Spec):
    """A mapping whose every value fits ``value``."""

    expected = "a mapping"

    def __init__(self, value: Spec) -> None:
        self.value = value

    def check(self, value: Any, path: str = "") -> None:
        if not isinstance(value, Mapping):
            raise SchemaError(path, f"must be a mapping, got {shown(value)}")
        for k, v in value.items():
            self.value.check(v, _join(path, str(k)))


class Optional(Spec):
    """A :class:`Record` field that may be absent (when present, it must fit ``inner``)."""

    def __init__(self, inner: Spec | type) -> None:
        self.inner = spec_of(inner)
        self.expected = self.inner.expected

    def check(self, value: Any, path: str = "") -> None:
        self.inner.check(value, path)


class Record(Spec):
    """A mapping with ``fields`` (all required but those named in ``optional`` or declared :class:`Optional`);
    other keys are refused unless
    ``extra``. ``checks``: rules over the whole record (each returns an error text or None), run after the
    fields."""

    expected = "a mapping"

    def __init__(self, fields: Mapping[str, Spec | type], *, optional: tuple[str, ...] = (), extra: bool = False,
                 checks: tuple[Callable[[Mapping[str, Any]], str | None], ...] = ()) -> None:
        self.fields = {k: spec_of(v) for k, v in fields.items()}
        self.optional = set(optional) | {k for k, v in self.fields.items() if isinstance(v, Optional)}
        self.extra, self.checks = extra, checks

    def check(self, value: Any, path: str = "") -> None:
        if not isinstance(value, Mapping):
            raise SchemaError(path, f"must be a mapping, got {shown(value)}")
        for key, spec in self.fields.items():
            if key in value:
                spec.check(value[key], _join(path, key))
            elif key not in self.optional:
                raise SchemaError(_join(path, key), "is missing")
        if not self.extra:
            unknown = sorted(str(k) for k in value if k not in self.fields)
            if unknown:
                raise SchemaError(path, f"has unexpected entries: {', '.join(unknown)}")
        for rule in self.checks:
            problem = rule(value)
            if problem:
                raise SchemaError(path, problem)


class Check(Spec):
    """A rule as a function: ``rule(value)`` returns an error text (``"must be sorted"``) or None."""

    def __init__(self, rule: Callable[[Any], str | None]) -> None:
        self.rule = rule

    def check(self, value: Any, path: str = "") -> None:
        problem = self.rule(value)
        if problem:
            raise SchemaError(path, problem)


class AllOf(Spec):
    """A value that fits every one of ``specs`` (checked in order: the first failure is reported)."""

    def __init__(self, *specs: Spec) -> None:
        self.specs = specs

    def check(self, value: Any, path: str = "") -> None:
        for spec in self.specs:
            spec.check(value, path)


_PLAIN = {dict: MapOf(Anything()), list: ListOf(Anything()), int: Int(), float: Float(), str: Str(), bool: Bool()}


def spec_of(spec: Spec | type) -> Spec:
    """``spec`` itself, or the spec of a plain JSON type (``dict``, ``list``, ``int``, ``float``, ``str``,
    ``bool``)."""
    if isinstance(spec, Spec):
        return spec
    if spec in _PLAIN:
        return _PLAIN[spec]
    raise TypeError(f"not a Spec or a JSON type: {spec!r}")

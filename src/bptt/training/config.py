"""Run configurations with every setting declared once: its default, help text, choices or range, and whether
it shapes the run (fixed once the run has started) or only schedules it (may change on ``--resume``).

A configuration is a dataclass whose fields are made with :func:`setting`. From that one declaration

- :meth:`RunConfig.validate` checks every value (type, range, choices; then the class's own cross-field rules
  in :meth:`RunConfig.check_relations`), with one message shape: ``hidden-size must be a positive integer,
  got 0``;
- the command line (``bptt.cli``) builds its flags, their help and defaults, and checks each flag as it is
  parsed with the same :meth:`Setting.check`;
- ``--resume`` knows which settings it may take from the command line (:meth:`RunConfig.schedule`) and which
  the checkpoint fixes (:meth:`RunConfig.shaping`).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from typing import Any, ClassVar

from .. import optim
from ..nn import Module

__all__ = ["DTYPES", "OPTIMIZER_STATE_ARRAYS", "OPTIMIZERS", "RunConfig", "Setting", "build_optimizer", "setting"]

DTYPES = ("float32", "float64")
OPTIMIZERS = ("adam", "rmsprop", "sgd", "adagrad")
#: arrays an optimizer keeps per parameter besides the gradient (Adam's two moments, ...), for memory estimates
OPTIMIZER_STATE_ARRAYS = {"adam": 2, "rmsprop": 1, "sgd": 0, "adagrad": 1}
_OPTIMIZER_CLASSES = {"adam": optim.Adam, "rmsprop": optim.RMSprop, "sgd": optim.SGD, "adagrad": optim.Adagrad}
_KEY = "bptt.setting"


@dataclasses.dataclass(frozen=True)
class Setting:
    """One field of a run configuration: what it means and which values it accepts.

    ``type`` is ``int``, ``float``, ``str`` or ``bool`` (from the field's annotation); ``nullable`` when the
    annotation admits ``None``. Numbers lie in ``[low, high]`` (``low_open``/``high_open`` exclude an end).
    ``flag=False``: not a ``--flag`` of the training command (e.g. the corpus, a positional argument).
    Flags with the same ``exclusive`` name exclude each other on the command line.
    """

    name: str
    default: Any
    type: type
    nullable: bool
    help: str
    choices: tuple[str, ...] | None = None
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    shaping: bool = False
    flag: bool = True
    exclusive: str | None = None
    metavar: str | None = None

    @property
    def label(self) -> str:
        """The name as messages and flags spell it: ``hidden-size``."""
        return self.name.replace("_", "-")

    def expected(self) -> str:
        """What a valid value is, in words: ``a positive integer``, ``in [0, 1)``, ``one of lstm, gru``."""
        if self.choices is not None:
            return f"one of {', '.join(self.choices)}"
        if self.type is bool:
            return "true or false"
        if self.type is str:
            return "a string"
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{_num(self.low)}, {_num(self.high)}{right}"
        if self.type is int and self.low in (0, 1):
            return "a positive integer" if self.low == 1 else "a non-negative integer"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_num(self.low)}"
        return "an integer" if self.type is int else "a finite number"

    def check(self, value: Any, label: str | None = None) -> None:
        """Raise ``ValueError("{label} must be {expected}, got {value!r}")`` unless ``value`` is valid."""
        if value is None and self.nullable:
            return
        if not self._valid(value):
            raise ValueError(f"{label or self.label} must be {self.expected()}, got {value!r}")

    def parse(self, text: str, label: str) -> Any:
        """The value of a command-line string (``int``/``float`` settings), checked; ``ValueError`` otherwise."""
        try:
            value = self.type(text)
        except ValueError:
            kind = "an integer" if self.type is int else "a number"
            raise ValueError(f"{label} must be {kind}, got {text!r}") from None
        if not self._valid(value):
            raise ValueError(f"{label} must be {self.expected()}, got {text}")
        return value

    def _valid(self, value: Any) -> bool:
        if self.type is bool:
            return isinstance(value, bool)
        if self.type is str:
            return isinstance(value, str) and (self.choices is None or value in self.choices)
        if isinstance(value, bool) or not isinstance(value, int if self.type is int else (int, float)):
            return False
        if not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)


def _num(v: float) -> str:
    """``1000000`` for 1e6 (not ``1e+06``), ``0.5`` for 0.5."""
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e16 else f"{v:g}"


def setting(default: Any, help: str, **options: Any) -> Any:
    """A dataclass field declaring a :class:`Setting` (``options``: its keyword arguments)."""
    return dataclasses.field(default=default, metadata={_KEY: (help, options)})


class RunConfig:
    """Base of the run-configuration dataclasses: settings, validation and ``to_dict`` / ``from_dict``."""

    KIND: ClassVar[str]  # the checkpoint kind of the runs this configures (``bptt.models.io.LANGUAGE_MODEL``, ...)

    @classmethod
    @functools.cache
    def settings(cls) -> tuple[Setting, ...]:
        """Every field's :class:`Setting`, in declaration order."""
        hints = typing.get_type_hints(cls)
        out = []
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            help_text, options = f.metadata[_KEY]
            base, nullable = _base_type(hints[f.name])
            out.append(Setting(f.name, f.default, base, nullable, help_text, **options))
        return tuple(out)

    @classmethod
    def shaping(cls) -> tuple[str, ...]:
        """The settings that define the model and the data: fixed once a run has started."""
        return tuple(s.name for s in cls.settings() if s.shaping)

    @classmethod
    def schedule(cls) -> tuple[str, ...]:
        """The settings a resumed run takes from its caller (length, intervals, learning rate, clipping)."""
        return tuple(s.name for s in cls.settings() if not s.shaping)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first setting that is out of range, of the wrong type or not allowed."""
        for s in self.settings():
            s.check(getattr(self, s.name))
        self.check_relations()

    def check_relations(self) -> None:
        """Rules between settings (each valid on its own); ``ValueError`` when one is broken."""

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Any:
        """The configuration of a mapping (unknown keys are ignored, missing ones take their defaults)."""
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        return cls(**{k: v for k, v in d.items() if k in names})


def _base_type(annotation: Any) -> tuple[type, bool]:
    """``(int, True)`` for ``int | None``; ``(float, False)`` for ``float``."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0], True
    return annotation, False


def build_optimizer(name: str, model: Module, lr: float) -> optim.Optimizer:
    """The optimizer ``name`` (one of :data:`OPTIMIZERS`) over ``model``'s parameters."""
    return _OPTIMIZER_CLASSES[name](list(model.parameters()), lr=lr)

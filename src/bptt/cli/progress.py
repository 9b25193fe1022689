"""Progress of a training command on the terminal."""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["Progress"]


class Progress:
    """A tqdm bar on stderr for a training command (when tqdm is installed and stderr is a terminal), or
    nothing: then ``write`` prints plain lines. ``verbose`` tells whether every log record should be shown."""

    def __init__(self) -> None:
        self.bar: Any = None

    def start(self, total: int, initial: int) -> None:
        try:
            from tqdm import tqdm  # noqa: PLC0415 - optional extra
        except ImportError:
            return
        bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, file=sys.stderr,
                   disable=None, mininterval=0.5)
        if bar.disable:  # not a terminal: plain log lines instead
            bar.close()
            return
        self.bar = bar

    @property
    def verbose(self) -> bool:
        return self.bar is None

    def step(self, step: int, total: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.3f}", refresh=False)

    def write(self, msg: str) -> None:
        (self.bar.write if self.bar is not None else print)(msg)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

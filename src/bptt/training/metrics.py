"""Training metrics: the logging window that averages the loss between two records, and the records of
``metrics.jsonl`` (one JSON object per line, one line per logged step).

A record holds ``step``, ``epoch``, ``train_loss`` (the mean loss of the steps since the previous record),
``grad_norm`` (of the last step, before clipping), ``lr``, a throughput (``tokens_per_s``; translators count
target tokens, ``target_tokens_per_s``), ``world_size`` (the number of processes of a data-parallel run; the
figures are the whole run's) and, at evaluation steps, the task's validation figures (``val_loss``, ...).
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

__all__ = ["Window", "format_record", "parse_record", "parse_records"]


class Window:
    """Loss sum, steps and tokens since the last record, and the time the window opened.

    The sums (not the time) are part of the checkpoint, so a resumed run logs the same records as one that
    never stopped."""

    def __init__(self, loss: float = 0.0, n: int = 0, tokens: int = 0) -> None:
        self.loss, self.n, self.tokens = loss, n, tokens
        self.opened = time.perf_counter()

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Window:
        return cls() if d is None else cls(float(d["loss"]), int(d["n"]), int(d["tokens"]))

    def to_dict(self) -> dict[str, Any]:
        return {"loss": self.loss, "n": self.n, "tokens": self.tokens}

    def add(self, loss: float, tokens: int) -> None:
        self.loss += loss
        self.n += 1
        self.tokens += tokens

    def close(self, step: int, epoch: int, grad_norm: float, lr: float, rate_key: str) -> dict[str, Any]:
        """The record of this window (then the window starts afresh)."""
        elapsed = time.perf_counter() - self.opened
        record = {"step": step, "epoch": epoch, "train_loss": self.loss / self.n, "grad_norm": grad_norm,
                  "lr": lr, rate_key: self.tokens / elapsed if elapsed > 0 else None}
        self.loss, self.n, self.tokens = 0.0, 0, 0
        return record

    def reopen(self) -> None:
        """Start timing the next window (after the record's evaluation and writing)."""
        self.opened = time.perf_counter()


def format_record(record: dict[str, Any]) -> str:
    """One line of ``metrics.jsonl``; ``ValueError`` naming the entry when a number is not finite (NaN and
    infinities are not JSON)."""
    for key, value in record.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"the metrics record of step {record.get('step')} has {key} = {value}, which is not a "
                             "finite number")
    return json.dumps(record, allow_nan=False) + "\n"


def parse_record(line: str) -> dict[str, Any] | None:
    """The record on one line of ``metrics.jsonl``, or None when the line is not a JSON object."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def parse_records(text: str) -> list[dict[str, Any]]:
    """The records of a ``metrics.jsonl`` text (lines that are not JSON objects are skipped)."""
    return [r for r in map(parse_record, text.splitlines()) if r is not None]

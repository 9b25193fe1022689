"""The run directory: the one object through which training reads and writes its output directory.

A run directory holds ``config.json`` (the run's configuration), ``metrics.jsonl`` (one record per logged
step) and ``checkpoint.npz`` (see :mod:`bptt.training.checkpoint`). Every file the training loop touches is
named and written here, so rules about the directory as a whole (who owns it, who may write it, with which
permissions) have one home: :meth:`RunDirectory.start` is where a run takes the directory over before its
first write.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..models import checkpoint as ckpt
from . import checkpoint as training_checkpoint
from .metrics import parse_record, parse_records

__all__ = ["ReadOnlyRunDirectory", "RunDirectory"]

CONFIG = "config.json"
METRICS = "metrics.jsonl"


class RunDirectory:
    """The output directory of one training run (``bptt train --out DIR``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDirectory({str(self.path)!r})"

    @property
    def checkpoint_path(self) -> Path:
        return self.path / ckpt.FILENAME

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    def has_checkpoint(self) -> bool:
        return self.checkpoint_path.exists()

    # ------------------------------------------------------------------------------------------ reading
    def load_checkpoint(self, kind: str, schema: dict[str, type]) -> training_checkpoint.TrainingCheckpoint:
        """The training checkpoint of a ``kind`` run (see :func:`bptt.training.checkpoint.load`)."""
        return training_checkpoint.load(self.path, kind, schema)

    def read_metrics(self) -> list[dict[str, Any]]:
        """The records of ``metrics.jsonl`` (``OSError`` when it cannot be read)."""
        return parse_records(self.metrics_path.read_text(encoding="utf-8"))

    # ------------------------------------------------------------------------------------------ writing
    def start(self, resumed_step: int | None) -> None:
        """Take the directory over for a run that starts fresh (``resumed_step=None``: create the directory,
        start an empty ``metrics.jsonl``) or resumes at ``resumed_step`` (drop the records after it: the
        resumed run writes them again)."""
        if resumed_step is not None:
            self._truncate_metrics(resumed_step)
        self.path.mkdir(parents=True, exist_ok=True)
        if resumed_step is None:  # not appended to a failed run's records
            self.metrics_path.unlink(missing_ok=True)

    def write_config(self, config: dict[str, Any]) -> None:
        ckpt.write_json_atomic(self.config_path, config)

    def append_metrics(self, record: dict[str, Any]) -> None:
        with open(self.metrics_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def save_checkpoint(self, meta: dict[str, Any], params: dict[str, np.ndarray],
                        arrays: dict[str, np.ndarray]) -> Path:
        """Write ``checkpoint.npz`` atomically (the previous one stays intact until the new one is complete)."""
        return ckpt.save(self.checkpoint_path, meta, params, arrays)

    def _truncate_metrics(self, step: int) -> None:
        """Keep only the records up to ``step``."""
        if not self.metrics_path.exists():
            return
        kept = []
        for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
            record = parse_record(line)
            if record is not None and record.get("step", 0) <= step:
                kept.append(line)
        self.metrics_path.write_text("".join(k + "\n" for k in kept), encoding="utf-8")


class ReadOnlyRunDirectory(RunDirectory):
    """A run directory this process reads but never writes: what the processes of a data-parallel run other than
    rank 0 get (rank 0 alone writes the run directory; see :mod:`bptt.training.distributed`). It takes nothing
    over (no directory, no lock) and every write is skipped; reading (``--resume``) works as usual."""

    def __repr__(self) -> str:
        return f"ReadOnlyRunDirectory({str(self.path)!r})"

    def start(self, resumed_step: int | None) -> None:
        return None

    def write_config(self, config: dict[str, Any]) -> None:
        return None

    def append_metrics(self, record: dict[str, Any]) -> None:
        return None

    def save_checkpoint(self, meta: dict[str, Any], params: dict[str, np.ndarray],
                        arrays: dict[str, np.ndarray]) -> Path:
        return self.checkpoint_path

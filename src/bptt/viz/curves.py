"""Loss curves of a training run (``bptt plot``): training and validation cross-entropy against the step.
Needs matplotlib (``pip install 'bptt[plot]'``); ``ImportError`` without it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

__all__ = ["FORMATS", "loss_curves", "plot_loss_curves"]

#: the image formats (file extensions) the curves can be drawn in with matplotlib alone
FORMATS = ("png", "svg", "pdf")


def loss_curves(records: list[dict[str, Any]], title: str, fmt: str = "png",
                metadata: dict[str, str] | None = None) -> bytes:
    """The image (``fmt``: one of :data:`FORMATS`) of ``train_loss`` (every record) and ``val_loss`` (records
    that have one) against ``step``; ``metadata`` goes into the file (PNG text chunks, SVG/PDF info)."""
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, got {fmt!r}")
    import matplotlib  # noqa: PLC0415 - optional extra

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(8, 4.5))
    try:
        ax.plot([r["step"] for r in records], [r["train_loss"] for r in records], label="training", lw=1)
        val = [r for r in records if "val_loss" in r]
        if val:
            ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="validation", lw=1.5)
        ax.set_xlabel("step")
        ax.set_ylabel("cross-entropy (nats/token)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=120, metadata=metadata)
    finally:
        plt.close(fig)
    return buf.getvalue()


def plot_loss_curves(records: list[dict[str, Any]], title: str, path: str | Path) -> None:
    """Write the PNG (or SVG, PDF: by the extension) of :func:`loss_curves` to ``path``."""
    fmt = Path(path).suffix.lower().lstrip(".") or "png"
    Path(path).write_bytes(loss_curves(records, title, fmt))

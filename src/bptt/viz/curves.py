"""Loss curves of a training run (``bptt plot``): training and validation cross-entropy against the step.
Needs matplotlib (``pip install 'bptt[plot]'``); ``ImportError`` without it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["plot_loss_curves"]


def plot_loss_curves(records: list[dict[str, Any]], title: str, path: str | Path) -> None:
    """Write a PNG of ``train_loss`` (every record) and ``val_loss`` (records that have one) to ``path``."""
    import matplotlib  # noqa: PLC0415 - optional extra

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(8, 4.5))
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
    fig.savefig(path, dpi=120)
    plt.close(fig)

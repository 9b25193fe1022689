r"""Gradient-flow pictures from arrays: the vanishing-gradient picture (RNN, GRU, LSTM, minGRU, ...) and per-gate
gradient norms over training. Needs matplotlib (``pip install 'bptt[plot]'``)::

    from bptt.examples import gradient_flow as gf
    from bptt.viz import flow
    flow.plot_gradient_flow(gf.gradient_flow(T=40), "flow.png")
    flow.plot_gate_norms(gf.gate_norms_over_training(steps=60), "gates.png")

:func:`plot_gradient_flow` takes ``{"T": T, "dh": {kind: (T,) norms}, "dc": {kind: (T,) norms}}``;
:func:`plot_gate_norms` takes ``{"steps": (S,), "loss": {kind: (S,)}, "gates": {kind: {gate: (S,)}}}``. The runs
that compute them are :mod:`bptt.examples.gradient_flow`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FlowError", "plot_gate_norms", "plot_gradient_flow", "require_matplotlib"]

COLORS = {"rnn": "#d95f02", "gru": "#7570b3", "lstm": "#1b9e77", "mingru": "#e7298a", "minlstm": "#66a61e",
          "slstm": "#e6ab02", "mlstm": "#a6761d"}
#: How each cell is named in the legends (default: the name in capitals).
LABELS = {"mingru": "minGRU", "minlstm": "minLSTM", "slstm": "sLSTM", "mlstm": "mLSTM"}


def _label(kind: str) -> str:
    return LABELS.get(kind, kind.upper())


class FlowError(RuntimeError):
    """The plots cannot be made (matplotlib is missing)."""


def require_matplotlib() -> Any:
    """``matplotlib.pyplot`` (Agg backend), or :class:`FlowError` with one clear line."""
    try:
        import matplotlib  # noqa: PLC0415
    except ImportError:
        raise FlowError("--flow needs matplotlib, which is not installed: pip install 'bptt[plot]' "
                        "(or pip install matplotlib)") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    return plt


def plot_gradient_flow(result: dict[str, Any], path: str | Path | None = None) -> bytes:
    """PNG of ``||dL/dh_t||`` (solid) and ``||dL/dc_t||`` (dashed) against ``t``, log scale. Returns the PNG
    bytes (and writes them to ``path`` when given)."""
    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    T = result["T"]
    t = np.arange(T)
    for kind, v in result["dh"].items():
        ax.semilogy(t, np.maximum(v, 1e-300), "-", color=COLORS.get(kind), lw=2, label=f"{_label(kind)} ‖dL/dh_t‖")
    for kind, v in result["dc"].items():
        ax.semilogy(t, np.maximum(v, 1e-300), "--", color=COLORS.get(kind), lw=1.6,
                    label=f"{_label(kind)} ‖dL/dc_t‖")
    ax.set_xlabel("time step t (loss at t = T−1)")
    ax.set_ylabel("gradient norm")
    ax.set_title("Vanishing gradients: the same data through every cell")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, plt, path)


def plot_gate_norms(result: dict[str, Any], path: str | Path | None = None) -> bytes:
    """PNG of each gate's gradient norm over training steps (one panel per cell kind) with the loss."""
    plt = require_matplotlib()
    kinds = list(result["gates"])
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.0 * len(kinds), 4.6), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        for gname, v in result["gates"][kind].items():
            ax.semilogy(result["steps"], np.maximum(v, 1e-300), lw=1.6, label=f"‖{gname}‖ ({gname[3:]} gate)")
        ax2 = ax.twinx()
        ax2.plot(result["steps"], result["loss"][kind], color="#444", lw=1, ls=":", label="loss (right axis)")
        ax2.set_ylabel("loss", color="#444")
        ax.set_xlabel("training step")
        ax.set_ylabel("gate gradient norm (Σ over t, batch)")
        ax.set_title(f"{_label(kind)}: per-gate gradient norms over training")
        ax.grid(alpha=0.3, which="both")
        # one legend for both axes, under the plot: it covers no curve and names the dotted loss line
        lines = ax.get_lines() + ax2.get_lines()
        ax.legend(lines, [line.get_label() for line in lines], fontsize=8, loc="upper center",
                  bbox_to_anchor=(0.5, -0.16), ncol=3, frameon=False)
    return _save(fig, plt, path)


def _save(fig: Any, plt: Any, path: str | Path | None) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    png = buf.getvalue()
    if path is not None:
        Path(path).write_bytes(png)
    return png

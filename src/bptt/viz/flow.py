r"""Gradient-flow pictures: the vanishing-gradient picture (RNN vs GRU vs LSTM) and per-gate norms over training.

Both are computed with :mod:`bptt.trace` (the data functions need only NumPy); the plots need matplotlib
(``pip install 'bptt[plot]'``)::

    from bptt.viz import flow
    res = flow.gradient_flow(T=40)                   # {"dh": {"rnn": (T,), "gru": ..., "lstm": ...}, "dc": {...}}
    flow.plot_gradient_flow(res, "flow.png")
    tr = flow.gate_norms_over_training(steps=60)     # per-gate ||dL/da|| at every training step
    flow.plot_gate_norms(tr, "gates.png")

**The data.** :func:`gradient_flow` feeds the same random sequence ``x`` ``(T, B, D)`` (``seed``) to a
``bptt.nn.RNN`` (tanh), a ``GRU`` and an ``LSTM`` (``forget_bias=1``, as TensorFlow's cells and the seed), all
initialised PyTorch's way from the same seed, with the loss :math:`L = \sum_b g_b \cdot h_{T-1,b}` on the last
step only (a fixed random ``g``), so :math:`\partial L / \partial h_t` for ``t < T-1`` is purely what flows back
through time. :func:`gate_norms_over_training` trains an LSTM and a GRU (one-hot inputs, a linear head,
cross-entropy on the last step, Adam) to recall the *first* of ``T`` random symbols, a task only gradients that
survive ``T`` steps can learn, and records the norm of each gate's pre-activation gradient (LSTM ``i, f, g, o``;
GRU ``r, z, n``), summed over time and batch, at every step.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from .. import nn, optim
from .. import trace as _trace

__all__ = ["FlowError", "require_matplotlib", "gradient_flow", "gate_norms_over_training", "plot_gradient_flow",
           "plot_gate_norms", "write_pictures"]

KINDS = ("rnn", "gru", "lstm")
COLORS = {"rnn": "#d95f02", "gru": "#7570b3", "lstm": "#1b9e77"}
GATES = {"lstm": ("da_i", "da_f", "da_g", "da_o"), "gru": ("da_r", "da_z", "da_n")}


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


def _make(kind: str, D: int, H: int, seed: int) -> Any:
    if kind == "rnn":
        return nn.RNN(D, H, dtype=np.float64, rng=seed)
    if kind == "gru":
        return nn.GRU(D, H, dtype=np.float64, rng=seed)
    if kind == "lstm":
        return nn.LSTM(D, H, forget_bias=1.0, dtype=np.float64, rng=seed)
    raise ValueError(f"flow: kind must be one of {', '.join(KINDS)}, got {kind!r}")


def gradient_flow(T: int = 40, batch: int = 8, input_size: int = 8, hidden_size: int = 32, seed: int = 0,
                  kinds: tuple[str, ...] = KINDS) -> dict[str, Any]:
    """``||dL/dh_t||`` (and ``||dL/dc_t||`` for the LSTM) for every ``t``, loss on the last step only."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, batch, input_size))
    g = rng.standard_normal((batch, hidden_size))
    dout = np.zeros((T, batch, hidden_size))
    dout[-1] = g
    out: dict[str, Any] = {"T": T, "dh": {}, "dc": {}}
    for kind in kinds:
        m = _make(kind, input_size, hidden_size, seed)
        with _trace.trace(keep="last") as tr:
            m(x)
            m.backward(dout)
        bw = tr[tr.names[0]].backward
        out["dh"][kind] = bw.norms("dh")
        if "dc" in bw:
            out["dc"][kind] = bw.norms("dc")
    return out


def _recall_batch(rng: np.random.Generator, T: int, batch: int, V: int) -> tuple[np.ndarray, np.ndarray]:
    ids = rng.integers(0, V, (T, batch))
    x = np.zeros((T, batch, V))
    x[np.arange(T)[:, None], np.arange(batch)[None, :], ids] = 1.0
    return x, ids[0]


def gate_norms_over_training(steps: int = 150, T: int = 12, vocab: int = 4, hidden_size: int = 24, batch: int = 16,
                             lr: float = 0.01, seed: int = 0, kinds: tuple[str, ...] = ("lstm", "gru")
                             ) -> dict[str, Any]:
    """Train on "recall the first symbol" and record per-gate gradient norms and the loss at every step."""
    res: dict[str, Any] = {"steps": np.arange(1, steps + 1), "loss": {}, "gates": {}}
    for kind in kinds:
        if kind not in GATES:
            raise ValueError(f"flow: gate norms need a gated cell (lstm or gru), got {kind!r}")
        rng = np.random.default_rng(seed)
        m = _make(kind, vocab, hidden_size, seed)
        head = nn.Linear(hidden_size, vocab, dtype=np.float64, rng=seed)
        crit = nn.CrossEntropyLoss()
        opt = optim.Adam(list(m.parameters()) + list(head.parameters()), lr=lr)
        losses, norms = [], {gname: [] for gname in GATES[kind]}
        for _ in range(steps):
            x, target = _recall_batch(rng, T, batch, vocab)
            with _trace.trace(keep="last") as tr:
                out, _ = m(x)
                logits = head(out[-1])
                loss = crit(logits, target)
                m.zero_grad()
                head.zero_grad()
                dfeat = head.backward(crit.backward())
                dout = np.zeros_like(out)
                dout[-1] = dfeat
                m.backward(dout)
            bw = tr[tr.names[0]].backward
            for gname in GATES[kind]:
                a = bw[gname]
                norms[gname].append(float(np.sqrt(np.sum(a * a))))
            losses.append(float(loss))
            opt.step()
        res["loss"][kind] = np.array(losses)
        res["gates"][kind] = {k: np.array(v) for k, v in norms.items()}
    return res


def plot_gradient_flow(result: dict[str, Any], path: str | Path | None = None) -> bytes:
    """PNG of ``||dL/dh_t||`` (solid) and ``||dL/dc_t||`` (dashed) against ``t``, log scale. Returns the PNG
    bytes (and writes them to ``path`` when given)."""
    plt = require_matplotlib()
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    T = result["T"]
    t = np.arange(T)
    for kind, v in result["dh"].items():
        ax.semilogy(t, np.maximum(v, 1e-300), "-", color=COLORS.get(kind), lw=2, label=f"{kind.upper()} ‖dL/dh_t‖")
    for kind, v in result["dc"].items():
        ax.semilogy(t, np.maximum(v, 1e-300), "--", color=COLORS.get(kind), lw=1.6,
                    label=f"{kind.upper()} ‖dL/dc_t‖")
    ax.set_xlabel("time step t (loss at t = T−1)")
    ax.set_ylabel("gradient norm")
    ax.set_title("Vanishing gradients: the same data through RNN, GRU and LSTM")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    return _save(fig, plt, path)


def plot_gate_norms(result: dict[str, Any], path: str | Path | None = None) -> bytes:
    """PNG of each gate's gradient norm over training steps (one panel per cell kind) with the loss."""
    plt = require_matplotlib()
    kinds = list(result["gates"])
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.0 * len(kinds), 4.0), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        for gname, v in result["gates"][kind].items():
            ax.semilogy(result["steps"], np.maximum(v, 1e-300), lw=1.6, label=f"‖{gname}‖ ({gname[3:]} gate)")
        ax2 = ax.twinx()
        ax2.plot(result["steps"], result["loss"][kind], color="#444", lw=1, ls=":", label="loss")
        ax2.set_ylabel("loss", color="#444")
        ax.set_xlabel("training step")
        ax.set_ylabel("gate gradient norm (Σ over t, batch)")
        ax.set_title(f"{kind.upper()}: per-gate gradient norms over training")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=8, loc="upper left")
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


def write_pictures(stem: str | Path, *, T: int = 40, steps: int = 150, seed: int = 0) -> list[Path]:
    """Compute both pictures and write ``{stem}_gradient_flow.png`` and ``{stem}_gate_norms.png``."""
    require_matplotlib()
    stem = Path(stem)
    p1 = stem.parent / f"{stem.name}_gradient_flow.png"
    p2 = stem.parent / f"{stem.name}_gate_norms.png"
    plot_gradient_flow(gradient_flow(T=T, seed=seed), p1)
    plot_gate_norms(gate_norms_over_training(steps=steps, seed=seed), p2)
    return [p1, p2]

r"""Gradient-flow runs: the vanishing-gradient picture (RNN, GRU, LSTM, minGRU, minLSTM, ...) and per-gate norms
over training.

The data come from real forward and backward passes recorded with :mod:`bptt.trace`; the pictures are drawn
by :mod:`bptt.viz.flow` (needs matplotlib, ``pip install 'bptt[plot]'``)::

    python -m bptt.examples.gradient_flow --out flow     # flow_gradient_flow.png, flow_gate_norms.png

    from bptt.examples import gradient_flow as gf
    res = gf.gradient_flow(T=40)                    # {"dh": {"rnn": (T,), "gru": ..., "mingru": ...}, "dc": {...}}
    tr = gf.gate_norms_over_training(steps=60)      # per-gate ||dL/da|| at every training step

**The data.** :func:`gradient_flow` feeds the same random sequence ``x`` ``(T, B, D)`` (``seed``) to every cell
of :data:`BUILDERS`: a ``bptt.nn.RNN`` (tanh), a ``GRU``, an ``LSTM`` (``forget_bias=1``, as TensorFlow's cells
and the seed), a ``MinGRU`` and a ``MinLSTM`` (Feng et al. 2024: their gates read only ``x_t``, so the gradient
carried back is ``dh_{t-1} = a_t dh_t`` with ``a_t = 1 - z_t`` or ``f'_t``, no recurrent weight matrix) and an
``SLSTM`` (xLSTM; the ``MLSTM`` is not in the picture: it reads whole sequences and ``bptt.trace`` does not
record it), all initialised their default way from the same seed, with the loss
:math:`L = \sum_b g_b \cdot h_{T-1,b}` on the last step only (a fixed random ``g``), so
:math:`\partial L / \partial h_t` for ``t < T-1`` is purely what flows back through time.
:func:`gate_norms_over_training` trains an LSTM and a GRU (one-hot inputs, a linear head, cross-entropy on the
last step, Adam) to recall the *first* of ``T`` random symbols, a task only gradients that
survive ``T`` steps can learn, and records the norm of each gate's pre-activation gradient (LSTM ``i, f, g, o``;
GRU ``r, z, n``), summed over time and batch, at every step.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import nn, optim
from .. import trace as _trace
from ..viz import flow as _flow
from .program import run_program

__all__ = ["BUILDERS", "GATES", "KINDS", "gate_norms_over_training", "gradient_flow", "write_pictures"]

#: The cells of the vanishing-gradient picture: name -> ``build(input_size, hidden_size, seed)`` (float64). A
#: cell whose layer ``bptt.trace`` knows (``bptt.trace.names.register``) is added here with one entry.
BUILDERS: dict[str, Callable[[int, int, int], Any]] = {
    "rnn": lambda D, H, seed: nn.RNN(D, H, dtype=np.float64, rng=seed),
    "gru": lambda D, H, seed: nn.GRU(D, H, dtype=np.float64, rng=seed),
    "lstm": lambda D, H, seed: nn.LSTM(D, H, forget_bias=1.0, dtype=np.float64, rng=seed),
    "mingru": lambda D, H, seed: nn.MinGRU(D, H, dtype=np.float64, rng=seed),
    "minlstm": lambda D, H, seed: nn.MinLSTM(D, H, dtype=np.float64, rng=seed),
    "slstm": lambda D, H, seed: nn.SLSTM(D, H, dtype=np.float64, rng=seed),
}
KINDS = tuple(BUILDERS)
GATES = {"lstm": ("da_i", "da_f", "da_g", "da_o"), "gru": ("da_r", "da_z", "da_n")}


def _make(kind: str, D: int, H: int, seed: int) -> Any:
    if kind not in BUILDERS:
        raise ValueError(f"flow: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    return BUILDERS[kind](D, H, seed)


def gradient_flow(T: int = 40, batch: int = 8, input_size: int = 8, hidden_size: int = 32, seed: int = 0,
                  kinds: tuple[str, ...] = KINDS) -> dict[str, Any]:
    """``||dL/dh_t||`` (and ``||dL/dc_t||`` for the LSTM) for every ``t``, loss on the last step only, for each
    cell of ``kinds`` (default: every cell of :data:`BUILDERS`)."""
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


def write_pictures(stem: str | Path, *, T: int = 40, steps: int = 150, seed: int = 0) -> list[Path]:
    """Compute both pictures and write ``{stem}_gradient_flow.png`` and ``{stem}_gate_norms.png``."""
    _flow.require_matplotlib()
    stem = Path(stem)
    p1 = stem.parent / f"{stem.name}_gradient_flow.png"
    p2 = stem.parent / f"{stem.name}_gate_norms.png"
    _flow.plot_gradient_flow(gradient_flow(T=T, seed=seed), p1)
    _flow.plot_gate_norms(gate_norms_over_training(steps=steps, seed=seed), p2)
    return [p1, p2]


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bptt.examples.gradient_flow", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="flow", help="file stem of the two PNGs (default flow)")
    p.add_argument("--T", type=int, default=40, help="sequence length of the vanishing-gradient picture")
    p.add_argument("--steps", type=int, default=150, help="training steps of the gate-norm picture")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    for path in write_pictures(args.out, T=args.T, steps=args.steps, seed=args.seed):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(run_program(main, "python -m bptt.examples.gradient_flow"))

r"""``bptt explain``: seed 000's figures, regenerated from a live model as one self-contained HTML page.

The page (inline SVG, CSS and a few lines of script; no network, opens offline) shows, for one recurrent layer,
direction, batch element and time step ``t`` of a real forward and backward pass recorded with
:mod:`bptt.trace`:

1. the forward summary with weights (the seed's figure 1): ``x_t``, ``h_{t-1}``, the weight matrices, the
   gate pre-activations, the gates, ``c_t``, ``h_t`` and the dense head on top;
2. the flow diagram of one cell (figure 2), with the live values beside every node;
3. the feed-forward layer's gradients (the seed's "step 1": dpred, DBy, DWy);
4. one panel per backward quantity in the seed's order, titled with the seed's name beside bptt's (dHt = ``dh``,
   dOt = ``do``, dCt = ``dc``, dCprojt = ``dg``, dFt = ``df``, dIt = ``di``, dHX = ``dz``, dC_next =
   ``dc_next``; GRU and RNN have their own), each with its equation, its shape, its values at step ``t``,
   arrows from the tensors it depends on and, beside it, the lines of bptt's source that compute it;
5. the chain of ``dh_next`` / ``dc_next`` back through time, with ``||dL/dh_t||`` and ``||dL/dc_t||``;
6. optionally the gradient-flow pictures of :mod:`bptt.viz.flow`.

Every value on the page is embedded for every time step, so the step buttons at the top switch ``t`` without
regenerating the page. Python API: :func:`render` (any :class:`~bptt.trace.Trace` you recorded yourself,
wrapped in a :class:`Run`); the runs of ``bptt explain`` are built by :mod:`bptt.cli.explain`.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import inspect
import json
import math
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .. import trace as _trace
from ..functional import gru as _gru
from ..functional import ln_lstm as _ln
from ..functional import lstm as _lstm
from ..functional import rnn as _rnn

__all__ = ["ExplainError", "Run", "render", "panel_ids", "SOURCE"]

CAP = 24  # at most this many cells of a vector are drawn (the rest are summarised)
CAP_M = 24  # matrices: at most CAP_M x CAP_M cells


class ExplainError(ValueError):
    """Bad input to ``bptt explain`` (a step, layer, direction or batch index out of range, ...)."""


@dataclasses.dataclass
class Run:
    """What a page explains: a trace holding one forward and backward pass, and how to label it.

    ``head`` (optional) describes the dense layer on top: ``weight`` ``(V, P)``, ``bias`` ``(V,)`` and per-step
    ``logits``, ``probs``, ``target`` (one-hot) and ``dlogits``, each ``(T, B, V)``, with ``labels`` (the
    vocabulary) and ``loss_steps`` (the steps the loss reads).
    """

    trace: Any
    module: str | None = None
    title: str = "bptt explain"
    description: str = ""
    tokens: list[str] | None = None  # the input token of each time step
    input_labels: list[str] | None = None  # a label per unit of x (the vocabulary for one-hot inputs)
    head: dict[str, Any] | None = None
    loss: float | None = None
    seed_example: bool = False


# ---------------------------------------------------------------------------------------------- source lines
#: Per kind and quantity, the functional op and the substrings of the lines of its backward pass that compute it.
SOURCE: dict[str, tuple[Any, dict[str, list[str]]]] = {
    "lstm": (_lstm, {
        "dh": ["add_carried(dh, dy, dh_next"],
        "do": ["np.subtract(1.0, o, out=Q)", "Q *= o", "Q *= tc", "np.multiply(dho, Q_b[k], out=dA4[t, :, 3])"],
        "dc": ["np.multiply(tc, tc, out=K)", "np.subtract(1.0, K, out=K)", "K *= o",
               "np.multiply(dho, K_b[k], out=dc)", "dc += dc_next"],
        "dg": ["np.multiply(g, g, out=Pf[:, :, 2])", "np.subtract(1.0, Pf[:, :, 2], out=Pf[:, :, 2])",
               "Pf[:, :, 2] *= i", "np.multiply(dc[:, None, :], Pf_b[k], out=dA4[t, :, 0:3])"],
        "df": ["np.subtract(1.0, a4[:, :, 0:2], out=Pf[:, :, 0:2])", "Pf[:, :, 0:2] *= a4[:, :, 0:2]",
               "Pf[:, :, 1] *= C_prev", "np.multiply(dc[:, None, :], Pf_b[k], out=dA4[t, :, 0:3])"],
        "di": ["np.subtract(1.0, a4[:, :, 0:2], out=Pf[:, :, 0:2])", "Pf[:, :, 0:2] *= a4[:, :, 0:2]",
               "Pf[:, :, 0] *= g", "np.multiply(dc[:, None, :], Pf_b[k], out=dA4[t, :, 0:3])"],
        "dz": ["np.matmul(dA[t], W_hh_T, out=dh_next)", "dx = np.matmul(dA2, W_ih)",
               "np.matmul(dA2.T, x.reshape(T * B, D), out=dW_ih)",
               "np.matmul(dA2.T, H_prev.reshape(T * B, P), out=dW_hh)"],
        "dc_next": ["np.multiply(dc, f[t], out=dc_prev)", "dc_next, dc_prev = dc_prev, dc_next"],
    }),
    "lnlstm": (_ln, {
        "dh": ["add_carried(dh, dy, dh_next"],
        "do": ["Q = np.subtract(1.0, o,", "Q *= o", "Q *= TC", "np.multiply(dh, Q[t], out=dAhat[t, :, 3])"],
        "dc": ["K *= o", "np.multiply(dh, K[t], out=dc)", "dc += dc_next", "dct = ln_backward_rows(dc,"],
        "dg": ["np.multiply(G, G, out=P[:, :, 1])", "P[:, :, 1] *= i",
               "np.multiply(dct[:, None, :], P[t], out=dAhat[t, :, 0:3])"],
        "df": ["np.subtract(1.0, f, out=P[:, :, 2])", "P[:, :, 2] *= C_prev",
               "np.multiply(dct[:, None, :], P[t], out=dAhat[t, :, 0:3])"],
        "di": ["np.subtract(1.0, i, out=P[:, :, 0])", "P[:, :, 0] *= gm",
               "np.multiply(dct[:, None, :], P[t], out=dAhat[t, :, 0:3])"],
        "dz": ["ln_backward_rows(dAhat[t], XH[t]", "np.matmul(dA[t], K_hT, out=dh_next)",
               "dx = np.matmul(dA2, kernel[:D].T)", "np.matmul(x.reshape(T * B, D).T, dA2, out=dkernel[:D])"],
        "dc_next": ["np.multiply(dct, f[t], out=dc_prev)", "dc_next, dc_prev = dc_prev, dc_next"],
    }),
    "gru": (_gru, {
        "dh": ["add_carried(dh, dy, dh_next"],
        "dn": ["Pn = np.multiply(n, n,", "np.subtract(1.0, Pn, out=Pn)", "Pn *= 1.0 - z",
               "np.multiply(DH, Pn, out=DGX[:, :, 2 * H :])"],
        "dz": ["np.subtract(H_prev, n, out=Q[:, :, 1])", "Q[:, :, 1] *= z", "Q[:, :, 1] *= 1.0 - z",
               "np.multiply(dh[:, None, :], Q[t], out=DGH3[t])"],
        "dr": ["np.subtract(1.0, r, out=Q[:, :, 0])", "Q[:, :, 0] *= r", "Q[:, :, 0] *= ghn", "Q[:, :, 0] *= Pn",
               "np.multiply(dh[:, None, :], Q[t], out=DGH3[t])"],
        "dx": ["np.matmul(DGH[t], W_hh, out=rec)", "np.multiply(dh, z[t], out=dh_next)", "dh_next += rec",
               "dx = np.matmul(dgx2, W_ih)"],
    }),
    "rnn": (_rnn, {
        "dh": ["add_carried(dh, dy, dh_next"],
        "da": ["np.multiply(H_cur, H_cur, out=dphi)", "np.subtract(1.0, dphi, out=dphi)",
               "np.multiply(dh, dphi[t], out=dA[t])"],
        "dz": ["np.matmul(dA[t], W_hh, out=dh_next)", "dx = np.matmul(dA2, W_ih)"],
    }),
}


def source_lines(kind: str, quantity: str) -> list[tuple[int, str]]:
    """``(line number, text)`` of each line of ``kind``'s backward pass computing ``quantity`` (empty: not
    found, e.g. after the source changed)."""
    mod, table = SOURCE[kind]
    lines, start = inspect.getsourcelines(mod.backward)
    out: list[tuple[int, str]] = []
    for pat in table.get(quantity, []):
        for k, line in enumerate(lines):
            if pat in line:
                item = (start + k, line.rstrip("\n"))
                if item not in out:
                    out.append(item)
                break
        else:
            return []
    return sorted(out)


def _source_file(kind: str) -> str:
    mod = SOURCE[kind][0]
    return "bptt/functional/" + Path(mod.__file__).name


# ---------------------------------------------------------------------------------------------- panel specs
def _sub(s: str) -> str:
    return f"<sub>{s}</sub>"


_T = _sub("t")
_TM1 = _sub("t−1")
_NEXT = _sub("next")
# Each backward panel: id (the seed's name), bptt name, equation (HTML), inputs [(data key, label)], the operator,
# the results [(data key, label)], an optional secondary result (key, label, operator text), the source key and
# a note.
_LSTM_PANELS = [
    dict(seed="dHt", q="dh", eq=f"dh{_T} = dy{_T} + dh{_NEXT}",
         inputs=[("bw:dy", "dy_t (from above)"), ("bw:dh_next_in", "dh_next (from t+1)")], op="+",
         results=[("bw:dh", "dh_t = dHt")], src="dh",
         note="The gradient reaching h_t: from the layer above (dy_t: the dense head, or the next layer) plus the "
              "recurrent gradient dh_next carried back from step t+1. Shape as h."),
    dict(seed="dOt", q="do", eq=f"do{_T} = dh{_T} ⊙ tanh(c{_T})",
         inputs=[("bw:dh", "dh_t"), ("fw:tanh_c", "tanh(c_t)")], op="⊙", results=[("bw:do", "do_t = dOt")],
         second=("bw:da_o", "da_o", "⊙ o(1−o)"), src="do",
         note="bptt never forms do alone: it multiplies dh by the precomputed tanh(c)·o(1−o), giving da_o, the "
              "gradient into W_o and b_o, directly."),
    dict(seed="dCt", q="dc", eq=f"dc{_T} = dc{_NEXT} + dh{_T} ⊙ o{_T} ⊙ (1 − tanh²(c{_T}))",
         inputs=[("bw:dc_next_in", "dc_next (from t+1)"), ("bw:dh", "dh_t"), ("fw:o", "o_t"),
                 ("fw:tanh_c", "tanh(c_t)")], op="+⊙", results=[("bw:dc", "dc_t = dCt")], src="dc",
         note="The cell state's gradient: the carried dc_next plus what flows in through h_t = o ⊙ tanh(c_t). "
              "o(1 − tanh²c) is formed for a block of steps at a time, ahead of the per-step work (K)."),
    dict(seed="dCprojt", q="dg", eq=f"dg{_T} = dc{_T} ⊙ i{_T}",
         inputs=[("bw:dc", "dc_t"), ("fw:i", "i_t")], op="⊙", results=[("bw:dg", "dg_t = dCprojt")],
         second=("bw:da_g", "da_g", "⊙ (1−g²)"), src="dg",
         note="Cproj is the seed's name for the candidate g = tanh(a_g). The loop multiplies dc by the "
              "precomputed i(1−g²) to get da_g."),
    dict(seed="dFt", q="df", eq=f"df{_T} = dc{_T} ⊙ c{_TM1}",
         inputs=[("bw:dc", "dc_t"), ("fw:c_prev", "c_{t−1}")], op="⊙", results=[("bw:df", "df_t = dFt")],
         second=("bw:da_f", "da_f", "⊙ f(1−f)"), src="df",
         note="The forget gate's gradient; the loop uses the precomputed c_{t−1}·f(1−f) to get da_f."),
    dict(seed="dIt", q="di", eq=f"di{_T} = dc{_T} ⊙ g{_T}",
         inputs=[("bw:dc", "dc_t"), ("fw:g", "g_t (Cproj)")], op="⊙", results=[("bw:di", "di_t = dIt")],
         second=("bw:da_i", "da_i", "⊙ i(1−i)"), src="di",
         note="The input gate's gradient; the loop uses the precomputed g·i(1−i) to get da_i."),
    dict(seed="dHX", q="dz", eq=f"dz{_T} = da{_T} [W{_sub('ih')}, W{_sub('hh')}] = [dx{_T}, dh{_NEXT}]",
         inputs=[("bw:da", "da_t = [da_i, da_f, da_g, da_o]"), ("param:W", "[W_ih, W_hh]")], op="·W",
         results=[("bw:dx", "dx_t"), ("bw:dh_next", "dh_next (to t−1)")], weight=True, src="dz",
         note="z = [x_t, h_{t−1}] is the seed's HX. Its gradient splits into dx_t (for learned inputs such as "
              "embeddings) and dh_next, carried to step t−1. The weight gradients are summed over all steps "
              "after the loop in one matrix product; the per-step term is da_tᵀ z_t (below)."),
    dict(seed="dC_next", q="dc_next", eq=f"dc{_NEXT} = dc{_T} ⊙ f{_T}",
         inputs=[("bw:dc", "dc_t"), ("fw:f", "f_t")], op="⊙", results=[("bw:dc_next", "dc_next (to t−1)")],
         src="dc_next", note="The cell state's gradient carried to step t−1 (the seed's DCt_recur)."),
]
_LN_PANELS = [dict(p) for p in _LSTM_PANELS]
_LN_PANELS[2] = dict(_LN_PANELS[2], eq=f"dc{_T} = dc{_NEXT} + dh{_T} ⊙ o{_T} ⊙ (1 − tanh²(c{_T})),  "
                     f"dc̃{_T} = LN′{_sub('state')}(dc{_T})",
                     results=[("bw:dc", "dc_t = dCt"), ("bw:dc_tilde", "dc̃_t (through the state LN)")],
                     note="dc is the gradient of the normalised state c_t; the state layer norm's backward turns "
                          "it into dc̃, the gradient of c̃ = c_{t−1} ⊙ f + i ⊙ g, which the gates use.")
for _k, _gate in ((3, "i"), (4, "c_prev"), (5, "g")):
    _p = _LN_PANELS[_k]
    _LN_PANELS[_k] = dict(_p, eq=_p["eq"].replace(f"dc{_T}", f"dc̃{_T}"),
                          inputs=[("bw:dc_tilde", "dc̃_t")] + _p["inputs"][1:])
_LN_PANELS[6] = dict(_LN_PANELS[6], eq=f"dz{_T} = LN′(dâ{_T}) K<sup>⊤</sup> = [dx{_T}, dh{_NEXT}]",
                     inputs=[("bw:da", "da_t (after the gate LNs)"), ("param:W", "kernelᵀ")])
_LN_PANELS[7] = dict(_LN_PANELS[7], eq=f"dc{_NEXT} = dc̃{_T} ⊙ f{_T}", inputs=[("bw:dc_tilde", "dc̃_t"),
                                                                               ("fw:f", "f_t")])
_GRU_PANELS = [
    dict(seed="dHt", q="dh", eq=f"dh{_T} = dy{_T} + dh{_NEXT}",
         inputs=[("bw:dy", "dy_t (from above)"), ("bw:dh_next_in", "dh_next (from t+1)")], op="+",
         results=[("bw:dh", "dh_t = dHt")], src="dh", note="As for the LSTM: from above plus from step t+1."),
    dict(seed="dNt", q="dn", eq=f"dn{_T} = dh{_T} ⊙ (1 − z{_T})",
         inputs=[("bw:dh", "dh_t"), ("fw:z", "z_t (update gate)")], op="⊙", results=[("bw:dn", "dn_t")],
         second=("bw:da_n", "da_n", "⊙ (1−n²)"), src="dn",
         note="h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}: the candidate n gets the (1 − z) share."),
    dict(seed="dZt", q="dz", eq=f"dz{_T} = dh{_T} ⊙ (h{_TM1} − n{_T})",
         inputs=[("bw:dh", "dh_t"), ("fw:h_prev", "h_{t−1}"), ("fw:n", "n_t")], op="⊙",
         results=[("bw:dz", "dz_t (update gate)")], second=("bw:da_z", "da_z", "⊙ z(1−z)"), src="dz",
         note="For a GRU, dz is the update gate's gradient (not the seed's dHX)."),
    dict(seed="dRt", q="dr", eq=f"dr{_T} = da{_sub('n')} ⊙ (h{_TM1} W{_sub('hn')}<sup>⊤</sup> + b{_sub('hn')})",
         inputs=[("bw:da_n", "da_n"), ("fw:gh_n", "h_{t−1}W_hnᵀ + b_hn")], op="⊙", results=[("bw:dr", "dr_t")],
         second=("bw:da_r", "da_r", "⊙ r(1−r)"), src="dr",
         note="The reset gate multiplies the recurrent projection including b_hn (PyTorch's GRU)."),
    dict(seed="dHX", q="dh_next", eq=f"dh{_NEXT} = dh{_T} ⊙ z{_T} + dgh{_T} W{_sub('hh')},  dx{_T} = dgx{_T} "
                                     f"W{_sub('ih')}",
         inputs=[("bw:dgh", "dgh_t = [da_r, da_z, r ⊙ da_n]"), ("param:W", "W_hh")], op="·W",
         results=[("bw:dx", "dx_t"), ("bw:dh_next", "dh_next (to t−1)")], weight=True, src="dx",
         note="The gradients leaving the cell: to the input (dx) and to step t−1 (dh_next), which also gets the "
              "direct z ⊙ dh path."),
]
_RNN_PANELS = [
    dict(seed="dHt", q="dh", eq=f"dh{_T} = dy{_T} + dh{_NEXT}",
         inputs=[("bw:dy", "dy_t (from above)"), ("bw:dh_next_in", "dh_next (from t+1)")], op="+",
         results=[("bw:dh", "dh_t = dHt")], src="dh", note="From above plus from step t+1."),
    dict(seed="dAt", q="da", eq=f"da{_T} = dh{_T} ⊙ φ′(a{_T})",
         inputs=[("bw:dh", "dh_t"), ("fw:h", "h_t")], op="⊙", results=[("bw:da", "da_t")], src="da",
         note="φ′ = 1 − h² for tanh, [h > 0] for ReLU. Repeated products of diag(φ′)·W_hh are where the "
              "gradient vanishes or explodes."),
    dict(seed="dHX", q="dz", eq=f"dz{_T} = da{_T} [W{_sub('ih')}, W{_sub('hh')}] = [dx{_T}, dh{_NEXT}]",
         inputs=[("bw:da", "da_t"), ("param:W", "[W_ih, W_hh]")], op="·W",
         results=[("bw:dx", "dx_t"), ("bw:dh_next", "dh_next (to t−1)")], weight=True, src="dz",
         note="Split into the input's gradient and the one carried to step t−1."),
]
PANELS = {"lstm": _LSTM_PANELS, "lnlstm": _LN_PANELS, "gru": _GRU_PANELS, "rnn": _RNN_PANELS}


def panel_ids(kind: str, head: bool = True, flow: bool = False) -> list[str]:
    """The ids of the panels a page for ``kind`` has, in order."""
    ids = ["panel-forward-summary", "panel-flow-diagram"]
    if head:
        ids.append("panel-head")
    ids += [f"panel-{p['seed']}" for p in PANELS[kind]]
    ids.append("panel-chain")
    if flow:
        ids.append("panel-gradient-flow")
    return ids


# ---------------------------------------------------------------------------------------------- drawing helpers
def _num(v: float) -> str:
    """The page's number format (the script formats the same way)."""
    v = float(v)
    if v == 0.0 or not math.isfinite(v):
        return "0" if v == 0.0 else str(v)
    a = abs(v)
    if 1e-3 <= a < 1e4:
        return f"{v:.4f}"
    m, e = f"{v:.2e}".split("e")
    return f"{m}e{int(e)}" if int(e) < 0 else f"{m}e+{int(e)}"


def _color(v: float, scale: float) -> str:
    """Diverging colour: blue (negative), white (0), red (positive)."""
    if not scale or not math.isfinite(v):
        return "#ffffff"
    t = max(-1.0, min(1.0, v / scale))
    r1, g1, b1 = (214, 96, 77) if t >= 0 else (67, 147, 195)
    a = abs(t)
    r, g, b = (round(255 + (c - 255) * a) for c in (r1, g1, b1))
    return f"#{r:02x}{g:02x}{b:02x}"


def _esc(s: Any) -> str:
    return html.escape(str(s), quote=True)


class _Svg:
    """A tiny SVG builder that tracks its extent."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.w = 0.0
        self.h = 0.0

    def add(self, s: str, x2: float = 0, y2: float = 0) -> None:
        self.parts.append(s)
        self.w = max(self.w, x2)
        self.h = max(self.h, y2)

    def text(self, x: float, y: float, s: str, cls: str = "lbl", anchor: str = "start", extra: str = "") -> None:
        self.add(f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{_esc(s)}</text>',
                 x + (7.2 * len(s) if anchor == "start" else 3.6 * len(s)), y + 4)

    def arrow(self, x1: float, y1: float, x2: float, y2: float, cls: str = "arw", curve: bool = True) -> None:
        if curve:
            my = (y1 + y2) / 2
            d = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{my:.1f} {x2:.1f},{my:.1f} {x2:.1f},{y2:.1f}"
        else:
            d = f"M{x1:.1f},{y1:.1f} L{x2:.1f},{y2:.1f}"
        self.add(f'<path class="{cls}" d="{d}" marker-end="url(#ah)"/>', max(x1, x2), max(y1, y2))

    def render(self, cls: str = "fig", pad: float = 12, label: str = "") -> str:
        w, h = math.ceil(self.w + pad), math.ceil(self.h + pad)
        return (f'<svg class="{cls}" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
                f'viewBox="0 0 {w} {h}" role="img" aria-label="{_esc(label)}">{_DEFS}{"".join(self.parts)}</svg>')


_DEFS = ('<defs><marker id="ah" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
         'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>')


class _Page:
    """Collects the per-step data the page's script needs and draws data-bound widgets."""

    def __init__(self, T: int, t: int) -> None:
        self.T = T
        self.t = t
        self.values: dict[str, np.ndarray] = {}  # key -> (T, n) float64 (capped)
        self.labels: dict[str, list[list[str]]] = {}  # key -> per step list of labels
        self.scales: dict[str, float] = {}
        self.center = 0.0

    def bind(self, key: str, per_step: np.ndarray) -> np.ndarray:
        """Register ``per_step`` ``(T, ...)`` (already capped) under ``key``; returns it flattened ``(T, n)``."""
        if key not in self.values:
            a = np.asarray(per_step, dtype=np.float64).reshape(self.T, -1)
            a = np.where(np.isfinite(a), a, 0.0)
            self.values[key] = a
            self.scales[key] = float(np.abs(a).max(initial=0.0))
        return self.values[key]

    def vector(self, svg: _Svg, key: str | None, values: np.ndarray, x: float, y: float, *, label: str = "",
               row_labels: list[str] | None = None, total: int | None = None, cw: float = 62, ch: float = 19,
               scale: float | None = None, text: bool = True, hl: bool = False) -> tuple[float, float]:
        """A column of cells (the seed's "(5X1)" vectors). ``key`` binds it to the step switch. Returns its size."""
        if key is not None:
            cur = self.values[key][self.t]
            scale = self.scales[key]
        else:
            cur = np.asarray(values, dtype=np.float64).reshape(-1)
            scale = float(np.abs(cur).max(initial=0.0)) if scale is None else scale
        n = cur.size
        rl_w = 0.0
        if row_labels:
            rl_w = 7.0 * max(len(s) for s in row_labels[:n]) + 6
        lw = 7.0 * len(label)
        x += max(0.0, (lw - rl_w - cw) / 2)  # centre the cells under a wide label
        if label:
            svg.text(x + rl_w + cw / 2, y - 7, label, "vlbl", "middle")
        for k in range(n):
            v = float(cur[k])
            attrs = f' data-q="{key}" data-i="{k}"' if key is not None else ""
            yy = y + k * ch
            svg.add(f'<rect class="c" x="{x + rl_w:.1f}" y="{yy:.1f}" width="{cw}" height="{ch}" '
                    f'fill="{_color(v, scale)}"{attrs}/>', x + rl_w + cw, yy + ch)
            if text:
                svg.add(f'<text class="v" x="{x + rl_w + cw / 2:.1f}" y="{yy + ch / 2 + 4:.1f}" '
                        f'text-anchor="middle"{attrs}>{_num(v)}</text>')
            if row_labels and k < len(row_labels):
                svg.add(f'<text class="rl" x="{x + rl_w - 4:.1f}" y="{yy + ch / 2 + 4:.1f}" '
                        f'text-anchor="end">{_esc(row_labels[k])}</text>')
        h = n * ch
        self.center = x + rl_w + cw / 2  # where arrows into this vector should point
        if hl:
            svg.add(f'<rect class="hl" x="{x + rl_w - 3:.1f}" y="{y - 3:.1f}" width="{cw + 6:.1f}" '
                    f'height="{h + 6:.1f}" rx="3"/>')
        total = n if total is None else total
        if total > n:
            svg.text(x + rl_w + cw / 2, y + h + 13, f"… {total - n} more", "more", "middle")
            h += 16
        return max(rl_w + cw, lw), h

    def matrix(self, svg: _Svg, key: str | None, M: np.ndarray, x: float, y: float, *, label: str = "",
               cw: float = 12, ch: float = 9, full_shape: tuple[int, ...] | None = None, text: bool = False,
               scale: float | None = None) -> tuple[float, float]:
        """A heat map of a matrix (capped to CAP_M x CAP_M cells); bound to the step switch when ``key`` is set."""
        M = np.asarray(M, dtype=np.float64)
        r, c = M.shape
        if key is not None:
            cur = self.values[key][self.t].reshape(r, c)
            scale = self.scales[key]
        else:
            cur = M
            scale = float(np.abs(M).max(initial=0.0)) if scale is None else scale
        if label:
            svg.text(x, y - 7, label, "vlbl")
        for i in range(r):
            for j in range(c):
                v = float(cur[i, j])
                attrs = f' data-q="{key}" data-i="{i * c + j}"' if key is not None else ""
                svg.add(f'<rect class="m" x="{x + j * cw:.1f}" y="{y + i * ch:.1f}" width="{cw}" height="{ch}" '
                        f'fill="{_color(v, scale)}"{attrs}><title>{_num(v)}</title></rect>',
                        x + (j + 1) * cw, y + (i + 1) * ch)
                if text:
                    svg.add(f'<text class="mv" x="{x + j * cw + cw / 2:.1f}" y="{y + i * ch + ch / 2 + 3:.1f}" '
                            f'text-anchor="middle"{attrs}>{_num(v)}</text>')
        h = r * ch
        if full_shape is not None and tuple(full_shape) != (r, c):
            svg.text(x, y + h + 12, f"showing {r}×{c} of {full_shape[0]}×{full_shape[1]}", "more")
            h += 15
        return max(c * cw, 7.2 * len(label)), h

    def script_data(self) -> dict[str, Any]:
        return {"T": self.T, "t": self.t,
                "values": {k: [[float(_round(v)) for v in row] for row in a] for k, a in self.values.items()},
                "scales": self.scales, "labels": self.labels}


def _round(v: float) -> float:
    return float(f"{v:.6g}")


# ---------------------------------------------------------------------------------------------- the page
def render(run: Run, *, step: int | None = None, layer: int = 0, direction: int | str = "forward",
           batch_index: int = 0, flow_images: dict[str, bytes] | None = None) -> str:
    """The HTML page for one layer, direction, batch element and (initially shown) time step of ``run``."""
    tr = run.trace
    name = run.module or next(iter(tr.names), None)
    if name is None or name not in tr:
        raise ExplainError(f"the trace holds no recurrent module {name!r} (traced: {', '.join(tr.names) or 'none'})")
    mt = tr[name]
    lt = _layer(mt, layer, direction)
    if lt.backward is None:
        raise ExplainError(f"{name} layer {layer}: no backward pass was recorded")
    T, B = lt.T, lt.B
    t = _check_index(step, T, "--step", "the sequence has T={n} time step{s}", default=lt.backward_order[0])
    b = _check_index(batch_index, B, "--batch-index", "the batch has B={n} sequence{s}", default=0)
    page = _Page(T, t)
    kind = lt.kind
    head = run.head if (run.head is not None and lt.layer == mt.num_layers - 1) else None
    _bind_all(page, lt, b, head)
    sections = [
        _forward_summary(page, run, lt, b, head),
        _flow_diagram(page, run, lt),
    ]
    if head is not None:
        sections.append(_head_panel(page, run, lt, head))
    sections += [_backward_panel(page, run, lt, spec, b) for spec in PANELS[kind]]
    sections.append(_chain_panel(page, run, lt, b))
    if flow_images:
        sections.append(_flow_panel(flow_images))
    data = json.dumps(page.script_data(), separators=(",", ":"))
    where = f"{name}, layer {lt.layer}, {'reverse' if lt.direction else 'forward'} direction, batch element {b}"
    steps_nav = "".join(
        f'<button type="button" class="stepbtn{" cur" if k == t else ""}" data-step="{k}">t = {k}'
        f'{(" · " + _esc(run.tokens[k])) if run.tokens and k < len(run.tokens) else ""}</button>'
        for k in range(T))
    toc = "".join(f'<a href="#{pid}">{_esc(label)}</a>' for pid, label in _toc(kind, head is not None, flow_images))
    kind_name = {"lstm": "LSTM", "lnlstm": "LayerNormLSTM", "gru": "GRU", "rnn": "RNN"}[kind]
    return _TEMPLATE.format(
        title=_esc(f"{run.title} — t = {t}"), css=_CSS, h1=_esc(run.title), desc=run.description,
        where=_esc(where), kind=kind_name, T=T, steps=steps_nav, toc=toc, sections="\n".join(sections),
        data=data.replace("</", "<\\/"), script=_SCRIPT, expected=len(sections),
        order=" → ".join(str(k) for k in lt.backward_order),
    )


def _toc(kind: str, head: bool, flow: Any) -> list[tuple[str, str]]:
    out = [("panel-forward-summary", "Forward summary"), ("panel-flow-diagram", "Flow diagram")]
    if head:
        out.append(("panel-head", "Step 1: dense"))
    out += [(f"panel-{p['seed']}", p["seed"]) for p in PANELS[kind]]
    out.append(("panel-chain", "Back through time"))
    if flow:
        out.append(("panel-gradient-flow", "Gradient flow"))
    return out


def _layer(mt: Any, layer: Any, direction: Any) -> Any:
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < mt.num_layers:
        valid = "0" if mt.num_layers == 1 else f"0..{mt.num_layers - 1}"
        raise ExplainError(f"--layer {layer} does not exist: {mt.name} has {mt.num_layers} "
                           f"layer{'s' if mt.num_layers != 1 else ''} (valid: {valid})")
    if isinstance(direction, str) and direction not in ("forward", "reverse"):
        raise ExplainError(f"--direction must be 'forward' or 'reverse', got {direction!r}")
    d = {"forward": 0, "reverse": 1}.get(direction, direction) if isinstance(direction, str) else direction
    if d not in (0, 1):
        raise ExplainError(f"--direction must be 'forward' or 'reverse', got {direction!r}")
    if d >= mt.num_directions:
        raise ExplainError(f"--direction reverse does not exist: {mt.name} is not bidirectional (valid: forward)")
    try:
        return mt.layer(int(layer), int(d))
    except _trace.TraceError as exc:
        raise ExplainError(str(exc)) from None


def _check_index(value: Any, n: int, flag: str, what: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ExplainError(f"{flag} must be an integer, got {value!r}")
    if not -n <= value < n:
        valid = "0" if n == 1 else f"0..{n - 1}"
        raise ExplainError(f"{flag} {value} is out of range: {what.format(n=n, s='' if n == 1 else 's')} "
                           f"(valid: {valid})")
    return int(value) % n


def _vec_key(page: _Page, key: str, arr: np.ndarray, b: int) -> None:
    page.bind(key, arr[:, b, :CAP])


def _bind_all(page: _Page, lt: Any, b: int, head: dict | None) -> None:
    fw, bw = lt.forward, lt.backward
    for n in fw.names:
        a = fw[n]
        if a.ndim == 3:
            _vec_key(page, f"fw:{n}", a, b)
    for n in bw.names:
        if n in _trace.WEIGHT_STEP_NAMES[lt.kind]:
            continue
        a = bw[n]
        if a.ndim == 3:
            _vec_key(page, f"bw:{n}", a, b)
    page.bind("bw:dW", _weight_step_matrix(lt)[0])
    if head is not None:
        V = head["logits"].shape[-1]
        if V <= CAP:
            for k in ("logits", "probs", "target", "dlogits"):
                page.bind(f"head:{k}", np.asarray(head[k])[:, b, :])
            page.labels["head:labels"] = [list(head["labels"])] * page.T
        else:  # the CAP most probable words at each step, in that order
            top = np.argsort(-np.asarray(head["probs"])[:, b, :], axis=-1)[:, :CAP]
            tgt = np.argmax(np.asarray(head["target"])[:, b, :], axis=-1)
            for t in range(page.T):  # keep the target visible
                if tgt[t] not in top[t] and np.asarray(head["target"])[t, b].any():
                    top[t, -1] = tgt[t]
            for k in ("logits", "probs", "target", "dlogits"):
                page.bind(f"head:{k}", np.take_along_axis(np.asarray(head[k])[:, b, :], top, axis=-1))
            page.labels["head:labels"] = [[head["labels"][i] for i in row] for row in top]
        Wy = np.asarray(head["weight"])
        P = lt.forward["h"].shape[2]
        off = lt.direction * P  # a bidirectional head reads [h_fw; h_bw]: this direction's columns
        dl = np.asarray(head["dlogits"])[:, b, :]
        if V <= CAP_M:
            page.bind("head:dWy", (dl[:, :, None] * lt.forward["h"][:, b, None, :])[:, :CAP_M, :CAP_M])
        page.bind("head:dy", (dl @ Wy)[:, off : off + P][:, :CAP])


def _weight_step_matrix(lt: Any) -> tuple[np.ndarray, tuple[int, int]]:
    """Per-step weight-gradient contribution as one ``(T, gates, D + P)`` matrix (batch-summed), capped to
    ``CAP_M x CAP_M``, and its full per-step shape."""
    bw = lt.backward
    if lt.kind == "lnlstm":
        dk = bw["dkernel"]
        return np.swapaxes(dk[:, :CAP_M, :CAP_M], 1, 2), (dk.shape[2], dk.shape[1])
    a, b = bw["dW_ih"], bw["dW_hh"]
    m = np.concatenate([a[:, :CAP_M, :CAP_M], b[:, :CAP_M, :CAP_M]], axis=2)[:, :, :CAP_M]
    return m, (a.shape[1], a.shape[2] + b.shape[2])


def _weights_matrix(lt: Any) -> tuple[np.ndarray, str]:
    if lt.kind == "lnlstm":
        return lt.param("kernel").T, "kernelᵀ"
    if lt.kind == "gru":
        return lt.param("W_hh"), "W_hh"
    return np.concatenate([lt.param("W_ih"), lt.param("W_hh")], axis=1), "[W_ih, W_hh]"


def _gate_labels(lt: Any) -> tuple[list[str], list[str]]:
    """(names of the gate blocks in the weight rows, the matching forward keys)."""
    if lt.kind == "lstm":
        return ["i", "f", "g (Cproj)", "o"], ["fw:i", "fw:f", "fw:g", "fw:o"]
    if lt.kind == "lnlstm":
        return ["i", "j → g (Cproj)", "f", "o"], ["fw:i", "fw:g", "fw:f", "fw:o"]
    if lt.kind == "gru":
        return ["r", "z", "n"], ["fw:r", "fw:z", "fw:n"]
    return ["a"], ["fw:a"]


def _section(pid: str, title: str, seed: str, body: str, cls: str = "") -> str:
    return (f'<section class="panel {cls}" id="{pid}" data-seed="{_esc(seed)}"><h2>{title}</h2>{body}</section>')


def _forward_summary(page: _Page, run: Run, lt: Any, b: int, head: dict | None) -> str:
    fw = lt.forward
    svg = _Svg()
    x0, y0 = 10, 40
    D = fw["x"].shape[2]
    P = fw["h_prev"].shape[2]
    labels_x = run.input_labels[:CAP] if (run.input_labels and lt.layer == 0) else None
    # row 1: inputs -> weights -> pre-activations -> gates
    w, h1 = page.vector(svg, "fw:x", None, x0, y0, label="x_t", row_labels=labels_x, total=D, cw=52)
    xx = x0 + w + 18
    w2, h2 = page.vector(svg, "fw:h_prev", None, xx, y0, label="h_{t−1}", total=P, cw=52)
    xx += w2 + 16
    svg.arrow(xx, y0 + 40, xx + 26, y0 + 40, curve=False)
    xx += 46
    W, wname = _weights_matrix(lt) if lt.kind != "gru" else (
        np.concatenate([lt.param("W_ih"), lt.param("W_hh")], axis=1), "[W_ih, W_hh]")
    Wc = W[: CAP_M * 2, :CAP_M]
    cell = 11 if Wc.shape[0] <= 24 else 7
    mw, mh = page.matrix(svg, None, Wc, xx, y0, label=f"{wname} {W.shape[0]}×{W.shape[1]}", cw=cell, ch=cell,
                         full_shape=W.shape)
    gl, _ = _gate_labels(lt)
    G = len(gl)
    Hh = W.shape[0] // G
    for k, g in enumerate(gl):
        yy = y0 + k * Hh * cell
        if yy < y0 + mh - 4:
            svg.text(xx - 4, yy + min(Hh * cell, mh) / 2 + 4, g.split(" ")[0], "rl", "end")
    xx += mw + 16
    svg.arrow(xx, y0 + 40, xx + 26, y0 + 40, curve=False)
    xx += 40
    hrow = max(h1, h2, mh)
    if "a" in fw:
        aw, ah = page.vector(svg, "fw:a", None, xx, y0, label="a_t (pre-activation)", total=fw["a"].shape[2],
                             cw=56, ch=15)
        hrow = max(hrow, ah)
        xx += aw + 16
        svg.arrow(xx, y0 + 40, xx + 26, y0 + 40, curve=False)
        xx += 40
    gate_keys = {"lstm": [("fw:f", "f_t σ"), ("fw:i", "i_t σ"), ("fw:g", "g_t tanh (Cproj)"), ("fw:o", "o_t σ")],
                 "lnlstm": [("fw:f", "f_t σ"), ("fw:i", "i_t σ"), ("fw:g", "g_t tanh (Cproj)"), ("fw:o", "o_t σ")],
                 "gru": [("fw:r", "r_t σ"), ("fw:z", "z_t σ"), ("fw:n", "n_t tanh")],
                 "rnn": []}[lt.kind]
    for key, lab in gate_keys:
        gw, gh = page.vector(svg, key, None, xx, y0, label=lab, total=fw[key[3:]].shape[2], cw=56)
        hrow = max(hrow, gh)
        xx += gw + 12
    # row 2: states -> head
    y1 = y0 + hrow + 60
    xx = x0
    states = [("fw:c_prev", "c_{t−1}"), ("fw:c", "c_t"), ("fw:tanh_c", "tanh(c_t)"), ("fw:h", "h_t")] \
        if lt.kind in ("lstm", "lnlstm") else [("fw:h", "h_t")]
    for key, lab in states:
        sw, _ = page.vector(svg, key, None, xx, y1, label=lab, total=fw[key[3:]].shape[2], cw=56)
        xx += sw + 14
    if head is not None:
        xx += 6
        svg.arrow(xx, y1 + 40, xx + 26, y1 + 40, curve=False)
        xx += 44
        V = head["logits"].shape[-1]
        Wy = np.asarray(head["weight"])
        hw, _ = page.matrix(svg, None, Wy[:CAP_M, :CAP_M], xx, y1, label=f"W_y {Wy.shape[0]}×{Wy.shape[1]}",
                            cw=11, ch=11, full_shape=Wy.shape)
        xx += hw + 16
        svg.arrow(xx, y1 + 40, xx + 26, y1 + 40, curve=False)
        xx += 40
        lw, _ = page.vector(svg, "head:logits", None, xx, y1, label="pred (logits)", total=V, cw=58)
        xx += lw + 12
        pw, _ = page.vector(svg, "head:probs", None, xx, y1, label="softmax", total=V, cw=58)
        _row_labels(page, svg, xx + pw + 6, y1, "head:labels", V)
    body = (
        '<p class="eq">' + _forward_equations(lt) + "</p>"
        f'<p class="shape">Values at <span class="tcur">t = {page.t}</span>, batch element {b}; every vector is '
        f'drawn as a column, as in the seed{" (&quot;(5X1) in this example&quot;)" if run.seed_example else ""}. '
        f'Colours: blue negative, red positive, scaled per quantity over all steps.</p>'
        f'<div class="scroll">{svg.render(label="forward summary with weights")}</div>'
    )
    return _section("panel-forward-summary", "Forward propagation: summary with weights "
                    '<span class="seedref">(seed figure 1)</span>', "figure-1", body)


def _row_labels(page: _Page, svg: _Svg, x: float, y: float, key: str, V: int, ch: float = 19) -> None:
    labs = page.labels.get(key)
    if not labs:
        return
    for k, s in enumerate(labs[page.t][:CAP]):
        svg.add(f'<text class="rl" x="{x:.1f}" y="{y + k * ch + ch / 2 + 4:.1f}" data-l="{key}" '
                f'data-i="{k}">{_esc(s)}</text>', x + 7 * len(s), y + (k + 1) * ch)


def _forward_equations(lt: Any) -> str:
    T_, Tm = _T, _TM1
    if lt.kind == "lstm":
        fb = lt.meta.get("forget_bias") or 0.0
        return (f"a{T_} = W{_sub('ih')} x{T_} + b{_sub('ih')} + W{_sub('hh')} h{Tm} + b{_sub('hh')}"
                f"{f' (+ forget_bias {fb:g} on the f rows)' if fb else ''}; "
                f"i, f, o = σ(a<sup>i,f,o</sup>), g = tanh(a<sup>g</sup>) (Cproj); "
                f"c{T_} = f ⊙ c{Tm} + i ⊙ g; h{T_} = o ⊙ tanh(c{T_})")
    if lt.kind == "lnlstm":
        return (f"a{T_} = [x{T_}, h{Tm}] K; â = LN(a) per gate; i, f, o = σ(â), g = tanh(â<sup>j</sup>); "
                f"c{T_} = LN<sub>state</sub>(f ⊙ c{Tm} + i ⊙ g); h{T_} = o ⊙ tanh(c{T_})")
    if lt.kind == "gru":
        return (f"r, z = σ(x{T_} W<sub>ir,iz</sub><sup>⊤</sup> + h{Tm} W<sub>hr,hz</sub><sup>⊤</sup> + b); "
                f"n = tanh(x{T_} W<sub>in</sub><sup>⊤</sup> + b<sub>in</sub> + r ⊙ (h{Tm} W<sub>hn</sub><sup>⊤</sup>"
                f" + b<sub>hn</sub>)); h{T_} = (1 − z) ⊙ n + z ⊙ h{Tm}")
    nl = lt.meta.get("nonlinearity", "tanh")
    return f"a{T_} = W{_sub('ih')} x{T_} + W{_sub('hh')} h{Tm} + b; h{T_} = {nl}(a{T_})"


# -- the flow diagram of one cell (seed figure 2)
def _strip(page: _Page, svg: _Svg, key: str, x: float, y: float, cw: float = 13, ch: float = 13) -> float:
    vals = page.values[key][page.t]
    scale = page.scales[key]
    n = min(vals.size, 12)
    for k in range(n):
        svg.add(f'<rect class="c" x="{x + k * cw:.1f}" y="{y:.1f}" width="{cw}" height="{ch}" '
                f'fill="{_color(float(vals[k]), scale)}" data-q="{key}" data-i="{k}"><title>{_num(vals[k])}</title>'
                f'</rect>', x + (k + 1) * cw, y + ch)
    return n * cw


def _node(svg: _Svg, x: float, y: float, label: str, shape: str = "box", sub: str = "") -> None:
    if shape == "op":
        svg.add(f'<circle class="op" cx="{x}" cy="{y}" r="15"/>', x + 15, y + 15)
        svg.text(x, y + 5, label, "opl", "middle")
    else:
        w = max(46, 8 * len(label) + 14)
        svg.add(f'<rect class="{shape}" x="{x - w / 2}" y="{y - 16}" width="{w}" height="32" rx="6"/>',
                x + w / 2, y + 16)
        svg.text(x, y + 5, label, "nodel", "middle")
    if sub:
        svg.text(x, y - 22, sub, "sub", "middle")


def _line(svg: _Svg, pts: list[tuple[float, float]], arrow: bool = True, cls: str = "wire") -> None:
    d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in pts)
    marker = ' marker-end="url(#ah)"' if arrow else ""
    svg.add(f'<path class="{cls}" d="{d}"{marker}/>',
            max(p[0] for p in pts), max(p[1] for p in pts))


def _flow_diagram(page: _Page, run: Run, lt: Any) -> str:
    svg = _Svg()
    k = lt.kind
    if k in ("lstm", "lnlstm"):
        # state line
        _node(svg, 60, 70, "c_{t−1}", "state")
        _node(svg, 260, 70, "×", "op")
        _node(svg, 470, 70, "+", "op")
        _node(svg, 880, 70, "c_t", "state")
        _line(svg, [(90, 70), (244, 70)])
        _line(svg, [(276, 70), (454, 70)])
        _line(svg, [(486, 70), (850, 70)])
        _node(svg, 60, 330, "h_{t−1}", "state")
        _node(svg, 200, 400, "x_t", "state")
        _node(svg, 200, 330, "z = [x, h] (HX)", "cat")
        _line(svg, [(92, 330), (140, 330)])
        _line(svg, [(200, 384), (200, 348)])
        gates = [(260, "σ", "f (forget)", "fw:f"), (380, "σ", "i (input)", "fw:i"),
                 (500, "tanh", "g (Cproj)", "fw:g"), (640, "σ", "o (output)", "fw:o")]
        _line(svg, [(262, 330), (660, 330)], arrow=False)
        for gx, lab, sub, key in gates:
            _node(svg, gx, 240, lab, "gate", sub)
            _line(svg, [(gx, 330), (gx, 258)])
            _strip(page, svg, key, gx + 30, 250)
        _line(svg, [(260, 222), (260, 86)])  # f -> x
        _node(svg, 440, 150, "×", "op")
        _line(svg, [(380, 222), (380, 150), (424, 150)])
        _line(svg, [(500, 222), (500, 150), (456, 150)])
        _line(svg, [(440, 134), (466, 86)])
        _node(svg, 740, 150, "tanh", "gate")
        _line(svg, [(740, 70), (740, 132)])
        _node(svg, 740, 240, "×", "op")
        _line(svg, [(740, 168), (740, 224)])
        _line(svg, [(668, 240), (724, 240)])
        _node(svg, 880, 240, "h_t", "state")
        _line(svg, [(756, 240), (850, 240)])
        _strip(page, svg, "fw:c_prev", 20, 96)
        _strip(page, svg, "fw:c", 800, 96)
        _strip(page, svg, "fw:tanh_c", 770, 140)
        _strip(page, svg, "fw:h", 800, 266)
        _strip(page, svg, "fw:h_prev", 20, 356)
        if k == "lnlstm":
            svg.text(470, 40, "LN_state after the +; LN per gate before σ/tanh", "sub", "middle")
        eq = "c_t = f ⊙ c_{t−1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)"
    elif k == "gru":
        _node(svg, 60, 90, "h_{t−1}", "state")
        _node(svg, 200, 400, "x_t", "state")
        _node(svg, 200, 330, "[x, h]", "cat")
        _line(svg, [(60, 106), (60, 330), (164, 330)])
        _line(svg, [(200, 384), (200, 348)])
        _line(svg, [(236, 330), (560, 330)], arrow=False)
        for gx, lab, sub, key in [(300, "σ", "r (reset)", "fw:r"), (420, "σ", "z (update)", "fw:z"),
                                  (560, "tanh", "n (candidate)", "fw:n")]:
            _node(svg, gx, 240, lab, "gate", sub)
            _line(svg, [(gx, 330), (gx, 258)])
            _strip(page, svg, key, gx + 30, 250)
        _line(svg, [(300, 222), (300, 180), (540, 180), (552, 224)])
        _node(svg, 700, 150, "1−z", "op")
        _line(svg, [(420, 222), (420, 150), (684, 150)])
        _node(svg, 780, 240, "×", "op")
        _line(svg, [(578, 240), (764, 240)])
        _line(svg, [(712, 160), (770, 228)])
        _node(svg, 780, 90, "×", "op")
        _line(svg, [(92, 90), (764, 90)])
        _line(svg, [(420, 150), (420, 120), (770, 102)])
        _node(svg, 880, 165, "+", "op")
        _line(svg, [(796, 90), (872, 151)])
        _line(svg, [(796, 240), (872, 179)])
        _node(svg, 880, 290, "h_t", "state")
        _line(svg, [(880, 181), (880, 272)])
        _strip(page, svg, "fw:h_prev", 20, 116)
        _strip(page, svg, "fw:h", 830, 316)
        eq = "h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}"
    else:
        _node(svg, 60, 240, "h_{t−1}", "state")
        _node(svg, 200, 330, "x_t", "state")
        _node(svg, 200, 240, "z = [x, h]", "cat")
        _line(svg, [(92, 240), (150, 240)])
        _line(svg, [(200, 314), (200, 258)])
        _node(svg, 400, 240, "a = z Wᵀ + b", "gate")
        _line(svg, [(250, 240), (340, 240)])
        _node(svg, 600, 240, lt.meta.get("nonlinearity", "tanh"), "gate")
        _line(svg, [(460, 240), (570, 240)])
        _node(svg, 800, 240, "h_t", "state")
        _line(svg, [(630, 240), (770, 240)])
        _strip(page, svg, "fw:a", 350, 270)
        _strip(page, svg, "fw:h", 760, 270)
        _strip(page, svg, "fw:h_prev", 20, 270)
        eq = "h_t = φ(W_ih x_t + W_hh h_{t−1} + b)"
    body = (f'<p class="eq">{_esc(eq)}</p><p class="shape">The cell at <span class="tcur">t = {page.t}</span>; the '
            f'strips beside each node are its values (first 12 units, batch element shown above).</p>'
            f'<div class="scroll">{svg.render(label="flow diagram of one cell")}</div>')
    return _section("panel-flow-diagram", 'Forward propagation: one cell as a flow diagram '
                    '<span class="seedref">(seed figure 2)</span>', "figure-2", body)


def _head_panel(page: _Page, run: Run, lt: Any, head: dict) -> str:
    svg = _Svg()
    V = head["logits"].shape[-1]
    y0 = 40
    x = 10
    w, _ = page.vector(svg, "head:probs", None, x, y0, label="softmax p", total=V, cw=58)
    x += w + 12
    w, _ = page.vector(svg, "head:target", None, x, y0, label="target y", total=V, cw=58)
    x += w + 12
    w, _ = page.vector(svg, "head:dlogits", None, x, y0, label="dpred = DBy", total=V, cw=66)
    _row_labels(page, svg, x + w + 6, y0, "head:labels", V)
    x += w + 12 + 7 * max((len(s) for s in head["labels"][:CAP]), default=4) + 20
    if "head:dWy" in page.values:
        P = lt.forward["h"].shape[2]
        mw, _ = page.matrix(svg, "head:dWy", np.zeros((min(V, CAP_M), min(P, CAP_M))), x, y0,
                            label="DWy = dpred hᵀ", cw=16, ch=19)
        x += mw + 24
    page.vector(svg, "head:dy", None, x, y0, label="dy_t = W_yᵀ dpred", total=lt.forward["h"].shape[2], cw=66)
    steps = head.get("loss_steps", [])
    note = ("the loss reads only the last step here (the seed's window), so dpred and dy_t are zero elsewhere"
            if len(steps) == 1 else "the loss is the mean over all steps")
    body = (f'<p class="eq">dpred = (softmax(pred) − y) / N, DBy = Σ dpred, DWy = Σ dpred h<sub>t</sub>'
            f'<sup>⊤</sup>, dy{_T} = W<sub>y</sub><sup>⊤</sup> dpred</p>'
            f'<p class="shape">The feed-forward layer on top ("step 1" of the seed, its figures 8–11), at '
            f'<span class="tcur">t = {page.t}</span>; {note}. Only gradients are computed here; the optimizer '
            f'updates the weights once, at the end.</p>'
            f'<div class="scroll">{svg.render(label="dense layer gradients")}</div>')
    return _section("panel-head", 'Step 1: the feed-forward layer <span class="seedref">(DBy, DWy)</span>',
                    "figure-8", body)


def _backward_panel(page: _Page, run: Run, lt: Any, spec: dict, b: int) -> str:
    svg = _Svg()
    y0 = 40
    x = 10
    tops: list[tuple[float, float]] = []
    hmax = 0.0
    for key, label in spec["inputs"]:
        if key == "param:W":
            W, wname = _weights_matrix(lt)
            cell = 12 if min(W.shape[0], CAP_M) <= 16 else 8
            w, h = page.matrix(svg, None, W[:CAP_M, :CAP_M], x, y0, label=label, cw=cell, ch=cell,
                               full_shape=W.shape)
        else:
            q = key[3:]
            steps = lt.forward if key.startswith("fw:") else lt.backward
            w, h = page.vector(svg, key, None, x, y0, label=label, total=steps[q].shape[2])
        tops.append((x + w / 2, y0 + h))
        hmax = max(hmax, h)
        x += max(w, 7.0 * len(label)) + 30
    width_in = x - 30
    bx, by = max(width_in / 2, 60), y0 + hmax + 42
    svg.add(f'<circle class="op" cx="{bx:.1f}" cy="{by:.1f}" r="17"/>', bx + 17, by + 17)
    svg.text(bx, by + 5, spec["op"], "opl", "middle")
    for tx, ty in tops:
        svg.arrow(tx, ty + 4, bx, by - 19)
    ry = by + 62
    results = spec["results"]
    widths = [62.0] * len(results)
    gap = 140.0
    total_w = sum(widths) + gap * (len(results) - 1)
    rx = max(10.0, bx - total_w / 2)
    for (key, label), w in zip(results, widths):
        q = key[3:]
        rw, rh = page.vector(svg, key, None, rx, ry, label=label, total=lt.backward[q].shape[2], hl=True)
        svg.arrow(bx, by + 19, page.center, ry - 22)
        if spec.get("second") and key == results[0][0]:
            skey, slabel, sop = spec["second"]
            sx = rx + rw + 120
            svg.arrow(rx + rw + 8, ry + 20, sx - 8, ry + 20, curve=False)
            svg.text((rx + rw + sx) / 2, ry + 12, sop, "opt", "middle")
            page.vector(svg, skey, None, sx, ry, label=slabel, total=lt.backward[skey[3:]].shape[2])
        rx += w + gap
    if spec.get("weight"):
        dW, full = _weight_step_matrix(lt)
        wy = svg.h + 40
        page.matrix(svg, "bw:dW", np.zeros(dW.shape[1:]), 10, wy,
                    label=f"per-step weight gradient dW_t = da_tᵀ z_t ({full[0]}×{full[1]}, batch-summed;"
                          f" Σ over t = dW)", cw=12, ch=9, full_shape=full)
    q = spec["q"]
    arr = lt.backward[q] if q in lt.backward else None
    shape = tuple(arr.shape[1:]) if arr is not None else ()
    col = f"({shape[-1]}X1)" if shape else ""
    src = source_lines(lt.kind, spec["src"])
    if src:
        indent = min(len(s) - len(s.lstrip()) for _, s in src)
        code = "\n".join(f'<span class="ln">{n}</span>{_esc(s[indent:])}' for n, s in src)
        aside = (f'<aside class="src"><div class="srchead">bptt source: <code>{_source_file(lt.kind)}</code>, '
                 f'<code>backward</code></div><pre data-found="{len(src)}">{code}</pre></aside>')
    else:
        aside = ('<aside class="src"><div class="srchead">bptt source</div><pre data-found="0">'
                 '(the lines computing this quantity were not found in the source)</pre></aside>')
    title = (f'<span class="seedname">{spec["seed"]}</span> <span class="bpttname">bptt: '
             f'<code>{_esc(q)}</code></span>')
    body = (
        f'<div class="pbody"><div class="pfig"><p class="eq">{spec["eq"]}</p>'
        f'<p class="shape">Shape {shape} = (B, {shape[-1] if shape else "?"}); at batch element {b}: '
        f'<b>{col}</b>{" in this example, as in the seed" if run.seed_example else ""}. Values at '
        f'<span class="tcur">t = {page.t}</span>.</p>'
        f'<div class="scroll">{svg.render(label=spec["seed"])}</div>'
        f'<p class="note">{_esc(spec["note"])}</p></div>{aside}</div>'
    )
    return _section(f"panel-{spec['seed']}", title, spec["seed"], body, "bw")


def _chain_panel(page: _Page, run: Run, lt: Any, b: int) -> str:
    bw = lt.backward
    T = lt.T
    has_c = lt.kind in ("lstm", "lnlstm")
    dh_n = _per_seq_norm(bw["dh"], b)
    dc_n = _per_seq_norm(bw["dc"], b) if has_c else None
    hn_out = _per_seq_norm(bw["dh_next"], b)
    cn_out = _per_seq_norm(bw["dc_next"], b) if has_c else None
    svg = _Svg()
    bwid = 118 if T <= 12 else max(40, 1400 / T)
    gap = 92 if T <= 8 else (40 if T <= 12 else 14)
    y0 = 30
    order = list(lt.backward_order)
    # boxes in time order; arrows follow the backward pass
    for t in range(T):
        x = 10 + t * (bwid + gap)
        tok = f" · {run.tokens[t]}" if (run.tokens and t < len(run.tokens) and T <= 12) else ""
        svg.add(f'<rect class="stepbox{" cur" if t == page.t else ""}" data-step="{t}" x="{x:.1f}" y="{y0}" '
                f'width="{bwid:.1f}" height="86" rx="6"/>', x + bwid, y0 + 86)
        svg.text(x + bwid / 2, y0 + 16, f"t = {t}{tok}", "boxl", "middle")
        if T <= 12:
            svg.text(x + 8, y0 + 40, f"‖dh‖ {_num(dh_n[t])}", "small")
            if has_c:
                svg.text(x + 8, y0 + 58, f"‖dc‖ {_num(dc_n[t])}", "small")
            svg.text(x + 8, y0 + 76, f"visit #{order.index(t) + 1}", "small")
    for k in range(len(order) - 1):
        a, c = order[k], order[k + 1]
        xa = 10 + a * (bwid + gap) + (0 if c < a else bwid)
        xc = 10 + c * (bwid + gap) + (bwid if c < a else 0)
        svg.arrow(xa, y0 + 30, xc, y0 + 30, "arw carry", curve=False)
        if has_c:
            svg.arrow(xa, y0 + 62, xc, y0 + 62, "arw carryc", curve=False)
        if gap >= 80:  # the carried gradients' norms on the arrows
            mid = (xa + xc) / 2
            svg.text(mid, y0 + 24, f"dh_next {_num(hn_out[a])}", "tiny", "middle")
            if has_c:
                svg.text(mid, y0 + 56, f"dc_next {_num(cn_out[a])}", "tiny", "middle")
    if T <= 12:
        svg.text(10, y0 + 110, "arrows: dh_next (top) and dc_next (bottom) carried to the step visited next"
                 if has_c else "arrows: dh_next carried to the step visited next", "small")
    # norm curves
    cy = y0 + 150
    ch = 130
    cw = max(T * (bwid + gap) - gap, 300)
    svg.add(f'<rect class="plot" x="10" y="{cy}" width="{cw:.1f}" height="{ch}"/>', 10 + cw, cy + ch)
    series = [("‖dL/dh_t‖", dh_n, "#b2182b")] + ([("‖dL/dc_t‖", dc_n, "#2166ac")] if has_c else [])
    vmax = max(float(np.max(s)) for _, s, _ in series) or 1.0
    for idx, (lab, s, colr) in enumerate(series):
        pts = [(10 + t * (bwid + gap) + bwid / 2, cy + ch - 8 - (ch - 16) * float(s[t]) / vmax) for t in range(T)]
        d = "M" + " L".join(f"{px:.1f},{py:.1f}" for px, py in pts)
        svg.add(f'<path d="{d}" fill="none" stroke="{colr}" stroke-width="2"/>')
        for px, py in pts:
            svg.add(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colr}"/>')
        svg.text(18, cy + 16 + 15 * idx, lab, "small", extra=f' style="fill:{colr}"')
    svg.text(10, cy + ch + 16, f"max {_num(vmax)}; batch element {b}", "small")
    body = (f'<p class="eq">dh{_T} = dy{_T} + dh{_NEXT}(t+1)' + (f", dc{_T} = dc{_NEXT}(t+1) + …" if has_c else "")
            + f'</p><p class="shape">The backward pass visits the steps in the order {" → ".join(map(str, order))}, '
            f'carrying dh_next{" and dc_next" if has_c else ""} from each step to the next one it visits (the seed: '
            f'"repeat for remaining time steps"). Below: the gradient norms per step, the vanishing-gradient '
            f'picture of this run.</p><div class="scroll">{svg.render(label="chain through time")}</div>')
    return _section("panel-chain", "dh_next and dc_next back through time "
                    '<span class="seedref">(seed figure 7)</span>', "figure-7", body)


def _per_seq_norm(a: np.ndarray, b: int) -> np.ndarray:
    v = np.asarray(a[:, b], dtype=np.float64)
    return np.sqrt((v * v).sum(axis=-1))


def _flow_panel(images: dict[str, bytes]) -> str:
    imgs = "".join(
        f'<figure><img alt="{_esc(name)}" src="data:image/png;base64,{base64.b64encode(png).decode()}"/>'
        f"<figcaption>{_esc(name)}</figcaption></figure>" for name, png in images.items())
    body = ('<p class="shape">‖dL/dh_t‖ and ‖dL/dc_t‖ over t for an RNN, a GRU and an LSTM on the same data with the '
            'loss at the last step (first picture), and the per-gate gradient norms over training (second); see '
            '<code>bptt.viz.flow</code>.</p>' + f'<div class="flowimgs">{imgs}</div>')
    return _section("panel-gradient-flow", "Gradient flow: RNN vs GRU vs LSTM", "flow", body)


# ---------------------------------------------------------------------------------------------- PNG (no deps)
def png_bytes(rgb: np.ndarray) -> bytes:
    """Encode an ``(H, W, 3)`` uint8 array as PNG (zlib only)."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + rgb[i].tobytes() for i in range(h))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="bptt explain">
<title>{title}</title>
<style>{css}</style>
</head>
<body>
<header>
<h1>{h1}</h1>
<p class="desc">{desc}</p>
<p class="where">Shown: <b>{where}</b> ({kind}, T = {T}; backward visits {order}). Pick the time step:</p>
<nav class="steps">{steps}</nav>
<nav class="toc">{toc}</nav>
</header>
<main>
{sections}
</main>
<footer>Generated by <code>bptt explain</code> from a real forward and backward pass recorded with
<code>bptt.trace</code>; every number is a value the backward pass used. Self-contained: no network.</footer>
<script type="application/json" id="bptt-data">{data}</script>
<script>
var EXPECTED_PANELS = {expected};
{script}
</script>
</body>
</html>
"""

_CSS = """
:root { --fg:#1d1f23; --mut:#5b616b; --bg:#fbfbf8; --card:#fff; --line:#d9dbe0; --acc:#8a3b12; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 -apple-system, "Segoe UI", "DejaVu Sans", Helvetica, Arial, sans-serif;
  color:var(--fg); background:var(--bg); }
header { padding:18px 28px 8px; border-bottom:1px solid var(--line); background:#f3f1ea; }
h1 { margin:0 0 6px; font-size:22px; }
.desc, .where { margin:4px 0; max-width:1100px; color:#33363c; }
nav.steps { margin:8px 0; display:flex; flex-wrap:wrap; gap:6px; }
.stepbtn { font:inherit; font-size:13px; padding:3px 10px; border:1px solid #b9b4a5; border-radius:14px;
  background:#fff; cursor:pointer; }
.stepbtn.cur { background:var(--acc); color:#fff; border-color:var(--acc); }
nav.toc { display:flex; flex-wrap:wrap; gap:4px 14px; font-size:13px; padding:4px 0; }
nav.toc a { color:var(--acc); text-decoration:none; }
main { padding:8px 28px 30px; }
.panel { background:var(--card); border:1px solid var(--line); border-radius:8px; margin:16px 0;
  padding:12px 18px 14px; box-shadow:0 1px 2px rgba(0,0,0,.04); }
.panel h2 { margin:0 0 6px; font-size:18px; }
.seedname { color:var(--acc); font-size:21px; }
.bpttname { color:var(--mut); font-weight:normal; font-size:15px; margin-left:8px; }
.seedref { color:var(--mut); font-weight:normal; font-size:13px; }
.eq { font-family:"Cambria Math", "STIX Two Math", "DejaVu Serif", Georgia, serif; font-size:17px; margin:4px 0;
  font-style:italic; }
.shape, .note { color:var(--mut); font-size:13px; margin:4px 0; }
.note { max-width:760px; }
.pbody { display:grid; grid-template-columns:minmax(0,1fr) 380px; gap:14px; align-items:start; }
@media (max-width: 1100px) { .pbody { grid-template-columns:minmax(0,1fr); } }
.scroll { overflow-x:auto; }
aside.src { background:#f6f6f4; border:1px solid var(--line); border-radius:6px; padding:6px 8px; font-size:12px; }
.srchead { color:var(--mut); margin-bottom:4px; }
aside.src pre { margin:0; white-space:pre-wrap; font:12px/1.5 "DejaVu Sans Mono", Menlo, Consolas, monospace; }
.ln { display:inline-block; min-width:3.2em; color:#9aa0a8; user-select:none; }
svg.fig { display:block; }
svg .c { stroke:#8d8f94; stroke-width:.6; }
svg .m { stroke:#fff; stroke-width:.3; }
svg .v { font:10.5px "DejaVu Sans Mono", Menlo, monospace; fill:#111; }
svg .mv { font:7px monospace; fill:#111; }
svg .lbl, svg .vlbl { font:12px "DejaVu Sans", Arial, sans-serif; fill:#333; }
svg .vlbl { font-weight:bold; }
svg .rl { font:11px "DejaVu Sans", Arial, sans-serif; fill:#555; }
svg .tiny { font:10px "DejaVu Sans", Arial, sans-serif; fill:#444; }
svg .more, svg .small, svg .sub { font:11px "DejaVu Sans", Arial, sans-serif; fill:#666; }
svg .arw, svg .wire { fill:none; stroke:#555; stroke-width:1.4; }
svg .carry { stroke:#b2182b; } svg .carryc { stroke:#2166ac; }
svg .op { fill:#fff6e8; stroke:#8a3b12; stroke-width:1.4; }
svg .opl { font:15px "DejaVu Sans", Arial, sans-serif; fill:#8a3b12; font-weight:bold; }
svg .opt { font:12px "DejaVu Sans", Arial, sans-serif; fill:#8a3b12; }
svg .gate { fill:#eef3fb; stroke:#3a5f99; stroke-width:1.2; }
svg .state { fill:#f1f7ee; stroke:#487a3a; stroke-width:1.2; }
svg .cat { fill:#f7f0fa; stroke:#7a4a8c; stroke-width:1.2; }
svg .box { fill:#fff; stroke:#999; }
svg .nodel { font:13px "DejaVu Sans", Arial, sans-serif; fill:#222; }
svg .hl { fill:none; stroke:#8a3b12; stroke-width:1.6; }
svg .stepbox { fill:#fff; stroke:#aaa; stroke-width:1.2; }
svg .stepbox.cur { fill:#fff1e3; stroke:#8a3b12; stroke-width:2.2; }
svg .boxl { font:13px "DejaVu Sans", Arial, sans-serif; font-weight:bold; fill:#333; }
svg .plot { fill:#fcfcfc; stroke:#ddd; }
.flowimgs { display:flex; flex-wrap:wrap; gap:12px; }
.flowimgs img { max-width:100%; border:1px solid var(--line); }
footer { padding:10px 28px 24px; color:var(--mut); font-size:12px; }
"""

_SCRIPT = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("bptt-data").textContent);
  function fmt(v) {
    if (v === 0) return "0";
    var a = Math.abs(v);
    if (a >= 1e-3 && a < 1e4) return v.toFixed(4);
    var s = v.toExponential(2);
    return s;
  }
  function color(v, scale) {
    if (!scale) return "#ffffff";
    var t = Math.max(-1, Math.min(1, v / scale));
    var c = t >= 0 ? [214, 96, 77] : [67, 147, 195];
    var a = Math.abs(t);
    function ch(x) { var h = Math.round(255 + (x - 255) * a).toString(16); return h.length < 2 ? "0" + h : h; }
    return "#" + ch(c[0]) + ch(c[1]) + ch(c[2]);
  }
  function show(t) {
    data.t = t;
    var els = document.querySelectorAll("[data-q]");
    for (var k = 0; k < els.length; k++) {
      var el = els[k], key = el.getAttribute("data-q"), i = +el.getAttribute("data-i");
      var row = data.values[key] && data.values[key][t];
      if (!row || i >= row.length) continue;
      var v = row[i];
      if (el.tagName.toLowerCase() === "text") { el.textContent = fmt(v); }
      else {
        el.setAttribute("fill", color(v, data.scales[key]));
        var tt = el.querySelector("title"); if (tt) tt.textContent = fmt(v);
      }
    }
    var labs = document.querySelectorAll("[data-l]");
    for (var j = 0; j < labs.length; j++) {
      var l = labs[j], lk = l.getAttribute("data-l"), li = +l.getAttribute("data-i");
      var lr = data.labels[lk] && data.labels[lk][t];
      if (lr && li < lr.length) l.textContent = lr[li];
    }
    var cur = document.querySelectorAll(".tcur");
    for (var c = 0; c < cur.length; c++) cur[c].textContent = "t = " + t;
    var btns = document.querySelectorAll(".stepbtn");
    for (var b = 0; b < btns.length; b++) btns[b].classList.toggle("cur", +btns[b].getAttribute("data-step") === t);
    var boxes = document.querySelectorAll(".stepbox");
    for (var q = 0; q < boxes.length; q++) boxes[q].classList.toggle("cur", +boxes[q].getAttribute("data-step") === t);
    document.title = document.title.replace(/t = \d+$/, "t = " + t);
  }
  var btns = document.querySelectorAll(".stepbtn");
  for (var b = 0; b < btns.length; b++) {
    btns[b].addEventListener("click", function (ev) {
      var t = +ev.currentTarget.getAttribute("data-step");
      show(t);
      if (window.history && history.replaceState) history.replaceState(null, "", "#t=" + t);
    });
  }
  var m = /(?:^#|&)t=(\d+)/.exec(window.location.hash || "");
  if (m && +m[1] < data.T) data.t = +m[1];
  // Self-test (read by the test suite through the DOM): panels present, visible and not empty.
  var errors = 0;
  window.addEventListener("error", function () { errors += 1; });
  function selftest() {
    var panels = document.querySelectorAll("section.panel"), visible = 0, ids = [];
    for (var p = 0; p < panels.length; p++) {
      var r = panels[p].getBoundingClientRect(), st = window.getComputedStyle(panels[p]);
      var svg = panels[p].querySelector("svg, img");
      if (r.width > 50 && r.height > 50 && st.visibility !== "hidden" && st.display !== "none" && svg &&
          svg.getBoundingClientRect().height > 20) { visible += 1; ids.push(panels[p].id); }
    }
    var cells = document.querySelectorAll("rect[data-q]").length;
    document.documentElement.setAttribute("data-selftest", "panels:" + panels.length + " visible:" + visible +
      " expected:" + EXPECTED_PANELS + " cells:" + cells + " errors:" + errors);
    document.documentElement.setAttribute("data-visible-panels", ids.join(" "));
  }
  show(data.t);
  selftest();
})();
"""

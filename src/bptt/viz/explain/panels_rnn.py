"""The Elman RNN's page: dHt, the pre-activation's gradient and dHX, quoting
:func:`bptt.functional.reference.rnn.step_backward`; the flow diagram of one cell."""

from __future__ import annotations

from typing import Any

from .spec import NEXT, T_, TM1, KindView, PanelSpec, dh_panel, pytorch_weight_steps, pytorch_weights, sub
from .svg import Svg
from .widgets import PageData

__all__ = ["VIEW"]

PANELS = (
    dh_panel("From the layer above plus from step t+1."),
    PanelSpec(
        seed="dAt", q="da", eq=f"da{T_} = dh{T_} ⊙ φ′(a{T_})",
        inputs=(("bw:dh", "dh_{t}"), ("fw:h", "h_{t}")), op="⊙", results=(("bw:da", "da_{t}"),), quote=("dphi", "da"),
        note="φ′ = 1 − h² for tanh, [a > 0] for ReLU. Repeated products of diag(φ′)·W_hh are where the gradient "
             "vanishes or explodes."),
    PanelSpec(
        seed="dHX", q="dz", eq=f"dz{T_} = da{T_} [W{sub('ih')}, W{sub('hh')}] = [dx{T_}, dh{NEXT}]",
        inputs=(("bw:da", "da_{t}"), ("param:W", "[W_ih, W_hh]")), op="·W",
        results=(("bw:dx", "dx_{t}"), ("bw:dh_next", "dh_{next} (to t−1)")), weight=True,
        quote=("dz", "dx", "dh_next", "dW_ih", "dW_hh"),
        note="z = [x_{t}, h_{t−1}] is the seed's HX: its gradient splits into the input's gradient and the one "
             "carried to step t−1."),
)


def forward_equations(lt: Any) -> str:
    nl = lt.meta.get("nonlinearity", "tanh")
    return f"a{T_} = W{sub('ih')} x{T_} + W{sub('hh')} h{TM1} + b; h{T_} = {nl}(a{T_})"


def rnn_flow(page: PageData, svg: Svg, lt: Any) -> str:
    """One Elman cell: [x, h] -> a -> phi -> h."""
    y = 60
    svg.node(60, y, "h_{t−1}", "state")
    page.strip(svg, "fw:h_prev", 20, y + 24)
    svg.node(200, y + 90, "x_{t}", "state")
    zw = svg.node(200, y, "z = [x, h]", "cat")
    svg.polyline([(92, y), (200 - zw / 2 - 2, y)])
    svg.polyline([(200, y + 74), (200, y + 18)])
    aw = svg.node(400, y, "a = z Wᵀ + b", "gate")
    page.strip(svg, "fw:a", 400 - aw / 2, y + 24)
    svg.polyline([(200 + zw / 2, y), (400 - aw / 2 - 2, y)])
    pw = svg.node(600, y, lt.meta.get("nonlinearity", "tanh"), "gate")
    svg.polyline([(400 + aw / 2, y), (600 - pw / 2 - 2, y)])
    svg.node(800, y, "h_{t}", "state")
    page.strip(svg, "fw:h", 760, y + 24)
    svg.polyline([(600 + pw / 2, y), (770, y)])
    return "h_{t} = φ(W_{ih} x_{t} + W_{hh} h_{t−1} + b)"


VIEW = KindView(
    kind="rnn", panels=PANELS, gates=(), gate_blocks=("a",), states=(("fw:h", "h_{t}"),), weights=pytorch_weights,
    weight_steps=pytorch_weight_steps, forward_equations=forward_equations, flow=rnn_flow,
)

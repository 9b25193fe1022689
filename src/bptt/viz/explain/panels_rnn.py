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
    svg.node(60, 240, "h_{t−1}", "state")
    svg.node(200, 330, "x_{t}", "state")
    svg.node(200, 240, "z = [x, h]", "cat")
    svg.polyline([(92, 240), (150, 240)])
    svg.polyline([(200, 314), (200, 258)])
    svg.node(400, 240, "a = z Wᵀ + b", "gate")
    svg.polyline([(250, 240), (340, 240)])
    svg.node(600, 240, lt.meta.get("nonlinearity", "tanh"), "gate")
    svg.polyline([(460, 240), (570, 240)])
    svg.node(800, 240, "h_{t}", "state")
    svg.polyline([(630, 240), (770, 240)])
    page.strip(svg, "fw:a", 350, 270)
    page.strip(svg, "fw:h", 760, 270)
    page.strip(svg, "fw:h_prev", 20, 270)
    return "h_{t} = φ(W_ih x_{t} + W_hh h_{t−1} + b)"


VIEW = KindView(
    kind="rnn", panels=PANELS, gates=(), gate_blocks=("a",), states=(("fw:h", "h_{t}"),), weights=pytorch_weights,
    weight_steps=pytorch_weight_steps, forward_equations=forward_equations, flow=rnn_flow,
)

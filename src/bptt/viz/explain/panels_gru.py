"""The GRU's page: dHt, then the candidate's, the update gate's and the reset gate's gradients and what leaves
the cell, quoting :func:`bptt.functional.reference.gru.step_backward`; the flow diagram of one GRU cell."""

from __future__ import annotations

from typing import Any

from .panels_lstm import gate
from .spec import NEXT, T_, TM1, KindView, PanelSpec, dh_panel, pytorch_weight_steps, pytorch_weights, sub
from .svg import Svg
from .widgets import PageData

__all__ = ["VIEW"]

PANELS = (
    dh_panel("As for the LSTM: the gradient from the layer above plus the one carried back from step t+1."),
    PanelSpec(
        seed="dNt", q="dn", eq=f"dn{T_} = dh{T_} ⊙ (1 − z{T_})",
        inputs=(("bw:dh", "dh_{t}"), ("fw:z", "z_{t} (update gate)")), op="⊙", results=(("bw:dn", "dn_{t}"),),
        second=("bw:da_n", "da_{n}", "⊙ (1−n²)"), quote=("dn", "da_n"),
        note="h_{t} = (1 − z) ⊙ n + z ⊙ h_{t−1}: the candidate n gets the (1 − z) share."),
    PanelSpec(
        seed="dZt", q="dz", eq=f"dz{T_} = dh{T_} ⊙ (h{TM1} − n{T_})",
        inputs=(("bw:dh", "dh_{t}"), ("fw:h_prev", "h_{t−1}"), ("fw:n", "n_{t}")), op="⊙",
        results=(("bw:dz", "dz_{t} (update gate)"),), second=("bw:da_z", "da_{z}", "⊙ z(1−z)"), quote=("dz", "da_z"),
        note="For a GRU, dz is the update gate's gradient (not the seed's dHX)."),
    PanelSpec(
        seed="dRt", q="dr", eq=f"dr{T_} = da{sub('n')} ⊙ (h{TM1} W{sub('hn')}<sup>⊤</sup> + b{sub('hn')})",
        inputs=(("bw:da_n", "da_{n}"), ("fw:gh_n", "h_{t−1}W_hnᵀ + b_hn")), op="⊙", results=(("bw:dr", "dr_{t}"),),
        second=("bw:da_r", "da_{r}", "⊙ r(1−r)"), quote=("dr", "da_r"),
        note="The reset gate multiplies the recurrent projection including b_hn (PyTorch's GRU)."),
    PanelSpec(
        seed="dHX", q="dh_next",
        eq=f"dh{NEXT} = dh{T_} ⊙ z{T_} + dgh{T_} W{sub('hh')},  dx{T_} = dgx{T_} W{sub('ih')}",
        inputs=(("bw:dgh", "dgh_{t} = [da_{r}, da_{z}, r ⊙ da_{n}]"), ("param:W_hh", "W_hh")), op="·W",
        results=(("bw:dx", "dx_{t}"), ("bw:dh_next", "dh_{next} (to t−1)")), weight=True,
        quote=("dgx", "dgh", "dx", "dh_next", "dW_ih", "dW_hh"),
        note="The gradients leaving the cell: to the input (dx) and to step t−1 (dh_{next}), which also gets the "
             "direct z ⊙ dh path."),
)


def forward_equations(lt: Any) -> str:
    return (f"r, z = σ(x{T_} W<sub>ir,iz</sub><sup>⊤</sup> + h{TM1} W<sub>hr,hz</sub><sup>⊤</sup> + b); "
            f"n = tanh(x{T_} W<sub>in</sub><sup>⊤</sup> + b<sub>in</sub> + r ⊙ (h{TM1} W<sub>hn</sub><sup>⊤</sup>"
            f" + b<sub>hn</sub>)); h{T_} = (1 − z) ⊙ n + z ⊙ h{TM1}")


_R, _Z, _N = 320, 470, 620  # the gates' columns
_MIX, _SUM = 780, 940  # the (1 - z) n and z h_{t-1} products; their sum


def gru_flow(page: PageData, svg: Svg, lt: Any) -> str:
    """One GRU cell: h_{t-1} on top, the gates in the middle, [x, h] below; r feeds the candidate n."""
    svg.node(60, 90, "h_{t−1}", "state")
    page.strip(svg, "fw:h_prev", 20, 114)
    svg.node(200, 410, "x_{t}", "state")
    zw = svg.node(200, 330, "[x, h]", "cat")
    svg.polyline([(60, 140), (60, 330), (200 - zw / 2 - 2, 330)])
    svg.polyline([(200, 394), (200, 348)])
    svg.polyline([(200 + zw / 2, 330), (_N, 330)], arrow=False)
    for x, op, name, key in ((_R, "σ", "r (reset)", "fw:r"), (_Z, "σ", "z (update)", "fw:z"),
                             (_N, "tanh", "n (candidate)", "fw:n")):
        svg.polyline([(x, 330), (x, 258)])
        gate(page, svg, x, 240, op, name, key)
    svg.polyline([(_R, 222), (_R, 180), (_N, 180), (_N, 223)])  # r gates the candidate's recurrent part
    svg.text(_Z + 8, 174, "r ⊙ (W_hn h_{t−1} + b_hn)", "sub")
    svg.node(_MIX, 150, "1−z", "op")
    svg.polyline([(_Z, 222), (_Z, 150), (_MIX - 17, 150)])
    svg.polyline([(_Z, 150), (_Z, 120), (_SUM - 80, 120), (_SUM - 80, 106)])  # z -> z h_{t-1}
    svg.node(_MIX, 240, "×", "op")
    svg.polyline([(_N + 26, 240), (_MIX - 17, 240)])
    svg.polyline([(_MIX, 166), (_MIX, 223)])
    svg.node(_SUM - 80, 90, "×", "op")
    svg.polyline([(92, 90), (_SUM - 97, 90)])
    svg.node(_SUM, 165, "+", "op")
    svg.polyline([(_SUM - 68, 101), (_SUM - 11, 153)])
    svg.polyline([(_MIX + 14, 232), (_SUM - 11, 177)])
    svg.node(_SUM, 290, "h_{t}", "state")
    page.strip(svg, "fw:h", _SUM - 40, 314)
    svg.polyline([(_SUM, 181), (_SUM, 272)])
    return "h_{t} = (1 − z) ⊙ n + z ⊙ h_{t−1}"


VIEW = KindView(
    kind="gru", panels=PANELS,
    gates=(("fw:r", "r_{t} σ"), ("fw:z", "z_{t} σ"), ("fw:n", "n_{t} tanh")), gate_blocks=("r", "z", "n"),
    states=(("fw:h", "h_{t}"),), weights=pytorch_weights, weight_steps=pytorch_weight_steps,
    forward_equations=forward_equations, flow=gru_flow,
)

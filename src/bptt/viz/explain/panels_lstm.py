"""The LSTM's page: seed 000's eight backward panels (dHt, dOt, dCt, dCprojt, dFt, dIt, dHX, dC_next), each
quoting the lines of :func:`bptt.functional.reference.lstm.step_backward` that assign its quantity, and the flow
diagram of one cell (shared with the layer-norm LSTM)."""

from __future__ import annotations

from typing import Any

from .spec import NEXT, T_, TM1, KindView, PanelSpec, dh_panel, pytorch_weight_steps, pytorch_weights, sub
from .svg import Svg
from .widgets import STRIP_WIDTH, PageData

__all__ = ["VIEW", "gate", "lstm_flow"]


def _peep(lt: Any, term: str) -> str:
    return f" + {term}" if lt.meta.get("peepholes") else ""


PANELS = (
    dh_panel("The gradient reaching h_{t}: from the layer above (dy_{t}: the dense head, or the next layer) plus "
             "the recurrent gradient dh_{next} carried back from step t+1. Shape as h."),
    PanelSpec(
        seed="dOt", q="do", eq=f"do{T_} = dh{T_} ⊙ tanh(c{T_})",
        inputs=(("bw:dh", "dh_{t}"), ("fw:tanh_c", "tanh(c_{t})")), op="⊙", results=(("bw:do", "do_{t} = dOt"),),
        second=("bw:da_o", "da_{o}", "⊙ o(1−o)"), quote=("dr", "do", "da_o"),
        note="h = o ⊙ tanh(c): the output gate's gradient is dh ⊙ tanh(c_{t}) (with a projection, dr = dh W_hr "
             "takes dh's place). Through the sigmoid, da_{o} = do ⊙ o(1−o) is the gradient of the gate's "
             "pre-activation, the one that reaches the weights."),
    PanelSpec(
        seed="dCt", q="dc",
        eq=lambda lt: (f"dc{T_} = dc{NEXT} + dh{T_} ⊙ o{T_} ⊙ (1 − tanh²(c{T_}))"
                       + _peep(lt, f"da{sub('o')} ⊙ p{sub('o')}")),
        inputs=(("bw:dc_next_in", "dc_{next} (from t+1)"), ("bw:dh", "dh_{t}"), ("fw:o", "o_{t}"),
                ("fw:tanh_c", "tanh(c_{t})")), op="+⊙", results=(("bw:dc", "dc_{t} = dCt"),), quote=("dc",),
        note="The cell state's gradient: the carried dc_{next} plus what flows in through h_{t} = o ⊙ tanh(c_{t}) "
             "(and, with peepholes, through the output gate's look at c_{t})."),
    PanelSpec(
        seed="dCprojt", q="dg", eq=f"dg{T_} = dc{T_} ⊙ i{T_}",
        inputs=(("bw:dc", "dc_{t}"), ("fw:i", "i_{t}")), op="⊙", results=(("bw:dg", "dg_{t} = dCprojt"),),
        second=("bw:da_g", "da_{g}", "⊙ (1−g²)"), quote=("dg", "da_g"),
        note="Cproj is the seed's name for the candidate g = tanh(a_{g}); c = f ⊙ c_{t−1} + i ⊙ g gives it "
             "dc ⊙ i, and the tanh turns that into da_{g} = dg ⊙ (1 − g²)."),
    PanelSpec(
        seed="dFt", q="df", eq=f"df{T_} = dc{T_} ⊙ c{TM1}",
        inputs=(("bw:dc", "dc_{t}"), ("fw:c_prev", "c_{t−1}")), op="⊙", results=(("bw:df", "df_{t} = dFt"),),
        second=("bw:da_f", "da_{f}", "⊙ f(1−f)"), quote=("df", "da_f"),
        note="The forget gate's gradient: dc ⊙ c_{t−1}; through the sigmoid, da_{f} = df ⊙ f(1−f)."),
    PanelSpec(
        seed="dIt", q="di", eq=f"di{T_} = dc{T_} ⊙ g{T_}",
        inputs=(("bw:dc", "dc_{t}"), ("fw:g", "g_{t} (Cproj)")), op="⊙", results=(("bw:di", "di_{t} = dIt"),),
        second=("bw:da_i", "da_{i}", "⊙ i(1−i)"), quote=("di", "da_i"),
        note="The input gate's gradient: dc ⊙ g; through the sigmoid, da_{i} = di ⊙ i(1−i)."),
    PanelSpec(
        seed="dHX", q="dz", eq=f"dz{T_} = da{T_} [W{sub('ih')}, W{sub('hh')}] = [dx{T_}, dh{NEXT}]",
        inputs=(("bw:da", "da_{t} = [da_{i}, da_{f}, da_{g}, da_{o}]"), ("param:W", "[W_ih, W_hh]")), op="·W",
        results=(("bw:dx", "dx_{t}"), ("bw:dh_next", "dh_{next} (to t−1)")), weight=True,
        quote=("da", "dz", "dx", "dh_next", "dW_ih", "dW_hh"),
        note="z = [x_{t}, h_{t−1}] is the seed's HX. Its gradient splits into dx_{t} (for learned inputs such as "
             "embeddings) and dh_{next}, carried to step t−1. The step's share of the weight gradient is "
             "da_{t}ᵀ z_{t} (below); summed over the steps it is dW."),
    PanelSpec(
        seed="dC_next", q="dc_next",
        eq=lambda lt: f"dc{NEXT} = dc{T_} ⊙ f{T_}" + _peep(lt, f"da{sub('i')} ⊙ p{sub('i')} + da{sub('f')} ⊙ "
                                                              f"p{sub('f')}"),
        inputs=(("bw:dc", "dc_{t}"), ("fw:f", "f_{t}")), op="⊙", results=(("bw:dc_next", "dc_{next} (to t−1)"),),
        quote=("dc_next",),
        note="The cell state's gradient carried to step t−1 (the seed's DCt_recur): c = f ⊙ c_{t−1} + i ⊙ g "
             "passes dc back through the forget gate."),
)


def forward_equations(lt: Any) -> str:
    fb = lt.meta.get("forget_bias") or 0.0
    peep = lt.meta.get("peepholes")
    pi, pf, po = (f" + p{sub(g)} ⊙ c{TM1 if g != 'o' else T_}" if peep else "" for g in "ifo")
    return (f"a{T_} = W{sub('ih')} x{T_} + b{sub('ih')} + W{sub('hh')} h{TM1} + b{sub('hh')}"
            f"{f' (+ forget_bias {fb:g} on the f rows)' if fb else ''}; "
            f"i = σ(a<sup>i</sup>{pi}), f = σ(a<sup>f</sup>{pf}), g = tanh(a<sup>g</sup>) (Cproj); "
            f"c{T_} = f ⊙ c{TM1} + i ⊙ g; o = σ(a<sup>o</sup>{po}); h{T_} = o ⊙ tanh(c{T_})"
            + (f" W{sub('hr')}<sup>⊤</sup>" if lt.meta.get("projection") else ""))


def gate(page: PageData, svg: Svg, x: float, y: float, op: str, name: str, key: str) -> None:
    """A gate of a flow diagram: its node at ``(x, y)``, its name to the left (clear of the wires, which run
    vertically through the node) and its values in a strip below-right, between the node and the bus."""
    w = svg.node(x, y, op, "gate")
    svg.text(x - w / 2 - 6, y + 5, name, "sub", "end")
    page.strip(svg, key, x + 8, y + 28)


#: x of the LSTM diagram's columns: the four gates (STRIP_WIDTH apart and more), the cell's output side.
_F, _I, _G, _O = 320, 470, 620, 770
_IG = (_I + _G) // 2  # i ⊙ g, right under the + of the state line
_TANH, _OUT = 920, 1070


def lstm_flow(page: PageData, svg: Svg, lt: Any) -> str:
    """Seed figure 2: the cell state line on top, the gates in the middle, [x, h] below; every strip sits in
    its own cell of the grid, whatever H."""
    assert _I - _F > STRIP_WIDTH + 20
    svg.node(60, 70, "c_{t−1}", "state")
    page.strip(svg, "fw:c_prev", 20, 94)
    svg.node(_F, 70, "×", "op")
    svg.node(_IG, 70, "+", "op")
    svg.node(_OUT, 70, "c_{t}", "state")
    page.strip(svg, "fw:c", _OUT - 40, 94)
    svg.polyline([(90, 70), (_F - 16, 70)])
    svg.polyline([(_F + 16, 70), (_IG - 16, 70)])
    svg.polyline([(_IG + 16, 70), (_OUT - 30, 70)])
    # the gates, fed by the bus z = [x, h]
    svg.node(60, 330, "h_{t−1}", "state")
    page.strip(svg, "fw:h_prev", 20, 354)
    svg.node(200, 410, "x_{t}", "state")
    zw = svg.node(200, 330, "z = [x, h] (HX)", "cat")
    svg.polyline([(92, 330), (200 - zw / 2 - 2, 330)])
    svg.polyline([(200, 394), (200, 348)])
    svg.polyline([(200 + zw / 2, 330), (_O, 330)], arrow=False)
    for x, op, name, key in ((_F, "σ", "f (forget)", "fw:f"), (_I, "σ", "i (input)", "fw:i"),
                             (_G, "tanh", "g (Cproj)", "fw:g"), (_O, "σ", "o (output)", "fw:o")):
        svg.polyline([(x, 330), (x, 258)])
        gate(page, svg, x, 240, op, name, key)
    svg.polyline([(_F, 222), (_F, 87)])  # f -> the product with c_{t-1}
    svg.node(_IG, 150, "×", "op")
    svg.polyline([(_I, 222), (_I, 150), (_IG - 17, 150)])
    svg.polyline([(_G, 222), (_G, 150), (_IG + 17, 150)])
    svg.polyline([(_IG, 134), (_IG, 87)])  # i g -> the sum
    # the output side
    svg.polyline([(_TANH, 70), (_TANH, 132)])
    svg.node(_TANH, 150, "tanh", "gate")
    page.strip(svg, "fw:tanh_c", _TANH + 34, 145)
    svg.node(_TANH, 240, "×", "op")
    svg.polyline([(_TANH, 168), (_TANH, 223)])
    svg.polyline([(_O + 24, 240), (_TANH - 17, 240)])
    svg.node(_OUT, 240, "h_{t}", "state")
    page.strip(svg, "fw:h", _OUT - 40, 264)
    svg.polyline([(_TANH + 16, 240), (_OUT - 26, 240)])
    if lt.kind == "lnlstm":
        svg.text(_IG, 38, "LN_{state} after the +; LN per gate before σ / tanh", "sub", "middle")
    return "c_{t} = f ⊙ c_{t−1} + i ⊙ g,   h_{t} = o ⊙ tanh(c_{t})"


VIEW = KindView(
    kind="lstm", panels=PANELS,
    gates=(("fw:f", "f_{t} σ"), ("fw:i", "i_{t} σ"), ("fw:g", "g_{t} tanh (Cproj)"), ("fw:o", "o_{t} σ")),
    gate_blocks=("i", "f", "g", "o"),
    states=(("fw:c_prev", "c_{t−1}"), ("fw:c", "c_{t}"), ("fw:tanh_c", "tanh(c_{t})"), ("fw:h", "h_{t}")),
    weights=pytorch_weights, weight_steps=pytorch_weight_steps, forward_equations=forward_equations,
    flow=lstm_flow,
)

"""The sLSTM's page (xLSTM, Beck et al. 2024): the LSTM's panels grown by the normaliser n, the stabiliser m and
the exponential gates, quoting :func:`bptt.functional.reference.slstm.step_backward`: dHt, dOt, dCt, dNt,
dCprojt (the cell input z), dIt, dFt, dMt (the stabiliser), the two branches of its max (dLogIt, dLogFt), dHX
and what is carried to step t-1; the flow diagram of one cell."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...functional.reference.slstm import block_diagonal
from .panels_lstm import gate
from .spec import NEXT, T_, TM1, KindView, PanelSpec, dh_panel, sub
from .svg import Svg
from .widgets import PageData

__all__ = ["VIEW"]

_P = "′"  # the prime of the stabilised gates i', f'

PANELS = (
    dh_panel("The gradient reaching h_{t}: from the layer above (dy_{t}) plus the one carried back from step t+1."),
    PanelSpec(
        seed="dOt", q="do", eq=f"do{T_} = dh{T_} ⊙ h̃{T_}",
        inputs=(("bw:dh", "dh_{t}"), ("fw:h_tilde", "h̃_{t} = c_{t} / n_{t}")), op="⊙",
        results=(("bw:do", "do_{t} = dOt"),), second=("bw:da_o", "da_{o}", "⊙ o(1−o)"), quote=("do", "da_o"),
        note="h = o ⊙ h̃: as for the LSTM, with the normalised state h̃ = c / n in the place of tanh(c)."),
    PanelSpec(
        seed="dCt", q="dc", eq=f"dh̃{T_} = dh{T_} ⊙ o{T_},  dc{T_} = dc{NEXT} + dh̃{T_} / n{T_}",
        inputs=(("bw:dc_next_in", "dc_{next} (from t+1)"), ("bw:dh_tilde", "dh̃_{t} = dh ⊙ o"), ("fw:n", "n_{t}")),
        op="+ ÷", results=(("bw:dc", "dc_{t} = dCt"),), quote=("dh_tilde", "dc"),
        note="The cell state's gradient: the carried dc_{next} plus what flows in through h̃ = c / n, divided by "
             "the normaliser."),
    PanelSpec(
        seed="dNt", q="dn", eq=f"dn{T_} = dn{NEXT} − dh̃{T_} ⊙ h̃{T_} / n{T_}",
        inputs=(("bw:dn_next_in", "dn_{next} (from t+1)"), ("bw:dh_tilde", "dh̃_{t}"), ("fw:h_tilde", "h̃_{t}"),
                ("fw:n", "n_{t}")), op="− ⊙ ÷", results=(("bw:dn", "dn_{t} (normaliser)"),), quote=("dn",),
        note="The normaliser n_{t} = f′ ⊙ n_{t−1} + i′ only divides: ∂(c/n)/∂n = −c/n² = −h̃/n. It carries its own "
             "gradient back through time, beside dc."),
    PanelSpec(
        seed="dCprojt", q="dz", eq=f"dz{T_} = dc{T_} ⊙ i{_P}{T_}",
        inputs=(("bw:dc", "dc_{t}"), ("fw:i", "i′_{t} (stabilised)")), op="⊙",
        results=(("bw:dz", "dz_{t} = dCprojt"),), second=("bw:da_z", "da_{z}", "⊙ (1−z²)"), quote=("dz", "da_z"),
        note="z = tanh(z̃) is the cell input (the LSTM's g, the seed's Cproj); c = f′ ⊙ c_{t−1} + i′ ⊙ z gives it "
             "dc ⊙ i′."),
    PanelSpec(
        seed="dIt", q="di", eq=f"di{_P}{T_} = dc{T_} ⊙ z{T_} + dn{T_}",
        inputs=(("bw:dc", "dc_{t}"), ("fw:z", "z_{t}"), ("bw:dn", "dn_{t}")), op="⊙ +",
        results=(("bw:di", "di′_{t} = dIt"),), quote=("di",),
        note="The stabilised input gate i′ enters both c (times z) and n (alone), so it collects from both."),
    PanelSpec(
        seed="dFt", q="df", eq=f"df{_P}{T_} = dc{T_} ⊙ c{TM1} + dn{T_} ⊙ n{TM1}",
        inputs=(("bw:dc", "dc_{t}"), ("fw:c_prev", "c_{t−1}"), ("bw:dn", "dn_{t}"), ("fw:n_prev", "n_{t−1}")),
        op="⊙ + ⊙", results=(("bw:df", "df′_{t} = dFt"),), quote=("df",),
        note="Likewise the stabilised forget gate f′ scales both states of step t−1."),
    PanelSpec(
        seed="dMt", q="dm", eq=f"dm{T_} = dm{NEXT} − di{_P}{T_} ⊙ i{_P}{T_} − df{_P}{T_} ⊙ f{_P}{T_}",
        inputs=(("bw:dm_next_in", "dm_{next} (from t+1)"), ("bw:di", "di′_{t}"), ("fw:i", "i′_{t}"),
                ("bw:df", "df′_{t}"), ("fw:f", "f′_{t}")), op="− ⊙",
        results=(("bw:dm", "dm_{t} (stabiliser)"),), quote=("dm",),
        note="m_{t} enters i′ = exp(log i − m) and f′ = exp(log f + m_{t−1} − m) with a minus. Substituted, "
             "dm_{t} = dm_{next} − c ⊙ dc_{next} − n ⊙ dn_{next}: the stabiliser's gradient is carried back "
             "unchanged, and when the loss reads h only it is zero up to rounding (m cancels in h̃ = c / n)."),
    PanelSpec(
        seed="dLogIt", q="dlog_i", eq=f"d log i{T_} = di{_P} ⊙ i{_P} + [input wins] dm{T_},  da<sub>i</sub> = "
                                     f"d log i{T_}",
        inputs=(("bw:di", "di′_{t}"), ("fw:i", "i′_{t}"), ("bw:dm", "dm_{t}")), op="⊙ +",
        results=(("bw:dlog_i", "d log i_{t}"),), second=("bw:da_i", "da_{i}", "= (log i = ĩ)"),
        quote=("forget_wins", "dlog_i", "da_i"),
        note="m_{t} = max(log f + m_{t−1}, log i): the max is differentiated as written, so dm goes to the argument "
             "that won. When the input branch wins, log i gets dm besides di′ ⊙ i′. The input gate is exponential, "
             "log i = ĩ, so this is already the pre-activation's gradient."),
    PanelSpec(
        seed="dLogFt", q="dlog_f",
        eq=lambda lt: (f"d log f{T_} = df{_P} ⊙ f{_P} + [forget wins] dm{T_},  da<sub>f</sub> = d log f{T_}"
                       + (" ⊙ (1 − σ(f̃))" if lt.meta.get("forget_gate", "sigmoid") == "sigmoid" else "")),
        inputs=(("bw:df", "df′_{t}"), ("fw:f", "f′_{t}"), ("bw:dm", "dm_{t}")), op="⊙ +",
        results=(("bw:dlog_f", "d log f_{t}"),), second=("bw:da_f", "da_{f}", "⊙ (1−σ(f̃))"),
        quote=("forget_wins", "dlog_f", "a_f", "da_f"),
        note="The other branch of the max: when log f + m_{t−1} ≥ log i (ties go here) the forget gate gets dm. "
             "With the sigmoid forget gate, log f = log σ(f̃) and d log σ(a)/da = 1 − σ(a); with the exponential "
             "one, log f = f̃."),
    PanelSpec(
        seed="dHX", q="dh_next",
        eq=f"da{T_} = [da<sub>i</sub>, da<sub>f</sub>, da<sub>z</sub>, da<sub>o</sub>],  dx{T_} = da{T_} "
           f"W{sub('ih')},  dh{NEXT} = da{T_} R",
        inputs=(("bw:da", "da_{t} = [da_{i}, da_{f}, da_{z}, da_{o}]"), ("param:W", "[W_ih, R]")), op="·W",
        results=(("bw:dx", "dx_{t}"), ("bw:dh_next", "dh_{next} (to t−1)")), weight=True,
        quote=("da", "dx", "dh_next", "dW_ih", "dW_hh", "db"),
        note="[x_{t}, h_{t−1}] is the seed's HX. R is block-diagonal (head k reads only head k's units), so "
             "dh_{next} = da R mixes within a head; W_hh's gradient is R's diagonal blocks of da_{t}ᵀ h_{t−1}."),
    PanelSpec(
        seed="dC_next", q="dc_next",
        eq=f"dc{NEXT} = dc{T_} ⊙ f{_P}{T_},  dn{NEXT} = dn{T_} ⊙ f{_P}{T_},  dm{NEXT} = df{_P} ⊙ f{_P} + "
           f"[forget wins] dm{T_}",
        inputs=(("bw:dc", "dc_{t}"), ("bw:dn", "dn_{t}"), ("fw:f", "f′_{t}")), op="⊙",
        results=(("bw:dc_next", "dc_{next}"), ("bw:dn_next", "dn_{next}"), ("bw:dm_next", "dm_{next}")),
        quote=("dc_next", "dn_next", "dm_next"),
        note="What is carried to step t−1 besides dh_{next}: c and n pass back through f′; m_{t−1} enters f′ and, "
             "when the forget branch won, the max. dm_{next} need not be small: step t−1's own terms −di′ ⊙ i′ − "
             "df′ ⊙ f′ cancel it, so its dm stays what dMt shows."),
)


def forward_equations(lt: Any) -> str:
    log_f = "log σ(f̃)" if lt.meta.get("forget_gate", "sigmoid") == "sigmoid" else "f̃"
    return (f"[ĩ, f̃, z̃, õ] = x{T_} W{sub('ih')}<sup>⊤</sup> + h{TM1} R<sup>⊤</sup> + b (R block-diagonal); "
            f"log i = ĩ, log f = {log_f}; m{T_} = max(log f + m{TM1}, log i); i{_P} = exp(log i − m{T_}), "
            f"f{_P} = exp(log f + m{TM1} − m{T_}); z = tanh(z̃), o = σ(õ); c{T_} = f{_P} ⊙ c{TM1} + i{_P} ⊙ z, "
            f"n{T_} = f{_P} ⊙ n{TM1} + i{_P}; h{T_} = o ⊙ c{T_} / n{T_}")


def weights(lt: Any) -> tuple[np.ndarray, str]:
    return np.concatenate([lt.param("W_ih"), block_diagonal(lt.param("W_hh"))], axis=1), "[W_ih, R]"


def weight_steps(lt: Any) -> np.ndarray:
    """Per-step ``[dW_ih, dR]`` with ``dR`` zero off R's diagonal blocks, ``(T, 4H, D + H)``."""
    bw = lt.backward
    dR = np.stack([block_diagonal(d) for d in bw["dW_hh"]])
    return np.concatenate([bw["dW_ih"], dR], axis=2)


#: x of the diagram's columns: the four gates, the product i' z, the states' right end, the output side.
_F, _I, _Z, _O = 320, 470, 620, 770
_IZ = (_I + _Z) // 2
_NF = _F + 75  # f' n_{t-1}
_OUT, _DIV = 930, 1080
_YC, _YN, _YG, _YB = 60, 140, 300, 390  # the c line, the n line, the gates, the bus


def slstm_flow(page: PageData, svg: Svg, lt: Any) -> str:
    """One sLSTM cell: the cell state c and the normaliser n on top, the gates in the middle, [x, h] below,
    h = o ⊙ c / n on the right; the stabiliser m in its own row at the bottom."""
    for y, name, key in ((_YC, "c", "c"), (_YN, "n", "n")):
        svg.node(60, y, f"{name}_{{t−1}}", "state")
        page.strip(svg, f"fw:{key}_prev", 20, y + 24)
        svg.node(_OUT, y, f"{name}_{{t}}", "state")
        page.strip(svg, f"fw:{key}", _OUT - 40, y + 24)
    svg.node(_F, _YC, "×", "op")
    svg.node(_IZ, _YC, "+", "op")
    svg.polyline([(92, _YC), (_F - 16, _YC)])
    svg.polyline([(_F + 16, _YC), (_IZ - 16, _YC)])
    svg.polyline([(_IZ + 16, _YC), (_OUT - 30, _YC)])
    svg.node(_NF, _YN, "×", "op")
    svg.node(_I, _YN, "+", "op")
    svg.polyline([(92, _YN), (_NF - 16, _YN)])
    svg.polyline([(_NF + 16, _YN), (_I - 16, _YN)])
    svg.polyline([(_I + 16, _YN), (_OUT - 30, _YN)])
    # the gates, fed by the bus [x, h]
    svg.node(60, _YB, "h_{t−1}", "state")
    page.strip(svg, "fw:h_prev", 20, _YB + 24)
    svg.node(200, _YB + 80, "x_{t}", "state")
    zw = svg.node(200, _YB, "[x, h] (HX)", "cat")
    svg.polyline([(92, _YB), (200 - zw / 2 - 2, _YB)])
    svg.polyline([(200, _YB + 64), (200, _YB + 18)])
    svg.polyline([(200 + zw / 2, _YB), (_O, _YB)], arrow=False)
    f_op = "σ" if lt.meta.get("forget_gate", "sigmoid") == "sigmoid" else "exp"
    for x, op, name, key in ((_F, f_op, "f′ (forget)", "fw:f"), (_I, "exp", "i′ (input)", "fw:i"),
                             (_Z, "tanh", "z (Cproj)", "fw:z"), (_O, "σ", "o (output)", "fw:o")):
        svg.polyline([(x, _YB), (x, _YG + 18)])
        gate(page, svg, x, _YG, op, name, key)
    svg.polyline([(_F, _YG - 18), (_F, _YC + 17)])  # f' -> f' c_{t-1}
    svg.polyline([(_F, 200), (_NF, 200), (_NF, _YN + 17)])  # f' -> f' n_{t-1}
    svg.polyline([(_I, _YG - 18), (_I, _YN + 17)])  # i' -> n
    svg.node(_IZ, 220, "×", "op")
    svg.polyline([(_I, 220), (_IZ - 17, 220)])
    svg.polyline([(_Z, _YG - 18), (_Z, 220), (_IZ + 17, 220)])
    svg.polyline([(_IZ, 204), (_IZ, _YC + 17)])  # i' z -> c
    # the output side: h~ = c / n, h = o h~
    svg.node(_DIV, 100, "÷", "op")
    svg.polyline([(_OUT + 25, _YC), (_DIV - 13, 92)])
    svg.polyline([(_OUT + 25, _YN), (_DIV - 13, 108)])
    page.strip(svg, "fw:h_tilde", _DIV + 10, 124)
    svg.text(_DIV + 10, 152, "h̃ = c / n", "sub")
    svg.node(_DIV, _YG, "×", "op")
    svg.polyline([(_DIV, 116), (_DIV, _YG - 17)])
    svg.polyline([(_O + 24, _YG), (_DIV - 17, _YG)])
    svg.node(_DIV, _YB, "h_{t}", "state")
    page.strip(svg, "fw:h", _DIV - 40, _YB + 24)
    svg.polyline([(_DIV, _YG + 16), (_DIV, _YB - 18)])
    # the stabiliser: its own row, as it touches nothing but the scale of i', f' (and so of c, n)
    ym = _YB + 160
    svg.node(60, ym, "m_{t−1}", "state")
    page.strip(svg, "fw:m_prev", 20, ym + 24)
    mw = svg.node(300, ym, "max(log f + m_{t−1}, log i)", "gate")
    svg.polyline([(92, ym), (300 - mw / 2 - 2, ym)])
    svg.node(560, ym, "m_{t}", "state")
    page.strip(svg, "fw:m", 520, ym + 24)
    svg.polyline([(300 + mw / 2, ym), (532, ym)])
    svg.text(610, ym - 4, "the stabiliser scales i′ = exp(log i − m_{t}) and f′ = exp(log f + m_{t−1} − m_{t}),",
             "sub")
    svg.text(610, ym + 14, "and so c and n; it cancels in h̃ = c / n", "sub")
    return "c_{t} = f′ ⊙ c_{t−1} + i′ ⊙ z,   n_{t} = f′ ⊙ n_{t−1} + i′,   h_{t} = o ⊙ c_{t} / n_{t}"


VIEW = KindView(
    kind="slstm", panels=PANELS,
    gates=(("fw:i", "i′_{t} (stabilised)"), ("fw:f", "f′_{t} (stabilised)"), ("fw:z", "z_{t} tanh (Cproj)"),
           ("fw:o", "o_{t} σ")),
    gate_blocks=("i", "f", "z", "o"),
    states=(("fw:c", "c_{t}"), ("fw:n", "n_{t} (normaliser)"), ("fw:m", "m_{t} (stabiliser)"),
            ("fw:h_tilde", "h̃_{t} = c / n"), ("fw:h", "h_{t}")),
    weights=weights, weight_steps=weight_steps, forward_equations=forward_equations, flow=slstm_flow,
    weight_grad="da_{t}ᵀ [x_{t}, h_{t−1}]",
)

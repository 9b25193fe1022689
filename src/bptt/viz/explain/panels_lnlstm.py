"""The layer-norm LSTM's page (TensorFlow's ``LayerNormBasicLSTMCell``): the LSTM's eight panels with the layer
norms' backward steps (``dc̃ = LN′_state(dc)``, ``da = LN′(dâ)``), quoting
:func:`bptt.functional.reference.ln_lstm.step_backward`; the LSTM's flow diagram."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from .panels_lstm import PANELS as LSTM_PANELS
from .panels_lstm import lstm_flow
from .spec import NEXT, T_, TM1, KindView, sub

__all__ = ["VIEW"]

_dh, _do, _dc, _dg, _df, _di, _dz, _dc_next = LSTM_PANELS

PANELS = (
    _dh,
    replace(_do, quote=("do", "da_o"), note="h = tanh(c) ⊙ o: the output gate's gradient is dh ⊙ tanh(c_{t}); "
                                          "through the sigmoid, da_{o} = do ⊙ o(1−o) is the gradient of the gate's "
                                          "normalised pre-activation â_{o}."),
    replace(_dc, eq=f"dc{T_} = dc{NEXT} + dh{T_} ⊙ o{T_} ⊙ (1 − tanh²(c{T_})),  dc̃{T_} = LN′{sub('state')}(dc{T_})",
            results=(("bw:dc", "dc_{t} = dCt"), ("bw:dc_tilde", "dc̃_{t} (through the state LN)")),
            quote=("dc", "dc_tilde"),
            note="dc is the gradient of the normalised state c_{t}; the state layer norm's backward turns it into "
                 "dc̃, the gradient of c̃ = c_{t−1} ⊙ f + i ⊙ g, which the gates use."),
    replace(_dg, eq=f"dg{T_} = dc̃{T_} ⊙ i{T_}", inputs=(("bw:dc_tilde", "dc̃_{t}"), ("fw:i", "i_{t}")),
            quote=("dg", "dg_raw", "da_g"),
            note="Cproj is the seed's name for the candidate g = tanh(â_{j}) (times the recurrent-dropout mask, "
                 "if any); da_{g} is the gradient of its normalised pre-activation."),
    replace(_df, eq=f"df{T_} = dc̃{T_} ⊙ c{TM1}", inputs=(("bw:dc_tilde", "dc̃_{t}"), ("fw:c_prev", "c_{t−1}"))),
    replace(_di, eq=f"di{T_} = dc̃{T_} ⊙ g{T_}", inputs=(("bw:dc_tilde", "dc̃_{t}"), ("fw:g", "g_{t} (Cproj)"))),
    replace(_dz, eq=f"dz{T_} = LN′(dâ{T_}) K<sup>⊤</sup> = [dx{T_}, dh{NEXT}]",
            inputs=(("bw:da", "da_{t} (after the gate LNs)"), ("param:W", "kernelᵀ")),
            quote=("da_hat", "ln_back", "da", "dz", "dx", "dh_next", "dkernel"),
            note="z = [x_{t}, h_{t−1}] is the seed's HX. The four gate layer norms' backward turns dâ into da, the "
                 "gradient of a = z K; its product with Kᵀ splits into dx_{t} and dh_{next}, carried to step "
                 "t−1. The step's share of dK is z_{t}ᵀ da_{t} (below)."),
    replace(_dc_next, eq=f"dc{NEXT} = dc̃{T_} ⊙ f{T_}", inputs=(("bw:dc_tilde", "dc̃_{t}"), ("fw:f", "f_{t}"))),
)


def forward_equations(lt: Any) -> str:
    return (f"a{T_} = [x{T_}, h{TM1}] K; â = LN(a) per gate; i, f, o = σ(â), g = tanh(â<sup>j</sup>); "
            f"c{T_} = LN<sub>state</sub>(f ⊙ c{TM1} + i ⊙ g); h{T_} = o ⊙ tanh(c{T_})")


def weights(lt: Any) -> tuple[np.ndarray, str]:
    return lt.param("kernel").T, "kernelᵀ"


def weight_steps(lt: Any) -> np.ndarray:
    return np.swapaxes(lt.backward["dkernel"], 1, 2)  # (T, 4H, D + H), as kernelᵀ


VIEW = KindView(
    kind="lnlstm", panels=PANELS,
    gates=(("fw:f", "f_{t} σ"), ("fw:i", "i_{t} σ"), ("fw:g", "g_{t} tanh (Cproj)"), ("fw:o", "o_{t} σ")),
    gate_blocks=("i", "j → g", "f", "o"),
    states=(("fw:c_prev", "c_{t−1}"), ("fw:c", "c_{t}"), ("fw:tanh_c", "tanh(c_{t})"), ("fw:h", "h_{t}")),
    weights=weights, weight_steps=weight_steps, forward_equations=forward_equations, flow=lstm_flow,
)

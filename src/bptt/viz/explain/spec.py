"""What the explain page needs to know about a cell kind, as data: :class:`PanelSpec` (one backward panel: the
seed's name, the equation, the tensors it reads, the result, the reference lines it quotes) and
:class:`KindView` (all of a kind's panels, its gates, its weights, its forward equations, its flow diagram).
One ``panels_<kind>.py`` module builds the ``KindView`` of each kind; :mod:`.kinds` lists them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...trace import KINDS
from .svg import Svg
from .widgets import PageData

__all__ = ["KindView", "PanelSpec", "dh_panel", "sub"]


def sub(s: str) -> str:
    """An HTML subscript (for equations)."""
    return f"<sub>{s}</sub>"


T_ = sub("t")
TM1 = sub("t−1")
NEXT = sub("next")

#: A panel's equation: fixed HTML, or made from the layer (its options, e.g. peepholes).
Equation = str | Callable[[Any], str]


@dataclass(frozen=True)
class PanelSpec:
    """One backward panel. Data keys are ``"fw:<name>"`` / ``"bw:<name>"`` (a traced forward / backward
    quantity) or ``"param:W"`` (the kind's weight matrix)."""

    seed: str  #: the seed's name: the panel's id and title (dHt, dOt, ...)
    q: str  #: bptt's name of the quantity (a field of the reference's StepGrads)
    eq: Equation  #: the equation (HTML)
    inputs: tuple[tuple[str, str], ...]  #: (data key, label) of the tensors it reads
    op: str  #: the operator drawn between the inputs and the result
    results: tuple[tuple[str, str], ...]  #: (data key, label) of what it computes
    quote: tuple[str, ...]  #: the names whose assignments in the reference's step function the panel quotes
    note: str  #: one or two sentences for the student (``x_{t−1}`` for subscripts)
    second: tuple[str, str, str] | None = None  #: (data key, label, operator) of a follow-on result (da_o ...)
    weight: bool = False  #: also draw the per-step weight-gradient share

    def equation(self, lt: Any) -> str:
        return self.eq(lt) if callable(self.eq) else self.eq


@dataclass(frozen=True)
class KindView:
    """Everything the page draws differently for one cell kind (``kind`` is its name in bptt.trace's table)."""

    kind: str
    panels: tuple[PanelSpec, ...]
    gates: tuple[tuple[str, str], ...]  #: the forward summary's gate columns: (data key, label)
    gate_blocks: tuple[str, ...]  #: names of the row blocks of the weight matrix
    states: tuple[tuple[str, str], ...]  #: the forward summary's state columns: (data key, label)
    #: the layer's weight matrix (gate blocks of rows; columns for x_t, then h_{t-1}) and its name
    weights: Callable[[Any], tuple[np.ndarray, str]]
    #: the per-step shares of its gradient, (T, rows, columns) as ``weights``, batch-summed
    weight_steps: Callable[[Any], np.ndarray]
    forward_equations: Callable[[Any], str]  #: the forward pass (HTML)
    flow: Callable[[PageData, Svg, Any], str]  #: draws the flow diagram of one cell; returns its equation
    function: str = "step_backward"  #: the reference function the panels quote
    pre_activation: str = "a"  #: the forward quantity holding the gate pre-activations (drawn when traced)
    recurrent_weights: bool = True  #: whether the weight matrix has h_{t-1} columns (minGRU's gates read x_t only)
    weight_grad: str = "da_{t}ᵀ z_{t}"  #: the per-step weight-gradient share (the dHX panel's label)

    @property
    def reference(self) -> Any:
        """The textbook module the panels quote (bptt.trace's table row of the kind)."""
        return KINDS[self.kind].reference

    @property
    def label(self) -> str:
        return KINDS[self.kind].label


def dh_panel(note: str) -> PanelSpec:
    """dHt: the same for every cell kind."""
    return PanelSpec(
        seed="dHt", q="dh", eq=f"dh{T_} = dy{T_} + dh{NEXT}",
        inputs=(("bw:dy", "dy_{t} (from above)"), ("bw:dh_next_in", "dh_{next} (from t+1)")), op="+",
        results=(("bw:dh", "dh_{t} = dHt"),), quote=("dh",), note=note)


def pytorch_weights(lt: Any) -> tuple[np.ndarray, str]:
    """``[W_ih, W_hh]`` of a PyTorch-layout layer."""
    return np.concatenate([lt.param("W_ih"), lt.param("W_hh")], axis=1), "[W_ih, W_hh]"


def pytorch_weight_steps(lt: Any) -> np.ndarray:
    """Per-step ``[dW_ih, dW_hh]`` (batch-summed), ``(T, G·H, D + P)``."""
    return np.concatenate([lt.backward["dW_ih"], lt.backward["dW_hh"]], axis=2)

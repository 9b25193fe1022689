"""What a page explains (:class:`Run`) and the error for bad requests (:class:`ExplainError`)."""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["ExplainError", "Run"]


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

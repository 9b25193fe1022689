"""Text output of a trace, the seed's ``debug`` and ``backpassdebug`` switches: the loggers
``bptt.trace.forward`` and ``bptt.trace.backward`` print, at ``DEBUG`` level, the quantities each cell kind
names in its table row (:attr:`~bptt.trace.names.CellKind.log_forward` / ``log_backward``), step by step in
the order the pass visited them."""

from __future__ import annotations

import logging

import numpy as np

from .layer import LayerTrace

__all__ = ["BACKWARD_LOGGER", "FORWARD_LOGGER", "format_array", "log_layer"]

FORWARD_LOGGER = "bptt.trace.forward"
BACKWARD_LOGGER = "bptt.trace.backward"
forward_log = logging.getLogger(FORWARD_LOGGER)
backward_log = logging.getLogger(BACKWARD_LOGGER)


def format_array(a: np.ndarray) -> str:
    """An array as the loggers print it (6 digits, long arrays summarised)."""
    return np.array2string(np.asarray(a), precision=6, separator=", ", threshold=64, edgeitems=4,
                           max_line_width=120, suppress_small=False)


def log_layer(lt: LayerTrace, which: str) -> None:
    """Print one layer's recorded ``which`` ("forward" or "backward") pass step by step, if its logger is on."""
    logger = forward_log if which == "forward" else backward_log
    if not logger.isEnabledFor(logging.DEBUG):
        return
    steps = lt.forward if which == "forward" else lt.backward
    names = lt.cell.log_forward if which == "forward" else lt.cell.log_backward
    where = f"{lt.module} layer {lt.layer} {'reverse' if lt.direction else 'forward'}"
    for t in steps.order:
        for name in names:
            if name not in steps:
                continue
            v = steps[name][t]
            seed = lt.seed_name(name)
            label = name if seed == name else f"{seed} ({name})"
            logger.debug("%s t=%d %s shape %s:\n%s", where, t, label, tuple(v.shape), format_array(v))

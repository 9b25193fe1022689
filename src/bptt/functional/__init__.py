"""Pure math: every op is a ``forward(...) -> (out, cache)`` / ``backward(dout, cache) -> grads`` pair.

Each submodule holds one op; its docstring states the equations of the forward pass and their derivatives,
and the code uses the names of the math. Nothing here validates its input (that happens at the ``nn``
boundary) and nothing here holds state: the cache (a typed ``NamedTuple``) is all ``backward`` needs.
:mod:`~bptt.functional.sequence` holds what the whole-sequence recurrent ops share and
:mod:`~bptt.functional.workspace` their optional buffer pool. :mod:`~bptt.functional.scan` is the linear
recurrence behind :mod:`~bptt.functional.min_gru` and :mod:`~bptt.functional.min_lstm` (shared parts in
:mod:`~bptt.functional.min_rnn`).

>>> import numpy as np
>>> from bptt.functional import linear
>>> y, cache = linear.forward(np.ones((2, 3)), np.ones((4, 3)), np.zeros(4))
>>> dx, dW, db = linear.backward(np.ones((2, 4)), cache)
"""

from . import (
    attention,
    cross_entropy,
    dropout,
    embedding,
    gru,
    linear,
    ln_lstm,
    log_softmax,
    lstm,
    min_gru,
    min_lstm,
    min_rnn,
    mlstm,
    mlstm_parallel,
    relu,
    rnn,
    scan,
    sequence,
    sigmoid,
    slstm,
    softmax,
    tanh,
    workspace,
)

__all__ = [
    "attention",
    "cross_entropy",
    "dropout",
    "embedding",
    "gru",
    "linear",
    "ln_lstm",
    "log_softmax",
    "lstm",
    "min_gru",
    "min_lstm",
    "min_rnn",
    "mlstm",
    "mlstm_parallel",
    "relu",
    "rnn",
    "scan",
    "sequence",
    "sigmoid",
    "slstm",
    "softmax",
    "tanh",
    "workspace",
]

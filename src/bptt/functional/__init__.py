"""Pure math: every op is a ``forward(...) -> (out, cache)`` / ``backward(dout, cache) -> grads`` pair.

Each submodule holds one op; its docstring states the equations of the forward pass and their derivatives,
and the code uses the names of the math. Nothing here validates its input (that happens at the ``nn``
boundary) and nothing here holds state: the cache is all ``backward`` needs.

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
    relu,
    rnn,
    sigmoid,
    softmax,
    tanh,
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
    "relu",
    "rnn",
    "sigmoid",
    "softmax",
    "tanh",
]

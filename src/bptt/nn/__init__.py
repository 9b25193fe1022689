"""PyTorch-like modules on top of :mod:`bptt.functional`: same constructors, parameter names, shapes and init.

No autograd: every module has an explicit ``backward`` that consumes the cache of its last forward call and
adds into each ``Parameter.grad``.
"""

from . import utils
from .attention import (
    AttentionMechanism,
    AttentionMemory,
    AttentionWrapper,
    AttentionWrapperState,
    BahdanauAttention,
    LuongAttention,
)
from .layers import CrossEntropyLoss, Dropout, Embedding, Linear
from .module import Module, Parameter, is_grad_enabled, no_grad
from .rnn import GRU, LSTM, RNN, GRUCell, LayerNormLSTM, LSTMCell, RNNBase, RNNCell

__all__ = [
    "AttentionMechanism",
    "AttentionMemory",
    "AttentionWrapper",
    "AttentionWrapperState",
    "BahdanauAttention",
    "LuongAttention",
    "GRU",
    "LSTM",
    "RNN",
    "CrossEntropyLoss",
    "Dropout",
    "Embedding",
    "LayerNormLSTM",
    "GRUCell",
    "LSTMCell",
    "Linear",
    "Module",
    "Parameter",
    "RNNBase",
    "RNNCell",
    "is_grad_enabled",
    "no_grad",
    "utils",
]

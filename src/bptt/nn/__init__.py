"""PyTorch-like modules on top of :mod:`bptt.functional`: same constructors, parameter names, shapes and init.

No autograd: every module has an explicit ``backward`` that consumes the cache of its last forward call and
adds into each ``Parameter.grad``.

- :mod:`.module`: ``Module``, ``Parameter``, ``no_grad``, ``BatchShard``; :mod:`.checks`: argument validation;
  :mod:`.hooks`: the neutral hook point a recorder (``bptt.trace``) fills.
- :mod:`.layers`: ``Linear``, ``Embedding``, ``Dropout``; :mod:`.loss`: ``CrossEntropyLoss``.
- :mod:`.recurrent`: ``LSTM``, ``GRU``, ``RNN``, ``LayerNormLSTM``, ``MinGRU``, ``MinLSTM`` (``RNNBase``) and
  the cells; xLSTM's ``SLSTM`` and ``MLSTM`` (``XLSTMBase``).
- :mod:`.attention`: ``LuongAttention``, ``BahdanauAttention``, ``AttentionWrapper``; :mod:`.utils`.
"""

from . import hooks, utils
from .attention import (
    AttentionMechanism,
    AttentionMemory,
    AttentionWrapper,
    AttentionWrapperState,
    BahdanauAttention,
    LuongAttention,
)
from .layers import Dropout, Embedding, Linear
from .loss import CrossEntropyLoss
from .module import BatchShard, Module, Parameter, is_grad_enabled, no_grad
from .recurrent import (
    GRU,
    LSTM,
    MLSTM,
    RNN,
    SLSTM,
    GRUCell,
    LayerNormLSTM,
    LSTMCell,
    MinGRU,
    MinLSTM,
    RNNBase,
    RNNCell,
    XLSTMBase,
)

__all__ = [
    "AttentionMechanism",
    "AttentionMemory",
    "AttentionWrapper",
    "AttentionWrapperState",
    "BahdanauAttention",
    "BatchShard",
    "LuongAttention",
    "GRU",
    "LSTM",
    "MLSTM",
    "RNN",
    "SLSTM",
    "CrossEntropyLoss",
    "Dropout",
    "Embedding",
    "LayerNormLSTM",
    "GRUCell",
    "LSTMCell",
    "Linear",
    "MinGRU",
    "MinLSTM",
    "Module",
    "Parameter",
    "RNNBase",
    "RNNCell",
    "XLSTMBase",
    "is_grad_enabled",
    "hooks",
    "no_grad",
    "utils",
]

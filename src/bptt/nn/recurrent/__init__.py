"""Recurrent modules with PyTorch's constructors, parameter names, shapes, init and layouts.

- :mod:`.base`: ``RNNBase`` -- stacking, bidirectional layers, ``lengths``, validation, the per-layer API
  (``layer_parameters``, ``layer_forward``, ``layer_backward``) and the recorder hook point.
- :mod:`.lstm`, :mod:`.gru`, :mod:`.rnn`: ``LSTM``, ``GRU``, ``RNN`` (one functional op each).
- :mod:`.ln_lstm`: ``LayerNormLSTM`` (TensorFlow 1's layer-normalised LSTM cell as a stacked layer).
- :mod:`.cells`: ``LSTMCell``, ``GRUCell``, ``RNNCell`` (one step).
- :mod:`.min_rnn`: ``MinGRU``, ``MinLSTM`` (Feng et al. 2024; parallel or sequential mode).
- :mod:`.xlstm_base`: ``XLSTMBase`` -- stacking for layers whose state is a tuple of arrays; :mod:`.slstm`,
  :mod:`.mlstm`: xLSTM's ``SLSTM`` and ``MLSTM`` (Beck et al., 2024).
"""

from .base import RNNBase
from .cells import GRUCell, HiddenStateCell, LSTMCell, RNNCell, RNNCellBase
from .gru import GRU
from .layer_api import LayerGrads, LayerOutput
from .ln_lstm import LayerNormLSTM
from .lstm import LSTM
from .min_rnn import MinGRU, MinLSTM, MinRNNBase
from .mlstm import MLSTM
from .rnn import RNN
from .slstm import SLSTM
from .xlstm_base import XLSTMBase, XLSTMLayerGrads, XLSTMLayerOutput

__all__ = [
    "GRU",
    "LSTM",
    "MLSTM",
    "RNN",
    "SLSTM",
    "GRUCell",
    "HiddenStateCell",
    "LSTMCell",
    "LayerGrads",
    "LayerNormLSTM",
    "LayerOutput",
    "MinGRU",
    "MinLSTM",
    "MinRNNBase",
    "RNNBase",
    "RNNCell",
    "RNNCellBase",
    "XLSTMBase",
    "XLSTMLayerGrads",
    "XLSTMLayerOutput",
]

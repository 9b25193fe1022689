r"""Weight converters between PyTorch-layout recurrent state dicts and TensorFlow / Keras layouts, and export.

Pure NumPy (no TensorFlow import). Every function returns fresh NumPy arrays in the input's float dtype;
inputs may be NumPy arrays, nested lists or torch tensors. Every converter takes ``kind="grad"`` to convert
gradients rather than weights (:mod:`bptt.interop._options`: the two PyTorch biases each receive the gradient of
their sum, and a forget-bias shift changes no gradient), and the Keras ones the layer's ``config``
(``layer.get_config()``), checked so that a layer with another activation is refused. TF1's ``LSTMCell``
projection (``num_proj``) and peepholes convert to ``proj_size`` and ``bptt.nn.LSTM(peepholes=True)``.

Export: :mod:`bptt.interop.onnx_export` (ONNX graphs of language models and recurrent stacks; needs ``onnx``);
``.safetensors`` files are :mod:`bptt.models.safetensors_io` (bptt reads them back).

Layouts (``H`` hidden size, ``D`` the layer's input size; gate *blocks* of ``H`` rows or columns):

- PyTorch ``LSTM`` / ``LSTMCell``, ``bptt.nn.LSTM``: ``weight_ih (4H, D)``, ``weight_hh (4H, H)``,
  ``bias_ih (4H,)``, ``bias_hh (4H,)``; row blocks ``i, f, g, o``.
- TF1 ``BasicLSTMCell`` / ``LSTMCell`` / ``LayerNormBasicLSTMCell(layer_norm=False)``, and
  ``bptt.nn.LayerNormLSTM(layer_norm=False)`` (``kernel_l{k}``, ``bias_l{k}``): ``kernel (D + H, 4H)``
  applied as ``[x, h] @ kernel``, ``bias (4H,)``; column blocks ``i, j, f, o`` (``j`` = PyTorch's ``g``);
  plus the run-time ``forget_bias`` (below).
- Keras ``LSTM``: ``kernel (D, 4H)``, ``recurrent_kernel (H, 4H)``, ``bias (4H,)``; column blocks
  ``i, f, c, o`` (``c`` = ``g``: PyTorch's order, transposed).
- PyTorch ``GRU`` / ``GRUCell``, ``bptt.nn.GRU``: ``weight_ih (3H, D)``, ``weight_hh (3H, H)``,
  ``bias_ih (3H,)``, ``bias_hh (3H,)``; row blocks ``r, z, n``.
- Keras ``GRU(reset_after=True)``: ``kernel (D, 3H)``, ``recurrent_kernel (H, 3H)``, ``bias (2, 3H)`` (row 0
  the input bias, row 1 the recurrent bias); column blocks ``z, r, h`` (z first!).

**The forget-bias rule (LSTM).** TensorFlow's LSTM cells (and ``bptt.nn.LSTM(forget_bias=...)``,
``bptt.nn.LayerNormLSTM``) add a run-time constant to the forget gate's pre-activation. Two models compute the
same function iff their forget pre-activations agree::

    b_ih[f] + b_hh[f] + torch_forget_bias  ==  bias_tf[f] + tf_forget_bias

so converting PyTorch -> TF sets ``bias_tf[f] = b_ih[f] + b_hh[f] + torch_forget_bias - tf_forget_bias`` and
TF -> PyTorch sets ``bias_ih[f] = bias_tf[f] + tf_forget_bias - torch_forget_bias`` (``bias_hh = 0``).
``tf_forget_bias`` is the ``forget_bias`` of the TF cell that runs (or ran) the weights -- 1.0 for TF's
defaults, 0.0 to *fold* the constant into the bias -- and is a required argument: there is no safe default.
``torch_forget_bias`` is ``bptt.nn.LSTM``'s ``forget_bias`` (0.0, the default, for ``torch.nn.LSTM``).
Keras' ``unit_forget_bias`` is only an initializer (no run-time constant), so for Keras the target side is 0.

**GRU.** PyTorch's GRU is Keras' ``GRU(reset_after=True)`` (the TF2 default): ``b_hn`` sits inside the reset
product. Keras ``reset_after=False`` (and TF1's ``GRUCell``) applies the reset gate *before* the recurrent
matmul, ``n = tanh(x W_n + b_n + (r * h) U_n)``: a different model that no PyTorch GRU equals, so every
converter refuses it with a ``ValueError``.

Per layer and direction, ``layer`` (``None`` for the un-suffixed names of ``LSTMCell`` / ``GRUCell``),
``reverse`` and ``prefix`` (e.g. ``"encoder.rnn."``) select the PyTorch keys
``{prefix}weight_ih_l{layer}[_reverse]`` etc.; :func:`torch_to_layers` / :func:`layers_to_torch` convert
whole stacks, in PyTorch's order ``l0, l0_reverse, l1, ...`` (also Keras' ``Bidirectional`` order: forward
layer, then backward layer). :func:`ln_lstm_to_torch_lstm` / :func:`torch_lstm_to_ln_lstm` convert between
``bptt.nn.LayerNormLSTM(layer_norm=False)`` and ``bptt.nn.LSTM`` state dicts.
"""

from .keras import keras_gru_to_torch, keras_lstm_to_torch, torch_gru_to_keras, torch_lstm_to_keras
from .layers import LAYOUTS, layers_to_torch, torch_to_layers
from .ln_lstm import ln_lstm_to_torch_lstm, torch_lstm_to_ln_lstm
from .tensorflow import TF_CELL_WEIGHTS, tf_lstm_to_torch, torch_lstm_to_tf

__all__ = [
    "LAYOUTS",
    "TF_CELL_WEIGHTS",
    "keras_gru_to_torch",
    "keras_lstm_to_torch",
    "layers_to_torch",
    "ln_lstm_to_torch_lstm",
    "tf_lstm_to_torch",
    "torch_gru_to_keras",
    "torch_lstm_to_keras",
    "torch_lstm_to_ln_lstm",
    "torch_lstm_to_tf",
    "torch_to_layers",
]

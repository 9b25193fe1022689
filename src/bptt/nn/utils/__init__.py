"""Utilities: gradient clipping (PyTorch semantics) and padded-batch helpers for variable-length sequences."""

from . import rnn
from .clip_grad import clip_grad_norm_, clip_grad_value_
from .rnn import pad_sequence, unpad_sequence

__all__ = ["clip_grad_norm_", "clip_grad_value_", "pad_sequence", "rnn", "unpad_sequence"]

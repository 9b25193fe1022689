"""Attention with TensorFlow NMT's semantics: the mechanisms (:mod:`.mechanisms`: ``LuongAttention``,
``BahdanauAttention``, ``AttentionMemory``) and the decoder loop (:mod:`.wrapper`: ``AttentionWrapper``).
The math is in :mod:`bptt.functional.attention`."""

from .mechanisms import AttentionMechanism, AttentionMemory, BahdanauAttention, LuongAttention
from .wrapper import AttentionWrapper, AttentionWrapperState

__all__ = [
    "AttentionMechanism",
    "AttentionMemory",
    "AttentionWrapper",
    "AttentionWrapperState",
    "BahdanauAttention",
    "LuongAttention",
]

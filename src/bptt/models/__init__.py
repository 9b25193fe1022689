"""Models built from :mod:`bptt.nn`: language models and sequence-to-sequence translators with attention, and
language models as ``.safetensors`` files (:func:`save_safetensors`, :func:`load_safetensors`)."""

from .lm import CELLS, CharLM, LanguageModel, WordLM
from .safetensors_io import load_safetensors, save_safetensors
from .seq2seq import Hypotheses, Seq2Seq

__all__ = ["CELLS", "CharLM", "Hypotheses", "LanguageModel", "Seq2Seq", "WordLM", "load_safetensors",
           "save_safetensors"]

"""Models built from :mod:`bptt.nn`: language models and sequence-to-sequence translators with attention."""

from .lm import CELLS, CharLM, LanguageModel, WordLM
from .seq2seq import Hypotheses, Seq2Seq

__all__ = ["CELLS", "CharLM", "Hypotheses", "LanguageModel", "Seq2Seq", "WordLM"]

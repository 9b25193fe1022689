"""Models built from :mod:`bptt.nn`: language models (and, later, sequence-to-sequence translators)."""

from .lm import CELLS, CharLM, LanguageModel, WordLM

__all__ = ["CELLS", "CharLM", "LanguageModel", "WordLM"]

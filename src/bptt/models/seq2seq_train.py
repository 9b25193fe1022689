"""Moved. Translator training lives in :mod:`bptt.training.seq2seq` (``Seq2SeqConfig``, ``train``) and
:mod:`bptt.training` (``Interrupted``, ``TrainingError``); loading a trained translator in
:mod:`bptt.models.io` (``load_translator``), scoring it in :mod:`bptt.models.evaluation`. Models sit below
training, so this module cannot hand the training names on: it keeps the loading and evaluation functions
under their old names and names the new place of the others.
"""

from __future__ import annotations

from ._moved import moved
from .evaluation import bleu_score, encode_pairs, validation_loss
from .evaluation import evaluate_translator as evaluate
from .io import TRANSLATOR as KIND
from .io import load_translator

__all__ = ["KIND", "bleu_score", "encode_pairs", "evaluate", "load_translator", "validation_loss"]

__getattr__ = moved(__name__, {
    "Seq2SeqConfig": "bptt.training.seq2seq",
    "train": "bptt.training.seq2seq",
    "build_model": "bptt.training.seq2seq",
    "Interrupted": "bptt.training",
    "TrainingError": "bptt.training",
})

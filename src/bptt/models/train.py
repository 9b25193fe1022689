"""Moved. Language-model training lives in :mod:`bptt.training.lm` (``TrainConfig``, ``train``) and
:mod:`bptt.training` (``Interrupted``, ``TrainingError``); loading a trained model in :mod:`bptt.models.io`
(``load_language_model``). Models sit below training, so this module cannot hand the training names on: it
keeps the loading and evaluation functions under their old names and names the new place of the others.
"""

from __future__ import annotations

from ._moved import moved
from .evaluation import evaluate_loss
from .io import load_language_model as load_model

__all__ = ["evaluate_loss", "load_model"]

__getattr__ = moved(__name__, {
    "TrainConfig": "bptt.training.lm",
    "train": "bptt.training.lm",
    "build_model": "bptt.training.lm",
    "load_corpus": "bptt.training.lm",
    "build_optimizer": "bptt.training.config",
    "generators": "bptt.training.checkpoint",
    "Interrupted": "bptt.training",
    "TrainingError": "bptt.training",
})

"""The modules whose contents moved: the names that stayed in models still import from the old paths; the
training names raise an ImportError naming their new module."""

from __future__ import annotations

import importlib

import pytest

from bptt.models import evaluation, io


def test_loading_and_evaluation_functions_keep_their_old_paths():
    from bptt.models.seq2seq_train import KIND, evaluate, load_translator, validation_loss
    from bptt.models.train import evaluate_loss, load_model

    assert load_model is io.load_language_model and evaluate_loss is evaluation.evaluate_loss
    assert load_translator is io.load_translator and evaluate is evaluation.evaluate_translator
    assert validation_loss is evaluation.validation_loss and KIND == io.TRANSLATOR == "seq2seq"


@pytest.mark.parametrize(("module", "name", "home"), [
    ("bptt.models.train", "TrainConfig", "bptt.training.lm"),
    ("bptt.models.train", "train", "bptt.training.lm"),
    ("bptt.models.train", "Interrupted", "bptt.training"),
    ("bptt.models.seq2seq_train", "Seq2SeqConfig", "bptt.training.seq2seq"),
    ("bptt.models.seq2seq_train", "TrainingError", "bptt.training"),
])
def test_training_names_say_where_they_moved(module, name, home):
    with pytest.raises(ImportError) as ei:
        exec(f"from {module} import {name}", {})
    assert str(ei.value) == f"{module}.{name} has moved: use `from {home} import {name}` (see docs/design.md)"
    assert getattr(importlib.import_module(home), name) is not None


def test_other_missing_names_are_plain_attribute_errors():
    import bptt.models.train as old

    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        old.nothing_here  # noqa: B018

"""The parameter counts computed without building a model (memory estimates, checkpoint checks) equal the
models' own ``num_parameters()`` for every cell and layout."""

from __future__ import annotations

import itertools

import pytest

from bptt.models.lm import CELL_TYPES, LanguageModel, recurrent_parameter_count
from bptt.models.seq2seq import ATTENTIONS, CELLS, ENCODERS, Seq2Seq


@pytest.mark.parametrize("cell", list(CELL_TYPES))
def test_every_language_model_cell_declares_its_count(cell):
    assert CELL_TYPES[cell].layer_parameters is not None
    for layers, emb in itertools.product((1, 3), (None, 6)):
        model = LanguageModel(9, 5, layers, cell=cell, embedding_dim=emb)
        assert LanguageModel.parameter_count(9, 5, layers, cell, emb) == model.num_parameters()
        assert recurrent_parameter_count(cell, emb or 9, 5, layers) == model.rnn.num_parameters()


@pytest.mark.parametrize(("cell", "encoder", "attention"), list(itertools.product(CELLS, ENCODERS, ATTENTIONS)))
def test_translator_counts(cell, encoder, attention):
    for layers in (1, 2):
        config = dict(src_vocab_size=11, tgt_vocab_size=13, embedding_size=5, hidden_size=7, num_layers=layers,
                      cell=cell, encoder=encoder, attention=attention, attention_tanh=True, dtype="float32")
        assert Seq2Seq.parameter_count(config) == Seq2Seq.from_config(config).num_parameters()

"""The language model's cell registry (``bptt.models.lm.CELL_TYPES``): every registered cell builds, trains a step
with the state it names, and is what ``bptt train --model`` offers."""

from __future__ import annotations

import numpy as np
import pytest

from bptt.models import CharLM
from bptt.models.lm import CELL_TYPES, CELLS, CellType, LanguageModel
from bptt.nn import CrossEntropyLoss, MinGRU, MinLSTM
from bptt.training import TrainConfig
from helpers import assert_close


def test_cells_are_the_registry_and_the_cli_choices():
    assert CELLS == tuple(CELL_TYPES)
    assert {"lstm", "gru", "rnn", "lnlstm", "mingru", "minlstm", "slstm", "mlstm"} <= set(CELLS)
    (model,) = [s for s in TrainConfig.settings() if s.name == "model"]
    assert tuple(model.choices) == CELLS
    assert all(isinstance(t, CellType) and t.states and t.description for t in CELL_TYPES.values())


@pytest.mark.parametrize("cell", CELLS)
def test_every_registered_cell_builds_and_takes_a_training_step(cell):
    lm = CharLM(7, 6, 2, cell=cell, dtype=np.float64, rng=0)
    assert isinstance(lm.rnn, CELL_TYPES[cell].build)
    assert lm.rnn.num_layers == 2 and lm.rnn.hidden_size == 6 and lm.rnn.input_size == 7
    x = np.random.default_rng(1).integers(0, 7, (5, 3))
    state = lm.initial_state(3)
    names = lm.state_names
    if len(names) == 1:
        assert isinstance(state, np.ndarray) and state.shape == (2, 3, 6) and not lm.has_cell_state
    else:
        assert isinstance(state, tuple) and len(state) == len(names) and lm.has_cell_state
        assert all(s.shape[:2] == (2, 3) for s in state)
    logits, carried = lm(x, state)
    loss = CrossEntropyLoss()
    loss(logits.reshape(-1, 7), x.reshape(-1))
    lm.zero_grad()
    lm.backward(loss.backward().reshape(logits.shape))
    assert all(np.any(p.grad != 0) for p in lm.rnn.parameters())
    assert type(carried) is type(state)


@pytest.mark.parametrize("cell,cls", [("mingru", MinGRU), ("minlstm", MinLSTM)])
def test_min_cells_in_the_language_model_run_the_parallel_scan_and_carry_their_state(cell, cls):
    lm = LanguageModel(5, 4, 1, cell=cell, dtype=np.float64, rng=2)
    assert type(lm.rnn) is cls and lm.rnn.scan_mode == "parallel"
    x = np.random.default_rng(3).integers(0, 5, (8, 2))
    logits, h = lm(x)
    logits_a, h_a = lm(x[:3])
    logits_b, h_b = lm(x[3:], h_a)  # the state carried across chunks continues the sequence exactly
    assert_close(np.concatenate([logits_a, logits_b]), logits, 1e-13, name="logits")
    assert_close(h_b, h, 1e-13, name="h")


def test_unknown_cell_is_named():
    with pytest.raises(ValueError, match="cell must be one of"):
        LanguageModel(5, 4, 1, cell="transformer")


@pytest.mark.parametrize("cell,names", [("slstm", ("h", "c", "n", "m")), ("mlstm", ("C", "n", "m"))])
def test_xlstm_cells_in_the_language_model_carry_their_state(cell, names):
    """The mLSTM's state has its own shapes (a matrix memory per head); both carry it across chunks exactly."""
    lm = LanguageModel(5, 4, 1, cell=cell, dtype=np.float64, rng=2)
    assert lm.state_names == names
    shapes = [s.shape for s in lm.initial_state(2)]
    assert shapes == ([(1, 2, 4)] * 4 if cell == "slstm" else [(1, 2, 1, 4, 4), (1, 2, 1, 4), (1, 2, 1)])
    x = np.random.default_rng(3).integers(0, 5, (8, 2))
    logits, state = lm(x)
    logits_a, state_a = lm(x[:3], lm.initial_state(2))
    logits_b, state_b = lm(x[3:], state_a)
    assert_close(np.concatenate([logits_a, logits_b]), logits, 1e-13, name="logits")
    for a, b in zip(state_b, state):
        assert_close(a, b, 1e-13, name="state")

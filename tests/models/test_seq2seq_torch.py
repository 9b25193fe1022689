"""``bptt.models.Seq2Seq`` end to end: logits, loss and every parameter gradient against an independent torch
implementation (``torch_seq2seq_reference``, float64, 1e-9).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import torch_seq2seq_reference as ref
from bptt.models.seq2seq import Seq2Seq
from bptt.nn import CrossEntropyLoss
from cases.seq2seq import VS, VT, batch, randomize
from helpers import assert_close, seeded_rng
from torch_helpers import t64

pytestmark = pytest.mark.torch

RTOL = 1e-9


MODEL_CASES = [
    # cell, encoder, layers, attention, tanh
    ("lstm", "bi", 2, "luong", False),
    ("lstm", "uni", 1, "scaled_luong", True),
    ("lstm", "bi", 1, "bahdanau", False),
    ("lstm", "uni", 2, "normed_bahdanau", False),
    ("lstm", "bi", 2, "none", False),
    ("gru", "bi", 2, "luong", False),
    ("gru", "uni", 1, "normed_bahdanau", True),
    ("lnlstm", "bi", 1, "scaled_luong", False),
    ("lnlstm", "uni", 2, "none", False),
]


@pytest.mark.parametrize("case", MODEL_CASES, ids=lambda c: "-".join(map(str, c)))
def test_model_matches_torch(case):
    cell, enc, L, att, tanh = case
    rng = seeded_rng("model", case)
    model = Seq2Seq(VS, VT, embedding_size=3, hidden_size=4, num_layers=L, cell=cell, encoder=enc,
                    attention=att, attention_tanh=tanh, dtype=np.float64, rng=rng)
    randomize(model, rng)
    b = batch(rng)
    ce = CrossEntropyLoss(ignore_index=0)
    logits = model(b["src"], b["src_lengths"], b["tgt_in"])
    loss = ce(logits.reshape(-1, VT), b["tgt_out"].reshape(-1))
    model.zero_grad()
    model.backward(ce.backward().reshape(logits.shape))

    P = {n: t64(p.data) for n, p in model.named_parameters()}
    tb = {k: torch.tensor(v) for k, v in b.items()}
    tlogits, tloss = ref.seq2seq_loss(model.config(), P, tb["src"], tb["src_lengths"], tb["tgt_in"],
                                      tb["tgt_out"])
    tloss.backward()
    assert_close(logits, tlogits, RTOL, "logits")
    assert_close(loss, tloss, RTOL, "loss")
    for n, p in model.named_parameters():
        assert P[n].grad is not None, n
        assert_close(p.grad, P[n].grad, RTOL, n)
    if att != "none":
        assert model.last_alignments.shape == (b["tgt_in"].shape[0], 4, b["src"].shape[0])

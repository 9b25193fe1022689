"""docs/interop.md's PyTorch lines, run as written on files bptt exported: a strict ``load_state_dict`` into
``torch.nn`` modules, the same logits as bptt's (float32, <= 1e-5 relative), and a training step that runs.
Also the torch modules built directly from the file (no doc code), for every cell and both input kinds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bptt.data import Vocabulary
from bptt.models import LanguageModel, save_safetensors
from cases.docs import examples, run_example
from helpers import assert_close, seeded_rng

pytestmark = pytest.mark.torch
safetensors_torch = pytest.importorskip("safetensors.torch", reason='needs: pip install "bptt[safetensors]"')

VOCAB = Vocabulary.from_text("continue training in PyTorch, on a GPU if you have one")


def exported(tmp_path, cell: str, embedding_dim: int | None, num_layers: int = 2) -> LanguageModel:
    model = LanguageModel(len(VOCAB), 12, num_layers, cell=cell, embedding_dim=embedding_dim, dropout=0.1, rng=0)
    rng = seeded_rng("docs-torch", cell, embedding_dim)
    for p in model.parameters():
        p.data[...] = rng.uniform(-0.5, 0.5, p.shape)
    model.eval()
    save_safetensors(model, VOCAB, tmp_path / "model.safetensors")
    return model


@pytest.mark.parametrize("embedding_dim", [None, 5])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_the_documented_pytorch_lines(tmp_path, cell, embedding_dim):
    model = exported(tmp_path, cell, embedding_dim)
    (code,) = examples("interop.md", "torch")
    ns = run_example(code, tmp_path)
    tm = ns["model"]
    assert isinstance(tm.rnn, {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell])
    assert ns["vocabulary"] == VOCAB.itos and ns["config"] == model.config()
    assert torch.isfinite(ns["loss"])
    # the step changed the weights: reload them and compare the logits with bptt's
    tm.load_state_dict(safetensors_torch.load_file(str(tmp_path / "model.safetensors")))
    tm.eval()
    ids = seeded_rng("docs-torch-ids", cell).integers(0, len(VOCAB), (9, 4))
    with torch.no_grad():
        logits, _ = tm(torch.from_numpy(ids))
    assert_close(logits, model(ids)[0], 1e-5, name=f"{cell} logits")


def test_strict_load_into_plain_torch_modules(tmp_path):
    """The names are PyTorch's: each module loads its part with strict=True, nothing left over."""
    model = exported(tmp_path, "lstm", 6, num_layers=3)
    sd = safetensors_torch.load_file(str(tmp_path / "model.safetensors"))
    parts = {"embedding": torch.nn.Embedding(len(VOCAB), 6), "rnn": torch.nn.LSTM(6, 12, 3),
             "head": torch.nn.Linear(12, len(VOCAB))}
    for prefix, module in parts.items():
        module.load_state_dict({k[len(prefix) + 1 :]: v for k, v in sd.items() if k.startswith(prefix + ".")})
    assert sum(len(m.state_dict()) for m in parts.values()) == len(sd)
    assert sd["rnn.weight_hh_l2"].dtype == torch.float32
    for name, value in model.state_dict().items():
        assert np.array_equal(sd[name].numpy(), value), name

"""Language models as .safetensors files (``bptt.models.save_safetensors`` / ``load_safetensors``): the round trip
gives identical logits for every cell and input kind, the file holds PyTorch's names and the documented
metadata, and broken, foreign or hostile files are refused with the reason. Needs the ``safetensors`` package
(the ``test`` extra); without it the module is skipped with the reason."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

st_numpy = pytest.importorskip("safetensors.numpy", reason='needs the safetensors package: pip install '
                                                           '"bptt[safetensors]"')

from bptt.data import Vocabulary  # noqa: E402
from bptt.models import LanguageModel, load_safetensors, save_safetensors  # noqa: E402
from bptt.models import safetensors_io as S  # noqa: E402
from bptt.models.checkpoint import CheckpointError  # noqa: E402
from bptt.models.io import load_language_model  # noqa: E402
from helpers import seeded_rng  # noqa: E402

CHARS = Vocabulary.from_text("safetensors: a safe format both ways")
WORDS = Vocabulary.from_text("a safe format both ways and back again", level="word")


def model_for(vocab: Vocabulary, cell: str, embedding_dim: int | None, dtype: str = "float32") -> LanguageModel:
    m = LanguageModel(len(vocab), 9, 2, cell=cell, embedding_dim=embedding_dim, dtype=dtype, rng=0)
    rng = seeded_rng("st", cell, embedding_dim, dtype)
    for p in m.parameters():
        p.data[...] = rng.uniform(-0.6, 0.6, p.shape)
    return m.eval()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("embedding_dim", [None, 4])
@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn", "lnlstm", "mingru", "minlstm", "slstm", "mlstm"])
def test_round_trip_identical_logits(tmp_path, cell, embedding_dim, dtype):
    vocab = WORDS if embedding_dim else CHARS
    model = model_for(vocab, cell, embedding_dim, dtype)
    path = save_safetensors(model, vocab, tmp_path / "m.safetensors")
    again, vocab2, meta = load_safetensors(path)
    assert vocab2 == vocab and meta["model_config"] == model.config() and not again.training
    ids = seeded_rng("st-ids", cell).integers(0, len(vocab), (6, 3))
    y1, y2 = model(ids)[0], again(ids)[0]
    assert y2.dtype == np.dtype(dtype) and np.array_equal(y1, y2)
    again_via_io, _, _ = load_language_model(path)  # the loader bptt sample / evaluate use
    assert np.array_equal(again_via_io(ids)[0], y1)


def test_file_layout_names_and_metadata(tmp_path):
    model = model_for(WORDS, "lstm", 4)
    path = save_safetensors(model, WORDS, tmp_path / "m.safetensors")
    tensors = st_numpy.load_file(str(path))
    assert set(tensors) == set(model.state_dict())
    assert {"embedding.weight", "rnn.weight_ih_l0", "rnn.bias_hh_l1", "head.weight", "head.bias"} <= set(tensors)
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        meta = f.metadata()
    assert meta["format"] == "bptt-language-model" and meta["format_version"] == "1"
    assert json.loads(meta["vocabulary"]) == WORDS.itos and meta["vocabulary_level"] == "word"
    assert json.loads(meta["bptt_config"]) == model.config()
    assert meta == S.safetensors_metadata(model, WORDS)


def test_existing_files_are_not_replaced(tmp_path):
    target = tmp_path / "m.safetensors"
    target.write_text("the user's file")
    with pytest.raises(FileExistsError, match=r"m.safetensors exists \(pass overwrite=True to replace it\)"):
        save_safetensors(model_for(CHARS, "gru", None), CHARS, target)
    assert target.read_text() == "the user's file"
    save_safetensors(model_for(CHARS, "gru", None), CHARS, target, overwrite=True)
    assert load_safetensors(target)[0].cell == "gru"
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]  # no temporary file left behind


def test_bad_arguments():
    with pytest.raises(TypeError, match="model must be a bptt.models.LanguageModel, got str"):
        save_safetensors("model", CHARS, "x.safetensors")
    with pytest.raises(ValueError, match=r"the vocabulary has \d+ tokens, the model 3"):
        save_safetensors(LanguageModel(3, 4, 1), CHARS, "x.safetensors")


def test_broken_foreign_and_hostile_files(tmp_path):
    with pytest.raises(CheckpointError, match="safetensors file not found"):
        load_safetensors(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\xff" * 40)
    with pytest.raises(CheckpointError, match="junk.safetensors is not a valid safetensors file"):
        load_safetensors(junk)
    foreign = tmp_path / "foreign.safetensors"
    st_numpy.save_file({"w": np.zeros(3, dtype=np.float32)}, str(foreign))
    with pytest.raises(CheckpointError, match="is not a bptt language model .*bptt export --format safetensors"):
        load_safetensors(foreign)
    model = model_for(CHARS, "lstm", None)
    good = S.safetensors_metadata(model, CHARS)
    tensors = {k: np.ascontiguousarray(v) for k, v in model.state_dict().items()}
    cases = {
        "version": ({**good, "format_version": "9"}, tensors, "format version '9', this bptt reads 1"),
        "config": ({**good, "bptt_config": "{not json"}, tensors, "invalid model description"),
        "cell": ({**good, "bptt_config": json.dumps({**model.config(), "cell": "os.system"})}, tensors,
                 "invalid model description"),
        "unsorted": ({**good, "vocabulary": json.dumps(CHARS.itos[::-1])}, tensors, "in sorted order"),
        "tensors": (good, {k: v for k, v in tensors.items() if k != "head.bias"}, "does not match its model: .*"
                    "missing keys \\['head.bias'\\]"),
    }
    for name, (meta, arrays, message) in cases.items():
        path = tmp_path / f"{name}.safetensors"
        st_numpy.save_file(arrays, str(path), metadata=meta)
        with pytest.raises(CheckpointError, match=message):
            load_safetensors(path)


def test_missing_package_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r'safetensors package: pip install "bptt\[safetensors\]"$'):
        save_safetensors(model_for(CHARS, "lstm", None), CHARS, tmp_path / "m.safetensors")

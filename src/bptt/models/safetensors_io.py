"""Language models as ``.safetensors`` files: the weights under PyTorch's names, the configuration and the
vocabulary in the file's metadata. A safe format both ways (no code runs when a file is read), readable by
PyTorch (``safetensors.torch.load_file``), NumPy and bptt.

Layout of a file written by :func:`save_safetensors`:

- tensors: the model's state dict, PyTorch's names and the model's dtype: ``rnn.weight_ih_l0``,
  ``rnn.weight_hh_l0``, ``rnn.bias_ih_l0``, ``rnn.bias_hh_l0``, ... for every layer, ``head.weight``,
  ``head.bias`` and, with an embedding, ``embedding.weight``; so a ``torch.nn.Embedding`` / ``LSTM`` / ``GRU``
  / ``RNN`` / ``Linear`` built with the same sizes loads them with a strict ``load_state_dict`` (a
  layer-norm LSTM's ``rnn.kernel_l0``, ... have no ``torch.nn`` module: bptt reads them back);
- metadata (strings): ``format`` (``"bptt-language-model"``), ``format_version`` (``"1"``), ``bptt_config``
  (JSON: ``vocab_size``, ``hidden_size``, ``num_layers``, ``cell``, ``embedding_dim``, ``dropout``, ``dtype``),
  ``vocabulary`` (JSON list of the tokens in id order), ``vocabulary_level`` (``"char"`` or ``"word"``).

Writing and reading need the ``safetensors`` package (``pip install "bptt[safetensors]"``), imported only
here, when a file is written or read: the rest of bptt needs NumPy alone.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..data import DataError, Vocabulary
from .checkpoint import CheckpointError
from .lm import LanguageModel

__all__ = ["FORMAT", "MISSING_PACKAGE", "load_safetensors", "save_safetensors", "safetensors_metadata"]

FORMAT = "bptt-language-model"
VERSION = "1"
#: The message of the ImportError raised when the ``safetensors`` package is missing.
MISSING_PACKAGE = ('reading and writing .safetensors files needs the safetensors package: '
                   'pip install "bptt[safetensors]"')


def _numpy_api() -> Any:
    try:
        import safetensors.numpy as st_numpy  # noqa: PLC0415 - optional dependency, needed only here
    except ImportError:
        raise ImportError(MISSING_PACKAGE) from None
    return st_numpy


def safetensors_metadata(model: LanguageModel, vocab: Vocabulary) -> dict[str, str]:
    """The metadata :func:`save_safetensors` writes (all strings, as the format requires)."""
    return {
        "format": FORMAT,
        "format_version": VERSION,
        "bptt_config": json.dumps(model.config()),
        "vocabulary": json.dumps(list(vocab.itos), ensure_ascii=False),
        "vocabulary_level": vocab.level,
    }


def save_safetensors(model: LanguageModel, vocab: Vocabulary, path: str | Path, *, overwrite: bool = False) -> Path:
    """Write ``model`` (its state dict under PyTorch's names) and ``vocab`` to ``path`` atomically (a temporary
    file in the same directory, then ``os.replace``). An existing ``path`` is refused with
    ``FileExistsError`` unless ``overwrite``."""
    if not isinstance(model, LanguageModel):
        raise TypeError(f"save_safetensors: model must be a bptt.models.LanguageModel, got {type(model).__name__}")
    if len(vocab) != model.vocab_size:
        raise ValueError(f"save_safetensors: the vocabulary has {len(vocab)} tokens, the model {model.vocab_size}")
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists (pass overwrite=True to replace it)")
    st_numpy = _numpy_api()
    tensors = {name: np.ascontiguousarray(value) for name, value in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".export-", suffix=".safetensors.tmp", dir=path.parent)
    os.close(fd)
    try:
        st_numpy.save_file(tensors, tmp, metadata=safetensors_metadata(model, vocab))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_safetensors(path: str | Path) -> tuple[LanguageModel, Vocabulary, dict[str, Any]]:
    """Read a file written by :func:`save_safetensors`: ``(model, vocab, meta)`` like
    :func:`bptt.models.io.load_language_model` (eval mode; ``meta`` holds ``model_config``, ``vocab`` and
    ``format``). Anything wrong is a :class:`~bptt.models.checkpoint.CheckpointError` naming it."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"safetensors file not found: {p}" if not p.exists() else f"{p} is not a file")
    st_numpy = _numpy_api()
    from safetensors import safe_open  # noqa: PLC0415 - optional dependency, needed only here

    try:
        with safe_open(str(p), framework="numpy") as f:
            metadata = f.metadata() or {}
        tensors = st_numpy.load_file(str(p))
    except Exception as exc:  # noqa: BLE001 - the library raises its own error types for corrupt files
        raise CheckpointError(f"{p} is not a valid safetensors file ({type(exc).__name__}: {exc})") from None
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{p} is not a bptt language model (its safetensors metadata has no "
                              f"format={FORMAT!r}; bptt export --format safetensors writes one)")
    if metadata.get("format_version") != VERSION:
        raise CheckpointError(f"{p} has format version {metadata.get('format_version')!r}, this bptt reads {VERSION}")
    try:
        mc = json.loads(metadata["bptt_config"])
        vocab = Vocabulary(json.loads(metadata["vocabulary"]), metadata["vocabulary_level"])
        model = LanguageModel(mc["vocab_size"], mc["hidden_size"], mc["num_layers"], cell=mc["cell"],
                              embedding_dim=mc["embedding_dim"], dropout=mc["dropout"], dtype=mc["dtype"], rng=0)
    except (KeyError, TypeError, ValueError, DataError) as exc:
        raise CheckpointError(f"{p} has an invalid model description ({type(exc).__name__}: {exc})") from None
    if vocab.itos != json.loads(metadata["vocabulary"]) or len(vocab) != model.vocab_size:
        raise CheckpointError(f"{p}: the vocabulary must be {model.vocab_size} distinct tokens in sorted order")
    try:
        model.load_state_dict(tensors)
    except (ValueError, TypeError) as exc:
        raise CheckpointError(f"{p} does not match its model: {exc}") from None
    model.eval()
    return model, vocab, {"format": FORMAT, "model_config": mc, "vocab": vocab.to_dict()}

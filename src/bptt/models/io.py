"""Trained models from checkpoints: the language model or translator a ``bptt train`` / ``bptt translate train``
run saved, with its vocabularies, ready to sample, evaluate or export (eval mode).

The file format is :mod:`bptt.models.checkpoint` (one ``.npz``, no pickle). A checkpoint also holds the
training state (optimizer, random generators, batching position); reading and writing that is
:mod:`bptt.training`'s business, not this module's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..data import Vocabulary
from ..data.parallel import ParallelVocab
from . import checkpoint as ckpt
from .lm import LanguageModel
from .safetensors_io import load_safetensors
from .seq2seq import Seq2Seq

__all__ = ["LANGUAGE_MODEL", "TRANSLATOR", "load_language_model", "load_translator"]

LANGUAGE_MODEL = "language_model"  # the checkpoint ``kind`` of a language model
TRANSLATOR = "seq2seq"  # the checkpoint ``kind`` of a translator


def load_language_model(path: str | Path) -> tuple[LanguageModel, Vocabulary, dict[str, Any]]:
    """Load a trained language model, its vocabulary and the checkpoint's ``meta`` from a checkpoint
    directory or file (eval mode), or from a ``.safetensors`` file written by ``bptt export``
    (:func:`~bptt.models.safetensors_io.load_safetensors`). Raises :class:`~bptt.models.checkpoint.CheckpointError`."""
    if Path(path).suffix == ".safetensors":
        return load_safetensors(path)
    meta, params, _ = ckpt.load(path, kind=LANGUAGE_MODEL)
    try:
        vocab = Vocabulary.from_dict(meta["vocab"])
        mc = meta["model_config"]
        model = LanguageModel(mc["vocab_size"], mc["hidden_size"], mc["num_layers"], cell=mc["cell"],
                              embedding_dim=mc["embedding_dim"], dropout=mc["dropout"], dtype=mc["dtype"],
                              rng=0)
    except (KeyError, TypeError, ValueError) as exc:
        raise ckpt.CheckpointError(f"checkpoint {path} has an invalid model description ({exc})") from None
    if len(vocab) != model.vocab_size:
        raise ckpt.CheckpointError(f"checkpoint {path}: vocabulary size {len(vocab)} != model's {model.vocab_size}")
    _load_parameters(model, params, path)
    return model, vocab, meta


def load_translator(path: str | Path) -> tuple[Seq2Seq, ParallelVocab, ParallelVocab, dict[str, Any]]:
    """Load a trained translator, its source and target vocabularies and the checkpoint's ``meta`` from a
    checkpoint directory or file (eval mode). Raises :class:`~bptt.models.checkpoint.CheckpointError`."""
    meta, params, _ = ckpt.load(path, kind=TRANSLATOR)
    try:
        src_vocab = ParallelVocab.from_dict(meta["src_vocab"])
        tgt_vocab = ParallelVocab.from_dict(meta["tgt_vocab"])
        mc = meta["model_config"]
        if not isinstance(mc, dict):
            raise TypeError("model_config is not a mapping")
        model = Seq2Seq.from_config(mc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ckpt.CheckpointError(f"checkpoint {path} has an invalid model description ({exc})") from None
    if len(src_vocab) != model.src_vocab_size or len(tgt_vocab) != model.tgt_vocab_size:
        raise ckpt.CheckpointError(f"checkpoint {path}: the vocabulary sizes do not match the model")
    _load_parameters(model, params, path)
    return model, src_vocab, tgt_vocab, meta


def _load_parameters(model: LanguageModel | Seq2Seq, params: dict[str, Any], path: str | Path) -> None:
    try:
        model.load_state_dict(params)
    except (ValueError, TypeError) as exc:
        raise ckpt.CheckpointError(f"checkpoint {path} does not match its model: {exc}") from None
    model.eval()

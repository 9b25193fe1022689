"""Trained models from checkpoints: the language model or translator a ``bptt train`` / ``bptt translate train``
run saved, with its vocabularies, ready to sample, evaluate or export (eval mode).

The file format is :mod:`bptt.models.checkpoint` (one ``.npz``, no pickle). A checkpoint also holds the
training state (optimizer, random generators, batching position); reading and writing that is
:mod:`bptt.training`'s business, not this module's.

Every entry this module reads is checked against a schema before anything is built: :data:`LM_MODEL`,
:data:`TRANSLATOR_MODEL` (``model_config``), the vocabularies, and the consistency of the three with the
parameter arrays stored (their number of values, dtypes, names and shapes). A damaged or edited checkpoint is
one :class:`~bptt.models.checkpoint.CheckpointError` naming the file and the field, never a huge allocation
or an error from deep inside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..data import Vocabulary
from ..data.parallel import EOS, SPECIALS, ParallelVocab
from ..data.parallel import LEVELS as PAIR_LEVELS
from ..data.text import LEVELS, tokenize
from . import checkpoint as ckpt
from .lm import CELLS as LM_CELLS
from .lm import LanguageModel
from .safetensors_io import load_safetensors
from .schema import AllOf, Bool, Check, Float, Int, ListOf, Nullable, Record, Str
from .seq2seq import ATTENTIONS, ENCODERS, Seq2Seq
from .seq2seq import CELLS as TRANSLATOR_CELLS

__all__ = ["LANGUAGE_MODEL", "LM_MODEL", "TRANSLATOR", "TRANSLATOR_MODEL", "load_language_model", "load_translator",
           "pair_vocabulary_spec", "vocabulary_spec"]

LANGUAGE_MODEL = "language_model"  # the checkpoint ``kind`` of a language model
TRANSLATOR = "seq2seq"  # the checkpoint ``kind`` of a translator
DTYPES = ("float32", "float64")


def _sorted_distinct(specials: tuple[str, ...] = ()) -> Check:
    def rule(tokens: list[str]) -> str | None:
        if len(set(tokens)) != len(tokens):
            return "must not repeat a token"
        if tokens != sorted(tokens):
            return "must be sorted"
        clash = sorted(set(tokens) & set(specials))
        return f"must not hold the special tokens ({', '.join(clash)})" if clash else None

    return Check(rule)


def vocabulary_spec() -> Record:
    """A language model's vocabulary: ``{"level": "char"|"word", "tokens": [sorted distinct strings]}``."""
    return Record({"level": Str(LEVELS), "tokens": AllOf(ListOf(Str(), min_length=1), _sorted_distinct())})


def pair_vocabulary_spec() -> Record:
    """A translator's vocabulary: the tokens after ``<pad> <unk> <s> </s>``, sorted, distinct."""
    return Record({"level": Str(PAIR_LEVELS), "tokens": AllOf(ListOf(Str()), _sorted_distinct(SPECIALS))})


#: ``model_config`` of a language model (:meth:`LanguageModel.config`)
LM_MODEL = Record({"vocab_size": Int(low=1), "hidden_size": Int(low=1), "num_layers": Int(low=1),
                   "cell": Str(LM_CELLS), "embedding_dim": Nullable(Int(low=1)),
                   "dropout": Float(0, 1, high_open=True), "dtype": Str(DTYPES)})
#: ``model_config`` of a translator (:meth:`Seq2Seq.config`)
TRANSLATOR_MODEL = Record({"src_vocab_size": Int(low=EOS + 1), "tgt_vocab_size": Int(low=EOS + 1),
                           "embedding_size": Int(low=1), "hidden_size": Int(low=1), "num_layers": Int(low=1),
                           "cell": Str(TRANSLATOR_CELLS), "encoder": Str(ENCODERS), "attention": Str(ATTENTIONS),
                           "attention_tanh": Bool(), "dtype": Str(DTYPES)})


def load_language_model(path: str | Path) -> tuple[LanguageModel, Vocabulary, dict[str, Any]]:
    """Load a trained language model, its vocabulary and the checkpoint's ``meta`` from a checkpoint
    directory or file (eval mode), or from a ``.safetensors`` file written by ``bptt export``
    (:func:`~bptt.models.safetensors_io.load_safetensors`). Raises :class:`~bptt.models.checkpoint.CheckpointError`."""
    if Path(path).suffix == ".safetensors":
        return load_safetensors(path)
    file = ckpt.resolve(path)
    meta, params, _ = ckpt.load(file, kind=LANGUAGE_MODEL)
    ckpt.check_meta(meta, Record({"model_config": LM_MODEL, "vocab": vocabulary_spec()},
                                 optional=("default_prime",), extra=True), file)
    ckpt.check_meta(meta.get("default_prime", "x"), Str(), file, "default_prime")
    mc = meta["model_config"]
    vocab = Vocabulary.from_dict(meta["vocab"])
    if len(vocab) != mc["vocab_size"]:
        raise ckpt.CheckpointError(f"{file}: invalid checkpoint: vocab has {len(vocab)} tokens but "
                                   f"model_config.vocab_size is {mc['vocab_size']}")
    if "default_prime" in meta:
        unknown = sorted({t for t in tokenize(meta["default_prime"], vocab.level) if t not in vocab})
        if unknown or not meta["default_prime"]:
            raise ckpt.CheckpointError(f"{file}: invalid checkpoint: default_prime must be text in the vocabulary, "
                                       f"got {meta['default_prime']!r}")
    expected = LanguageModel.parameter_count(mc["vocab_size"], mc["hidden_size"], mc["num_layers"], mc["cell"],
                                             mc["embedding_dim"])
    check_parameters(params, expected, mc["dtype"], file)
    model = LanguageModel(mc["vocab_size"], mc["hidden_size"], mc["num_layers"], cell=mc["cell"],
                          embedding_dim=mc["embedding_dim"], dropout=mc["dropout"], dtype=mc["dtype"], rng=0)
    _load_parameters(model, params, file)
    return model, vocab, meta


def load_translator(path: str | Path) -> tuple[Seq2Seq, ParallelVocab, ParallelVocab, dict[str, Any]]:
    """Load a trained translator, its source and target vocabularies and the checkpoint's ``meta`` from a
    checkpoint directory or file (eval mode). Raises :class:`~bptt.models.checkpoint.CheckpointError`."""
    file = ckpt.resolve(path)
    meta, params, _ = ckpt.load(file, kind=TRANSLATOR)
    ckpt.check_meta(meta, Record({"model_config": TRANSLATOR_MODEL, "src_vocab": pair_vocabulary_spec(),
                                  "tgt_vocab": pair_vocabulary_spec()}, extra=True), file)
    mc = meta["model_config"]
    src_vocab = ParallelVocab.from_dict(meta["src_vocab"])
    tgt_vocab = ParallelVocab.from_dict(meta["tgt_vocab"])
    for side, vocab in (("src", src_vocab), ("tgt", tgt_vocab)):
        if len(vocab) != mc[f"{side}_vocab_size"]:
            raise ckpt.CheckpointError(f"{file}: invalid checkpoint: {side}_vocab has {len(vocab)} tokens (with the "
                                       f"4 special ones) but model_config.{side}_vocab_size is "
                                       f"{mc[f'{side}_vocab_size']}")
    check_parameters(params, Seq2Seq.parameter_count(mc), mc["dtype"], file)
    model = Seq2Seq.from_config(mc)
    _load_parameters(model, params, file)
    return model, src_vocab, tgt_vocab, meta


def check_parameters(params: dict[str, np.ndarray], expected: int, dtype: str, file: Path) -> None:
    """The stored parameters hold ``expected`` values of ``dtype`` in all (checked before the model is built,
    so an edited ``model_config`` cannot ask for a huge allocation)."""
    stored = sum(int(v.size) for v in params.values())
    if stored != expected:
        raise ckpt.CheckpointError(f"{file}: invalid checkpoint: model_config describes a model of {expected:,} "
                                   f"parameter values, but the file stores {stored:,}")
    for name, v in params.items():
        if v.dtype != np.dtype(dtype):
            raise ckpt.CheckpointError(f"{file}: invalid checkpoint: parameter {name} has dtype {v.dtype} but "
                                       f"model_config.dtype is {dtype}")


def _load_parameters(model: LanguageModel | Seq2Seq, params: dict[str, Any], file: Path) -> None:
    try:
        model.load_state_dict(params)
    except (ValueError, TypeError, KeyError) as exc:
        raise ckpt.CheckpointError(f"{file}: invalid checkpoint: the parameters do not match model_config ({exc})"
                                   ) from None
    model.eval()

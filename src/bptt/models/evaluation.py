"""Scores of trained models: a language model's cross-entropy on a text, a translator's teacher-forced loss,
exact match and BLEU. Used by training (validation) and by ``bptt evaluate`` / ``bptt translate eval``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..data import DataError, eval_chunks
from ..data.parallel import PAD, Pair, ParallelVocab, detokenize, make_batch
from ..nn import CrossEntropyLoss, no_grad
from .lm import LanguageModel
from .seq2seq import Seq2Seq

__all__ = ["bleu_score", "encode_pairs", "evaluate_loss", "evaluate_translator", "evaluation_streams", "loss_sum",
           "validation_loss", "validation_loss_sum"]


# ---------------------------------------------------------------------------------------------- language models
def evaluation_streams(n_tokens: int, batch_size: int, seq_length: int) -> int:
    """How many parallel streams :func:`evaluate_loss` cuts a text of ``n_tokens`` into: ``batch_size``, fewer
    when the text is too short for that many streams of ``seq_length``."""
    return max(1, min(batch_size, (n_tokens - 1) // max(seq_length, 1) or 1))


def loss_sum(model: LanguageModel, ids: np.ndarray, batch_size: int, seq_length: int,
             streams: slice = slice(None)) -> tuple[float, int]:
    """Summed cross-entropy (nats) and token count of the streams ``streams`` (of the
    :func:`evaluation_streams` streams) over ``ids``, state carried across chunks (eval mode). A data-parallel
    process evaluates its share of the streams; the sums of all shares are the whole text's."""
    chunks = eval_chunks(ids, evaluation_streams(len(ids), batch_size, seq_length), seq_length)
    if not chunks:
        raise DataError(f"too little text to evaluate: {len(ids)} tokens")
    was = model.training
    model.eval()
    total, count = 0.0, 0
    ce = CrossEntropyLoss(reduction="sum")
    try:
        with no_grad():
            state = None
            for x, y in chunks:
                x, y = np.ascontiguousarray(x[:, streams]), np.ascontiguousarray(y[:, streams])
                if y.size == 0:
                    break
                logits, state = model(x, state)
                total += float(ce(logits.reshape(-1, model.vocab_size), y.reshape(-1)))
                count += y.size
    finally:
        model.train(was)
    return total, count


def evaluate_loss(model: LanguageModel, ids: np.ndarray, batch_size: int, seq_length: int) -> float:
    """Mean cross-entropy (nats per token) over ``ids`` with state carried across chunks (eval mode)."""
    total, count = loss_sum(model, ids, batch_size, seq_length)
    return total / count


# ---------------------------------------------------------------------------------------------- translators
def encode_pairs(pairs: Sequence[Pair], src_vocab: ParallelVocab, tgt_vocab: ParallelVocab,
                 unk: str = "replace") -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Id arrays of the sources and targets (targets without ``</s>``)."""
    return ([src_vocab.encode(s, unk=unk) for s, _ in pairs],
            [tgt_vocab.encode(t, unk=unk) for _, t in pairs])


def validation_loss_sum(model: Seq2Seq, sources: list[np.ndarray], targets: list[np.ndarray],
                        batch_size: int) -> tuple[float, int]:
    """Summed teacher-forced cross-entropy (nats, ``</s>`` included) and target token count over the pairs
    (``(0.0, 0)`` for none)."""
    ce = CrossEntropyLoss(ignore_index=PAD, reduction="sum")
    total, count = 0.0, 0
    with no_grad():
        for start in range(0, len(sources), batch_size):
            b = make_batch(sources[start : start + batch_size], targets[start : start + batch_size])
            logits = model(b["src"], b["src_lengths"], b["tgt_in"])
            total += float(ce(logits.reshape(-1, model.tgt_vocab_size), b["tgt_out"].reshape(-1)))
            count += int((b["tgt_out"] != PAD).sum())
    return total, count


def validation_loss(model: Seq2Seq, sources: list[np.ndarray], targets: list[np.ndarray],
                    batch_size: int) -> float:
    """Teacher-forced cross-entropy (nats per target token, ``</s>`` included) over the pairs."""
    total, count = validation_loss_sum(model, sources, targets, batch_size)
    return total / count


def bleu_score(hypotheses: list[str], references: list[str]) -> tuple[float | None, str | None]:
    """Corpus BLEU through ``sacrebleu`` (its default 13a tokenizer on the detokenized strings); ``(None,
    note)`` when sacrebleu is not installed."""
    try:
        import sacrebleu  # noqa: PLC0415 - optional extra
    except ImportError:
        return None, "sacrebleu is not installed (pip install 'bptt[bleu]'); BLEU was not computed"
    return float(sacrebleu.corpus_bleu(hypotheses, [references]).score), None


def evaluate_translator(model: Seq2Seq, src_vocab: ParallelVocab, tgt_vocab: ParallelVocab,
                        pairs: Sequence[Pair], *, beam_width: int = 1, length_penalty: float = 0.0,
                        batch_size: int = 64, bleu: bool = True, max_length: int | None = None) -> dict[str, Any]:
    """Decode every source (greedy, or beam search with ``beam_width > 1``) and score against the targets.

    Returns ``{"examples", "exact_match", "bleu", "bleu_note", "hypotheses"}``: ``exact_match`` is the
    fraction of hypotheses whose tokens equal the reference's; ``bleu`` is sacrebleu's corpus BLEU (None, with
    a note, without sacrebleu or with ``bleu=False``). Unknown source tokens are read as ``<unk>``."""
    if not pairs:
        raise DataError("no pairs to evaluate")
    sources = [src_vocab.encode(s, unk="replace") for s, _ in pairs]
    hyps = model.translate(sources, beam_width=beam_width, length_penalty=length_penalty,
                           batch_size=batch_size, max_length=max_length)
    out_tokens = [tgt_vocab.decode(t) for t in hyps.tokens]
    exact = sum(h == list(t) for h, (_, t) in zip(out_tokens, pairs, strict=True)) / len(pairs)
    level = tgt_vocab.level
    hyp_text = [detokenize(h, level) for h in out_tokens]
    ref_text = [detokenize(t, level) for _, t in pairs]
    score, note = bleu_score(hyp_text, ref_text) if bleu else (None, "BLEU not requested")
    return {"examples": len(pairs), "exact_match": exact, "bleu": score, "bleu_note": note,
            "hypotheses": hyp_text}

"""``bptt.models.Seq2Seq`` without PyTorch: parameter names, padded batch == each sequence alone, greedy and
beam search (width 1 == greedy, scores are sums of log-probabilities, exhaustive search agrees) and decoding
errors. The parity with the torch reference lives in test_seq2seq_torch.py.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bptt.data.parallel import (
    EOS,
    SOS,
    make_batch,
)
from bptt.models.ranking import length_penalty
from bptt.models.seq2seq import Seq2Seq
from cases.seq2seq import VS, VT, batch, randomize
from helpers import seeded_rng


def test_parameter_names():
    m = Seq2Seq(VS, VT, embedding_size=3, hidden_size=4, encoder="bi", attention="normed_bahdanau", rng=0)
    names = [n for n, _ in m.named_parameters()]
    assert names[:2] == ["src_embedding.weight", "tgt_embedding.weight"]
    mech = "decoder.attention_mechanism."
    for n in ("encoder.weight_ih_l0_reverse", "bridge_h.weight", "bridge_c.bias", "decoder.cell.weight_ih_l0",
              mech + "memory_layer.weight", mech + "query_layer.weight", mech + "attention_g",
              "decoder.attention_layer.weight", "output_layer.weight"):
        assert n in names, n
    assert m.decoder.cell.input_size == 3 + 4  # input feeding
    assert m.decoder.attention_mechanism.memory_size == 8  # bidirectional memory


def test_padded_batch_equals_each_sequence_alone():
    rng = seeded_rng("alone")
    model = Seq2Seq(VS, VT, embedding_size=3, hidden_size=4, num_layers=2, encoder="bi", dtype=np.float64,
                    rng=rng)
    randomize(model, rng)
    b = batch(rng)
    logits = model(b["src"], b["src_lengths"], b["tgt_in"])
    for j in range(4):
        n = b["src_lengths"][j]
        alone = model(b["src"][:n, j : j + 1], None, b["tgt_in"][:, j : j + 1])
        np.testing.assert_allclose(alone[:, 0], logits[:, j], rtol=1e-12, atol=1e-13)
    model.clear_caches()


# ---------------------------------------------------------------------------------------------- decoding
def _teacher_forced_logprob(model, src, lengths, hyps):
    """Sum of log p(token) (``</s>`` included when emitted) of each hypothesis under teacher forcing."""
    tgt = [np.array(t, dtype=np.int64) for t in hyps.tokens]
    b = make_batch([src[: lengths[j], j] for j in range(src.shape[1])], tgt)
    out = b["tgt_out"].copy()
    for j, fin in enumerate(hyps.finished):
        if not fin:  # unfinished: no </s> was emitted
            out[len(tgt[j]), j] = 0
    logits = model(b["src"], b["src_lengths"], b["tgt_in"])
    model.clear_caches()
    z = logits - logits.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    picked = np.take_along_axis(logp, out[:, :, None], axis=2)[:, :, 0] * (out != 0)
    return picked.sum(0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("att", ["luong", "normed_bahdanau", "none"])
def test_beam_width_one_equals_greedy(att, dtype):
    rng = seeded_rng("greedy", att, dtype)
    model = Seq2Seq(VS, VT, embedding_size=4, hidden_size=5, num_layers=2, encoder="bi", attention=att,
                    dtype=dtype, rng=rng)
    randomize(model, rng)
    model.output_layer.weight.data[EOS] -= 0.4  # longer outputs
    b = batch(rng, src_lens=(5, 2, 4, 1, 3, 5))
    for alpha in (0.0, 1.0):
        g = model.greedy(b["src"], b["src_lengths"], max_length=7)
        bs = model.beam_search(b["src"], b["src_lengths"], beam_width=1, length_penalty=alpha, max_length=7)
        assert g.tokens == bs.tokens
        np.testing.assert_array_equal(g.scores, bs.scores)
        np.testing.assert_array_equal(g.finished, bs.finished)
        if att != "none":
            for a, c in zip(g.alignments, bs.alignments, strict=True):
                np.testing.assert_array_equal(a, c)
    assert any(len(t) > 1 for t in g.tokens)


@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_beam_scores_are_sums_of_log_probabilities(alpha):
    rng = seeded_rng("beam", alpha)
    model = Seq2Seq(VS, VT, embedding_size=4, hidden_size=5, encoder="bi", attention="bahdanau",
                    dtype=np.float64, rng=rng)
    randomize(model, rng)
    b = batch(rng, src_lens=(5, 2, 4, 1, 3))
    hyps = model.beam_search(b["src"], b["src_lengths"], beam_width=4, length_penalty=alpha, max_length=6)
    ref_scores = _teacher_forced_logprob(model, b["src"], b["src_lengths"], hyps)
    np.testing.assert_allclose(hyps.scores, ref_scores, rtol=1e-12, atol=1e-12)
    lens = np.array([len(t) for t in hyps.tokens])
    np.testing.assert_allclose(hyps.normalized_scores, hyps.scores / length_penalty(lens, alpha), rtol=1e-12)
    for j, a in enumerate(hyps.alignments):
        assert a.shape == (len(hyps.tokens[j]) + hyps.finished[j], b["src_lengths"][j])
        np.testing.assert_allclose(a.sum(1), 1.0)
    g = model.greedy(b["src"], b["src_lengths"], max_length=6)
    if alpha == 0.0:  # at least as good as greedy here (not a theorem in general, true for these seeds)
        assert np.all(hyps.scores >= g.scores - 1e-12)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_wide_beam_is_exhaustive_search(alpha):
    """V = 6 (4 special tokens + 2; <pad> and <s> are never emitted), max_length 3: a beam of 36 keeps every
    prefix, so it must return the best of all sequences (by length-penalised score), found by brute force."""
    V = 6
    rng = seeded_rng("exhaustive", alpha)
    model = Seq2Seq(7, V, embedding_size=3, hidden_size=4, encoder="uni", attention="luong", dtype=np.float64,
                    rng=rng)
    randomize(model, rng)
    src = np.array([[4, 5, 6], [6, 4, 4]]).T
    lengths = np.array([3, 2])
    hyps = model.beam_search(src, lengths, beam_width=V * V, length_penalty=alpha, max_length=3)
    for j in range(2):
        best, best_seq = -np.inf, None
        tokens = [t for t in range(V) if t not in (0, SOS)]  # <pad> and <s> are never emitted
        cands = [seq for n in (1, 2, 3) for seq in itertools.product(tokens, repeat=n)
                 if EOS not in seq[:-1] and (seq[-1] == EOS or n == 3)]
        tgt_in = np.array([[SOS, *seq[:-1]] + [0] * (3 - len(seq)) for seq in cands]).T
        tgt_out = np.array([list(seq) + [0] * (3 - len(seq)) for seq in cands]).T
        logits = model(np.repeat(src[:, j : j + 1], len(cands), 1), np.full(len(cands), lengths[j]), tgt_in)
        model.clear_caches()
        z = logits - logits.max(-1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
        mask = np.array([[t < len(seq) for seq in cands] for t in range(3)])
        sums = (np.take_along_axis(logp, tgt_out[:, :, None], 2)[:, :, 0] * mask).sum(0)
        for k, seq in enumerate(cands):
            n_tok = len(seq) - (seq[-1] == EOS)
            s = sums[k] / length_penalty(n_tok, alpha)
            if s > best:
                best, best_seq = s, seq
        assert hyps.normalized_scores[j] == pytest.approx(best, rel=1e-12)
        assert tuple(hyps.tokens[j]) == tuple(t for t in best_seq if t != EOS)


def test_translate_batches_and_keeps_order(monkeypatch):
    rng = seeded_rng("translate")
    model = Seq2Seq(VS, VT, embedding_size=4, hidden_size=5, encoder="bi", dtype=np.float64, rng=rng)
    randomize(model, rng)
    step = model._step

    def never_eos(y, state, mem):  # every sentence runs to its own step limit
        logp, state, a = step(y, state, mem)
        logp[:, EOS] = -np.inf
        return logp, state, a

    monkeypatch.setattr(model, "_step", never_eos)
    sources = [rng.integers(4, VS, n) for n in (5, 1, 3, 7, 2)]
    for k, max_length in itertools.product((1, 3), (6, None)):
        all_at_once = model.translate(sources, beam_width=k, batch_size=2, max_length=max_length)
        for i, s in enumerate(sources):
            alone = model.translate([s], beam_width=k, max_length=max_length)
            assert alone.tokens[0] == all_at_once.tokens[i]
            assert alone.scores[0] == pytest.approx(all_at_once.scores[i], rel=1e-12)
            limit = 6 if max_length else max(10, 2 * len(s))  # per sentence, whatever the batch
            assert len(alone.tokens[0]) == limit and not alone.finished[0]
            assert alone.alignments[0].shape == (limit, len(s))


def test_decoding_errors_are_clear():
    model = Seq2Seq(VS, VT, rng=0)
    src = np.array([[4, 5]])
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="beam_width must be a positive int"):
            model.beam_search(src, None, beam_width=bad)
        with pytest.raises(ValueError, match="beam_width must be a positive int"):
            model.translate([np.array([4])], beam_width=bad)
    with pytest.raises(ValueError, match="length_penalty must be >= 0"):
        model.beam_search(src, None, beam_width=2, length_penalty=-1)
    with pytest.raises(ValueError, match=r"src ids must be in \[0, 11\)"):
        model.greedy(np.array([[4, 11]]))
    with pytest.raises(ValueError, match=r"src_lengths must be in \[1, 1\]"):
        model.greedy(src, [1, 2])
    with pytest.raises(ValueError, match="time-major"):
        model.greedy(np.array([4, 5]))
    with pytest.raises(ValueError, match="batch_size must be > 0"):
        model.translate([np.array([4])], batch_size=0)
    with pytest.raises(ValueError, match="max_length must be > 0"):
        model.greedy(src, max_length=0)
    with pytest.raises(ValueError, match="source 1 is empty"):
        model.translate([np.array([4]), np.array([], dtype=np.int64)])
    with pytest.raises(ValueError, match="attention must be one of"):
        Seq2Seq(VS, VT, attention="dot")
    with pytest.raises(ValueError, match="tgt_vocab_size must be > 3"):
        Seq2Seq(VS, 3)

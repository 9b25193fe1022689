"""``bptt.models.Seq2Seq`` end to end: logits, loss and every parameter gradient against an independent torch
implementation (``seq2seq_reference``, float64, 1e-9), greedy and beam search (width 1 == greedy, scores
are sums of log-probabilities, exhaustive search agrees), and the parallel-data and dates modules."""

from __future__ import annotations

import datetime as dt
import itertools

import numpy as np
import pytest
import torch

import seq2seq_reference as ref
from bptt.data import DataError
from bptt.data import dates as D
from bptt.data.parallel import (
    EOS,
    SOS,
    PairBatches,
    ParallelVocab,
    make_batch,
    pad_batch,
    parse_tsv,
    read_line_aligned,
    read_tsv,
)
from bptt.models.seq2seq import Seq2Seq, _length_penalty
from bptt.nn import CrossEntropyLoss
from conftest import assert_close, distinct_uniform, seeded_rng, t64

RTOL = 1e-9
VS, VT = 11, 9


def randomize(model, rng):
    for _, p in model.named_parameters():
        p.data[...] = distinct_uniform(rng, p.shape)


def batch(rng, src_lens=(5, 2, 4, 1), tgt_lens=(3, 1, 4, 2)):
    srcs = [rng.integers(4, VS, n) for n in src_lens]
    tgts = [rng.integers(4, VT, n) for n in tgt_lens]
    return make_batch(srcs, tgts)


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
    np.testing.assert_allclose(hyps.normalized_scores, hyps.scores / _length_penalty(lens, alpha), rtol=1e-12)
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
            s = sums[k] / _length_penalty(n_tok, alpha)
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


# ---------------------------------------------------------------------------------------------- data
def test_parse_tsv_and_its_errors(tmp_path):
    pairs = parse_tsv("a b\tx y z\n\n  \nc\tw\r\n")
    assert pairs == [(["a", "b"], ["x", "y", "z"]), (["c"], ["w"])]
    assert parse_tsv("May 3\t1979-05-03\n", level="char")[0] == (list("May 3"), list("1979-05-03"))
    cases = {
        "a b c\n": "line 1: no tab",
        "a\tb\nc\td\te\n": "line 2: 2 tabs",
        "\tb\n": "line 1: empty source side",
        "a\t  \n": "line 1: empty target side",
        "a <s>\tb\n": "reserved token",
        "\n \n": "no sentence pairs",
    }
    for text, msg in cases.items():
        with pytest.raises(DataError, match=msg):
            parse_tsv(text, "f.tsv")
    (tmp_path / "empty.tsv").write_text("")
    with pytest.raises(DataError, match="empty"):
        read_tsv(tmp_path / "empty.tsv")
    with pytest.raises(DataError, match="not found"):
        read_tsv(tmp_path / "missing.tsv")
    (tmp_path / "bin.tsv").write_bytes(b"a\x00\tb\n")
    with pytest.raises(DataError, match="binary"):
        read_tsv(tmp_path / "bin.tsv")
    (tmp_path / "s.txt").write_text("a b\nc\n")
    (tmp_path / "t.txt").write_text("x\ny z\n")
    pairs = read_line_aligned(tmp_path / "s.txt", tmp_path / "t.txt")
    assert pairs == [(["a", "b"], ["x"]), (["c"], ["y", "z"])]
    (tmp_path / "t.txt").write_text("x\n")
    with pytest.raises(DataError, match="has 2 lines but"):
        read_line_aligned(tmp_path / "s.txt", tmp_path / "t.txt")


def test_vocabulary_unknown_tokens():
    v = ParallelVocab.build([["b", "a", "b"], ["c"]], min_count=1)
    assert v.itos == ["<pad>", "<unk>", "<s>", "</s>", "a", "b", "c"]
    assert v.encode(["a", "c"], eos=True).tolist() == [4, 6, EOS]
    with pytest.raises(DataError, match=r"2 token\(s\) not in the vocabulary: 'x', 'y'"):
        v.encode(["a", "y", "x"])
    assert v.encode(["a", "y"], unk="replace").tolist() == [4, 1]
    assert v.decode([2, 4, 1, 5, 3, 6]) == ["a", "<unk>", "b"]
    assert ParallelVocab.build([["b", "a", "b"]], min_count=2).itos[4:] == ["b"]
    assert ParallelVocab.from_dict(v.to_dict()) == v
    with pytest.raises(DataError, match="sorted"):
        ParallelVocab.from_dict({"level": "word", "tokens": ["b", "a"]})


def test_pad_batch_and_batches_resume():
    src, lengths = pad_batch([np.array([4, 5, 6]), np.array([7])])
    assert src.tolist() == [[4, 7], [5, 0], [6, 0]] and lengths.tolist() == [3, 1]
    b = make_batch([np.array([4])], [np.array([5, 6])])
    assert b["tgt_in"][:, 0].tolist() == [SOS, 5, 6] and b["tgt_out"][:, 0].tolist() == [5, 6, EOS]
    a = PairBatches(10, 4, seed=3)
    first = [next(a) for _ in range(3)]
    state, arrays = a.state_dict()
    rest = [next(a) for _ in range(5)]
    c = PairBatches(10, 4, seed=3)
    c.load_state_dict(state, arrays)
    assert all(np.array_equal(x, y) for x, y in zip(rest, [next(c) for _ in range(5)], strict=True))
    assert all(len(x) == 4 for x in first + rest)
    with pytest.raises(DataError, match="does not match"):
        PairBatches(11, 4).load_state_dict(state, arrays)


def test_dates_task_is_deterministic_correct_and_disjoint():
    s1 = D.generate_splits(2000, 200, 200, seed=5)
    s2 = D.generate_splits(2000, 200, 200, seed=5)
    assert s1 == s2 and s1 != D.generate_splits(2000, 200, 200, seed=6)
    assert [len(s1[k]) for k in ("train", "val", "test")] == [2000, 200, 200]
    dates = {k: {iso for _, iso in v} for k, v in s1.items()}
    assert not dates["train"] & dates["val"] and not dates["train"] & dates["test"]
    assert not dates["val"] & dates["test"]
    assert len({src for src, _ in s1["train"]}) == 2000
    for src, iso in s1["train"][:300]:
        d = dt.date.fromisoformat(iso)
        assert D.FIRST <= d <= D.LAST
        assert src in {D.render(d, f) for f in range(len(D.FORMATS))}
    d = dt.date(1979, 5, 3)
    assert D.render(d, 9) == "Thursday, May 3, 1979"
    assert D.render(d, 4) == "3.5.79" and D.render(d, 2) == "5/3/1979"
    assert D._ordinal(11) == "11th" and D._ordinal(22) == "22nd" and D._ordinal(3) == "3rd"
    with pytest.raises(ValueError, match="n_train"):
        D.generate_splits(-1)

"""``bptt.data.parallel`` and ``bptt.data.dates``: TSV parsing and its errors, vocabularies with unknown tokens,
padded batches that resume, and the deterministic dates task.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

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

"""``bptt.data`` text side: character and word vocabularies, unknown tokens, the train/validation split and the
embedded default corpus.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from bptt.data import DataError, Vocabulary, default_corpus_text, split_train_val


# ---------------------------------------------------------------------------------------------- vocabulary
def test_char_vocabulary_round_trip():
    text = "héllo, wörld!\nthe end\t€"
    v = Vocabulary.from_text(text, "char")
    assert v.itos == sorted(set(text))
    assert len(v) == len(set(text))
    ids = v.encode(text)
    assert ids.dtype == np.int64 and ids.shape == (len(text),)
    assert v.decode(ids) == text
    again = Vocabulary.from_dict(json.loads(json.dumps(v.to_dict())))
    assert again == v and again.stoi == v.stoi
    assert np.array_equal(again.encode(text), ids)
    assert Vocabulary.from_dict(json.loads(v.to_json())) == v
    assert Vocabulary.from_text(text[::-1], "char") == v  # ids do not depend on token order in the text


def test_word_vocabulary_round_trip():
    text = "the cat sat\n on   the mat .  the end"
    v = Vocabulary.from_text(text, "word")
    assert v.itos == sorted(set(text.split()))
    ids = v.encode(text)
    assert ids.shape == (len(text.split()),)
    assert v.decode(ids) == " ".join(text.split())
    assert np.array_equal(v.encode(text.split()), ids)
    again = Vocabulary.from_dict(v.to_dict())
    assert again == v and again.level == "word"
    assert again != Vocabulary.from_text(text, "char")


@pytest.mark.parametrize("level, text, unknown", [
    ("char", "abz!a", ["'!'", "'z'"]),
    ("word", "the zebra saw the yak", ["'saw'", "'yak'", "'zebra'"]),
])
def test_unknown_tokens_raise_data_error_listing_them(level, text, unknown):
    v = Vocabulary.from_text("abc the a b c", level)
    with pytest.raises(DataError) as ei:
        v.encode(text)
    msg = str(ei.value)
    for u in unknown:
        assert u in msg
    assert msg.startswith(f"{len(unknown)} ")
    assert "'a'" not in msg and "'the'" not in msg  # known tokens are not listed


def test_vocabulary_from_dict_rejects_bad_dicts():
    for bad in ({"level": "char", "tokens": ["b", "a"]}, {"level": "char", "tokens": ["a", "a"]},
                {"level": "byte", "tokens": ["a"]}, {"level": "char", "tokens": [1, 2]}, ["a"]):
        with pytest.raises(DataError):
            Vocabulary.from_dict(bad)


def test_split_train_val_takes_the_last_fraction():
    ids = np.arange(100)
    tr, va = split_train_val(ids, 0.1)
    assert np.array_equal(tr, np.arange(90)) and np.array_equal(va, np.arange(90, 100))
    tr, va = split_train_val(ids, 0.25)
    assert np.array_equal(tr, np.arange(75)) and np.array_equal(va, np.arange(75, 100))
    tr, va = split_train_val(ids, 0.0)
    assert np.array_equal(tr, ids) and va.size == 0


# ------------------------------------------------------------------------------------------ default corpus
def test_default_corpus_is_large_and_deterministic():
    a = default_corpus_text()
    b = default_corpus_text()
    assert a == b
    assert len(a.encode("utf-8")) > 100_000
    assert a.strip()
    v = Vocabulary.from_text(a, "char")
    assert 30 < len(v) < 1000

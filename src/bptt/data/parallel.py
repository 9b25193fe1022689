"""Parallel (source -> target) data: tab-separated files, vocabularies with special tokens, padded batches.

A file holds one pair per line, ``source<TAB>target``; each side is a sequence of tokens: space-separated
words (``level="word"``, the default) or characters (``level="char"``, spaces included). Blank lines are
skipped; a line without a tab, with more than one tab or with an empty side is an error naming the file
and line.

Vocabularies reserve four ids: ``<pad>`` 0, ``<unk>`` 1, ``<s>`` 2 (start of the decoder's input), ``</s>`` 3
(end of every target); the other tokens follow in sorted order, so the same training file always gives the
same ids.

>>> pairs = parse_tsv("a b\\tx y\\nb\\ty\\n")
>>> v = ParallelVocab.build([s for s, _ in pairs])
>>> v.itos
['<pad>', '<unk>', '<s>', '</s>', 'a', 'b']
>>> v.encode(["b", "c"], unk="replace").tolist()
[5, 1]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .text import DataError, read_text

PAD, UNK, SOS, EOS = 0, 1, 2, 3
SPECIALS = ("<pad>", "<unk>", "<s>", "</s>")
LEVELS = ("word", "char")

Pair = tuple[list[str], list[str]]


def tokenize(text: str, level: str = "word") -> list[str]:
    """Space-separated words, or the characters of the stripped text (spaces included) for ``"char"``."""
    if level == "word":
        return text.split()
    if level == "char":
        return list(text.strip())
    raise ValueError(f"level must be one of {LEVELS}, got {level!r}")


def detokenize(tokens: Sequence[str], level: str = "word") -> str:
    return ("" if level == "char" else " ").join(tokens)


def read_file(path: str | Path, what: str = "file") -> str:
    """Read a UTF-8 text file; :class:`DataError` for a missing, binary, undecodable or empty file."""
    return read_text(path, what)


def parse_tsv(text: str, name: str = "<text>", level: str = "word") -> list[Pair]:
    """Parse ``source<TAB>target`` lines into token lists; :class:`DataError` names the first bad line."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, got {level!r}")
    pairs: list[Pair] = []
    for i, line in enumerate(text.splitlines(), 1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        n_tabs = line.count("\t")
        if n_tabs == 0:
            raise DataError(f"{name}, line {i}: no tab between source and target "
                            "(expected 'source<TAB>target')")
        if n_tabs > 1:
            raise DataError(f"{name}, line {i}: {n_tabs} tabs, expected exactly one ('source<TAB>target')")
        src, tgt = line.split("\t")
        if not src.strip():
            raise DataError(f"{name}, line {i}: empty source side")
        if not tgt.strip():
            raise DataError(f"{name}, line {i}: empty target side")
        s, t = tokenize(src, level), tokenize(tgt, level)
        for side, toks in (("source", s), ("target", t)):
            bad = sorted({tok for tok in toks if tok in SPECIALS and tok != "<unk>"})
            if bad:
                raise DataError(f"{name}, line {i}: the {side} contains the reserved token(s) "
                                f"{', '.join(bad)}")
        pairs.append((s, t))
    if not pairs:
        raise DataError(f"{name}: no sentence pairs (the file is empty or blank)")
    return pairs


def read_tsv(path: str | Path, level: str = "word", what: str = "file") -> list[Pair]:
    """Read and parse a ``source<TAB>target`` file (see :func:`parse_tsv`); errors name ``what`` and the
    path (``"validation file data/val.tsv, line 3: empty target side"``)."""
    return parse_tsv(read_file(path, what), f"{what} {path}", level)


def read_line_aligned(source_path: str | Path, target_path: str | Path, level: str = "word") -> list[Pair]:
    """Pairs from two line-aligned files (line ``i`` of one translates line ``i`` of the other)."""
    src = [ln for ln in read_file(source_path, "source file").splitlines()]
    tgt = [ln for ln in read_file(target_path, "target file").splitlines()]
    if len(src) != len(tgt):
        raise DataError(f"{source_path} has {len(src)} lines but {target_path} has {len(tgt)}")
    text = "\n".join(f"{s.replace(chr(9), ' ')}\t{t.replace(chr(9), ' ')}"
                     for s, t in zip(src, tgt, strict=True) if s.strip() or t.strip())
    return parse_tsv(text, f"{source_path} + {target_path}", level)


class ParallelVocab:
    """Token <-> id mapping with ``<pad>``, ``<unk>``, ``<s>``, ``</s>`` at ids 0-3, then sorted tokens."""

    def __init__(self, tokens: Iterable[str], level: str = "word") -> None:
        if level not in LEVELS:
            raise ValueError(f"ParallelVocab: level must be one of {LEVELS}, got {level!r}")
        self.level = level
        self.itos: list[str] = list(SPECIALS) + sorted(set(tokens) - set(SPECIALS))
        self.stoi: dict[str, int] = {s: i for i, s in enumerate(self.itos)}

    @classmethod
    def build(cls, sequences: Iterable[Sequence[str]], level: str = "word",
              min_count: int = 1) -> ParallelVocab:
        """Every token seen at least ``min_count`` times (rarer ones become ``<unk>``)."""
        counts = Counter(tok for seq in sequences for tok in seq)
        return cls((t for t, c in counts.items() if c >= min_count), level)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def unknown(self, tokens: Iterable[str]) -> list[str]:
        """The distinct tokens of ``tokens`` outside the vocabulary, sorted."""
        return sorted({t for t in tokens if t not in self.stoi})

    def encode(self, tokens: Sequence[str], *, unk: str = "error", eos: bool = False) -> np.ndarray:
        """Ids (int64) of ``tokens`` (followed by ``</s>`` with ``eos=True``).

        Tokens outside the vocabulary raise :class:`DataError` listing them (``unk="error"``) or become
        ``<unk>`` (``unk="replace"``)."""
        if unk not in ("error", "replace"):
            raise ValueError(f"unk must be 'error' or 'replace', got {unk!r}")
        if unk == "error":
            bad = self.unknown(tokens)
            if bad:
                shown = ", ".join(repr(u) for u in bad[:10]) + (" ..." if len(bad) > 10 else "")
                raise DataError(f"{len(bad)} token(s) not in the vocabulary: {shown}")
        ids = [self.stoi.get(t, UNK) for t in tokens]
        if eos:
            ids.append(EOS)
        return np.array(ids, dtype=np.int64)

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids``, stopping at the first ``</s>`` and skipping ``<pad>`` and ``<s>``."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i in (PAD, SOS):
                continue
            out.append(self.itos[i])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "tokens": self.itos[len(SPECIALS):]}

    @classmethod
    def from_dict(cls, d: Any) -> ParallelVocab:
        if not isinstance(d, dict) or d.get("level") not in LEVELS or not isinstance(d.get("tokens"), list):
            raise DataError("vocabulary: expected {'level': 'word'|'char', 'tokens': [...]}")
        tokens = d["tokens"]
        if not all(isinstance(t, str) for t in tokens) or len(set(tokens)) != len(tokens):
            raise DataError("vocabulary: tokens must be distinct strings")
        v = cls(tokens, d["level"])
        if v.itos[len(SPECIALS):] != tokens:
            raise DataError("vocabulary: tokens must be sorted and must not repeat the special tokens")
        return v

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParallelVocab) and self.level == other.level and self.itos == other.itos

    def __repr__(self) -> str:
        return f"ParallelVocab(level={self.level!r}, size={len(self)})"


def pad_batch(seqs: Sequence[np.ndarray], pad: int = PAD) -> tuple[np.ndarray, np.ndarray]:
    """Time-major ``(T, B)`` int64 array padded with ``pad`` and the lengths ``(B,)``."""
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    out = np.full((int(lengths.max()), len(seqs)), pad, dtype=np.int64)
    for b, s in enumerate(seqs):
        out[: len(s), b] = s
    return out, lengths


def make_batch(sources: Sequence[np.ndarray], targets: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """Teacher-forcing batch from id arrays (targets without ``</s>``):

    ``src`` ``(S, B)``, ``src_lengths`` ``(B,)``, ``tgt_in`` ``(T+1, B)`` = ``<s> y``,
    ``tgt_out`` = ``y </s>`` (both padded with ``<pad>``, which the loss ignores).
    """
    src, src_lengths = pad_batch(sources)
    tgt_in, _ = pad_batch([np.concatenate([[SOS], t]) for t in targets])
    tgt_out, _ = pad_batch([np.concatenate([t, [EOS]]) for t in targets])
    return {"src": src, "src_lengths": src_lengths, "tgt_in": tgt_in, "tgt_out": tgt_out}


class PairBatches:
    """Shuffled minibatches of pair indices, a new permutation every epoch, with a resumable state.

    ``next()`` returns the indices of the next batch; an epoch's final incomplete batch is dropped (unless
    the data are smaller than one batch, then every batch is all of it, shuffled).
    """

    def __init__(self, n: int, batch_size: int, seed: int = 0) -> None:
        if n <= 0:
            raise DataError("no training pairs")
        self.n = n
        self.batch_size = min(batch_size, n)
        self.rng = np.random.default_rng([seed, 2])
        self.epoch = 0
        self.pos = 0
        self.perm = self.rng.permutation(n)

    def __iter__(self) -> PairBatches:
        return self

    def __next__(self) -> np.ndarray:
        if self.pos + self.batch_size > self.n:
            self.epoch += 1
            self.pos = 0
            self.perm = self.rng.permutation(self.n)
        idx = self.perm[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx

    def state_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON part and array part of the state."""
        return ({"epoch": self.epoch, "pos": self.pos, "rng": self.rng.bit_generator.state, "n": self.n,
                 "batch_size": self.batch_size}, {"batches_perm": self.perm.copy()})

    def load_state_dict(self, state: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        perm = arrays.get("batches_perm")
        if state.get("n") != self.n or state.get("batch_size") != self.batch_size or perm is None \
                or perm.shape != (self.n,):
            raise DataError("the saved batching state does not match the training data")
        self.epoch = int(state["epoch"])
        self.pos = int(state["pos"])
        self.rng.bit_generator.state = state["rng"]
        self.perm = perm.astype(np.int64)

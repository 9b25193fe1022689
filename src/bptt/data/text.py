"""Text corpora and vocabularies (character or word level), with clear errors for bad files and tokens."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

LEVELS = ("char", "word")


class DataError(ValueError):
    """Bad user data (missing, empty, binary or undecodable file; unknown tokens; too little text)."""


def read_text(path: str | Path, what: str = "corpus file") -> str:
    """Read a UTF-8 text file; raise :class:`DataError` naming the problem (missing, directory, binary, empty).

    ``what`` names the file in the messages (``"corpus file"``, ``"training file"``, ...).
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{what} not found: {p}")
    if p.is_dir():
        raise DataError(f"{what} is a directory, not a file: {p}")
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    if b"\x00" in raw[:65536]:
        raise DataError(f"{what} looks binary (it contains NUL bytes), expected UTF-8 text: {p}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{what} is not valid UTF-8 text: {p} ({exc.reason} at byte {exc.start})") from None
    if not text.strip():
        raise DataError(f"{what} is empty: {p}")
    return text


def tokenize(text: str, level: str) -> list[str]:
    """Characters (``level="char"``) or whitespace-separated words (``level="word"``)."""
    if level == "char":
        return list(text)
    if level == "word":
        return text.split()
    raise ValueError(f"level must be one of {LEVELS}, got {level!r}")


class Vocabulary:
    """A sorted, deterministic token <-> id mapping for one level (``char`` or ``word``).

    ``tokens`` are sorted (``sorted(set(...))``), so the same text always gives the same ids. ``encode``
    raises :class:`DataError` for tokens outside the vocabulary, listing them.
    """

    def __init__(self, tokens: Iterable[str], level: str = "char") -> None:
        if level not in LEVELS:
            raise ValueError(f"Vocabulary: level must be one of {LEVELS}, got {level!r}")
        self.level = level
        self.itos: list[str] = sorted(set(tokens))
        if not self.itos:
            raise DataError("Vocabulary: no tokens (the text is empty)")
        self.stoi: dict[str, int] = {s: i for i, s in enumerate(self.itos)}

    @classmethod
    def from_text(cls, text: str, level: str = "char") -> Vocabulary:
        return cls(tokenize(text, level), level)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def unknown(self, tokens: Iterable[str]) -> list[str]:
        """The distinct tokens of ``tokens`` outside the vocabulary, sorted."""
        return sorted({t for t in tokens if t not in self.stoi})

    def encode(self, text: str | Sequence[str], *, unk: str = "error") -> np.ndarray:
        """Token ids (int64) of ``text`` (a string, tokenised at this level, or a list of tokens). Tokens outside
        the vocabulary raise :class:`DataError` listing them (``unk="error"``) or are left out
        (``unk="skip"``)."""
        if unk not in ("error", "skip"):
            raise ValueError(f"unk must be 'error' or 'skip', got {unk!r}")
        toks = tokenize(text, self.level) if isinstance(text, str) else list(text)
        unknown = self.unknown(toks)
        if unknown and unk == "skip":
            toks = [t for t in toks if t in self.stoi]
        elif unknown:
            shown = ", ".join(repr(u) for u in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
            kind = "characters" if self.level == "char" else "words"
            raise DataError(f"{len(unknown)} {kind} not in the model's vocabulary: {shown}")
        return np.fromiter((self.stoi[t] for t in toks), dtype=np.int64, count=len(toks))

    def decode(self, ids: Iterable[int]) -> str:
        sep = "" if self.level == "char" else " "
        return sep.join(self.itos[int(i)] for i in ids)

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "tokens": list(self.itos)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Vocabulary:
        if not isinstance(d, dict) or d.get("level") not in LEVELS or not isinstance(d.get("tokens"), list):
            raise DataError("vocabulary: expected {'level': 'char'|'word', 'tokens': [...]}")
        tokens = d["tokens"]
        if not all(isinstance(t, str) for t in tokens) or len(set(tokens)) != len(tokens):
            raise DataError("vocabulary: tokens must be distinct strings")
        v = cls(tokens, d["level"])
        if v.itos != tokens:
            raise DataError("vocabulary: tokens must be sorted")
        return v

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.level == other.level and self.itos == other.itos

    def __repr__(self) -> str:
        return f"Vocabulary(level={self.level!r}, size={len(self)})"


def split_train_val(ids: np.ndarray, val_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """The last ``val_fraction`` of the token stream is validation, the rest training."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n_val = int(round(len(ids) * val_fraction))
    return ids[: len(ids) - n_val], ids[len(ids) - n_val :]

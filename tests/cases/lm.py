"""Small corpora and configurations shared by the language-model tests (tests/models, tests/training).
"""

from __future__ import annotations

import random
from pathlib import Path

from bptt.training.lm import TrainConfig

WORDS = "the cat sat on a mat while the dog ran to the big red ball and then slept".split()


def word_text(n_words: int = 200, seed: int = 0) -> str:
    rnd = random.Random(seed)
    return " ".join(rnd.choice(WORDS) for _ in range(n_words)) + "\n"


def write_corpus(tmp_path: Path, text: str, name: str = "corpus.txt") -> str:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return str(p)


def small_cfg(corpus: str, **kw) -> TrainConfig:
    base = dict(corpus=corpus, hidden_size=16, num_layers=2, seq_length=8, batch_size=4, steps=30,
                eval_every=10, log_every=4, sample_every=10_000, val_fraction=0.1, seed=3)
    base.update(kw)
    return TrainConfig(**base)

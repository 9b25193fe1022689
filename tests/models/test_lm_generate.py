"""Language-model sampling (``generate``) on a tiny trained model: reproducible per seed, top-k 1 and tiny
temperatures are argmax, temperature scales the distribution, bad arguments are refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bptt.models.io import load_language_model as load_model
from bptt.training.lm import train
from cases.lm import small_cfg, word_text, write_corpus


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A small trained character model (shared by the sampling tests)."""
    d = tmp_path_factory.mktemp("trained")
    corpus = write_corpus(d, word_text(300))
    train(small_cfg(corpus, steps=40, eval_every=40, lr=1e-2), d / "run")
    return d / "run"


# ---------------------------------------------------------------------------------------------- sampling
def _argmax_continuation(model, prime: np.ndarray, length: int) -> list[int]:
    out = []
    logits, state = model(prime[:, None])
    for _ in range(length):
        tok = int(np.argmax(logits[-1, 0]))
        out.append(tok)
        logits, state = model(np.array([[tok]]), state)
    return out


def test_generate_is_reproducible_per_seed(trained):
    model, vocab, _ = load_model(trained)
    prime = vocab.encode("the ")
    a = model.generate(prime, 60, rng=1)
    b = model.generate(prime, 60, rng=1)
    c = model.generate(prime, 60, rng=2)
    assert a.dtype == np.int64 and a.shape == (60,)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    d = model.generate(prime, 60, rng=np.random.default_rng(1))
    assert np.array_equal(a, d)
    assert model.generate(prime, 0, rng=1).shape == (0,)


def test_top_k_1_and_tiny_temperature_are_argmax(trained):
    model, vocab, _ = load_model(trained)
    prime = vocab.encode("the cat ")
    expected = _argmax_continuation(model, prime, 40)
    for seed in (0, 1, 99):
        assert model.generate(prime, 40, top_k=1, rng=seed).tolist() == expected
        assert model.generate(prime, 40, top_k=1, temperature=5.0, rng=seed).tolist() == expected
        assert model.generate(prime, 40, temperature=1e-6, rng=seed).tolist() == expected
    # so small that logits / temperature overflows float64: still the argmax, never NaN probabilities
    assert model.generate(prime, 40, temperature=1e-320, rng=5).tolist() == expected


@pytest.mark.parametrize("temperature", [0.5, 1.0, 3.0])
def test_temperature_scales_the_sampling_distribution(trained, temperature):
    """The first sampled token is drawn from softmax(logits / temperature): check empirical frequencies."""
    model, vocab, _ = load_model(trained)
    prime = vocab.encode("the c")
    logits, _ = model(prime[:, None])
    z = logits[-1, 0].astype(np.float64) / temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    n = 1500
    counts = np.bincount([int(model.generate(prime, 1, temperature=temperature, rng=s)[0]) for s in range(n)],
                         minlength=len(vocab))
    freq = counts / n
    tol = 5 * np.sqrt(p * (1 - p) / n) + 1e-3
    assert np.all(np.abs(freq - p) <= tol), (freq, p)


def test_generate_rejects_bad_arguments(trained):
    model, vocab, _ = load_model(trained)
    prime = vocab.encode("the")
    for kw in ({"temperature": 0.0}, {"temperature": -1.0}, {"temperature": float("nan")}, {"top_k": 0},
               {"length": -1}):
        args = {"length": 5, **kw}
        with pytest.raises(ValueError):
            model.generate(prime, args.pop("length"), **args)
    with pytest.raises(ValueError):
        model.generate(np.array([], dtype=np.int64), 5)

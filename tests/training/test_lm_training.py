"""The language-model training loop, in process: learning, metrics, resuming, Ctrl-C, divergence, bad data.

Every model here is tiny (hidden size 16-32, a few dozen steps) and every corpus is written by the test, so
the whole file runs in a few seconds. "Identical" always means ``==`` on the floats (bit for bit), never a
tolerance.
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from bptt.data import DataError, Vocabulary
from bptt.models import checkpoint as ckpt
from bptt.models.evaluation import evaluate_loss
from bptt.models.io import load_language_model as load_model
from bptt.training import Interrupted, RunDirectory, TrainingError
from bptt.training.lm import TrainConfig, train
from cases.lm import small_cfg, word_text, write_corpus


def records(out: Path) -> list[dict]:
    text = (Path(out) / "metrics.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def losses(out: Path) -> list[tuple]:
    """The deterministic part of every metrics record (timings excluded)."""
    return [(r["step"], r["epoch"], r["train_loss"], r.get("val_loss"), r["grad_norm"]) for r in records(out)]


def params_of(out: Path) -> dict[str, np.ndarray]:
    return ckpt.load(out)[1]


def assert_same_params(a: Path, b: Path) -> None:
    pa, pb = params_of(a), params_of(b)
    assert sorted(pa) == sorted(pb)
    for name in pa:
        assert pa[name].dtype == pb[name].dtype, name
        assert np.array_equal(pa[name], pb[name]), f"parameter {name} differs"


# ---------------------------------------------------------------------------------------------- learning
def test_two_layer_model_learns_a_repetitive_corpus(tmp_path):
    text = "the cat sat on the mat. " * 80
    corpus = write_corpus(tmp_path, text)
    V = len(set(text))
    cfg = small_cfg(corpus, hidden_size=32, seq_length=16, batch_size=8, steps=120, eval_every=40,
                    log_every=10, lr=1e-2, val_fraction=0.1)
    summary = train(cfg, tmp_path / "run")
    recs = records(tmp_path / "run")
    first_train = recs[0]["train_loss"]
    final_val = summary["val_loss"]
    assert final_val == recs[-1]["val_loss"]
    assert first_train > 0.8 * math.log(V)
    assert final_val < 0.25 * math.log(V), (final_val, math.log(V))
    assert final_val < 0.25 * first_train
    assert summary["val_bits_per_token"] == pytest.approx(final_val / math.log(2), rel=1e-12)
    assert summary["val_perplexity"] == pytest.approx(math.exp(final_val), rel=1e-12)
    model, vocab, _ = load_model(tmp_path / "run")
    assert evaluate_loss(model, vocab.encode(text[-240:]), 8, 16) < 0.25 * math.log(V)


def test_metrics_records_and_config(tmp_path):
    corpus = write_corpus(tmp_path, word_text(250))
    out = tmp_path / "run"
    seen = []
    cfg = small_cfg(corpus, steps=17, eval_every=7, log_every=5)
    summary = train(cfg, out, on_log=seen.append)
    recs = records(out)
    assert recs == json.loads(json.dumps(seen))
    assert [r["step"] for r in recs] == [5, 7, 10, 14, 15, 17]
    assert [r["step"] for r in recs if "val_loss" in r] == [7, 14, 17]  # eval steps and always the last
    for r in recs:
        for key in ("step", "train_loss", "tokens_per_s", "grad_norm"):
            assert key in r, (key, r)
        assert math.isfinite(r["train_loss"]) and r["grad_norm"] >= 0
        if "val_loss" in r:
            assert r["val_bits_per_token"] == pytest.approx(r["val_loss"] / math.log(2), rel=1e-12)
    assert summary["step"] == 17 and summary["val_loss"] == recs[-1]["val_loss"]
    conf = json.loads((out / "config.json").read_text(encoding="utf-8"))
    assert conf["hidden_size"] == 16 and conf["total_steps"] == 17 and conf["corpus"] == corpus
    assert conf["vocab_size"] == len(Vocabulary.from_text(Path(corpus).read_text(encoding="utf-8")))
    meta = ckpt.load(out)[0]
    assert meta["step"] == 17


def test_fresh_run_starts_a_fresh_metrics_file(tmp_path):
    corpus = write_corpus(tmp_path, word_text(250))
    out = tmp_path / "run"
    with RunDirectory(out, TrainConfig.KIND) as earlier:  # a run that stopped before its first checkpoint
        earlier.start(None)
        earlier.append_metrics({"step": 3, "train_loss": 9.0, "grad_norm": 1.0})
    train(small_cfg(corpus, steps=8, eval_every=8, log_every=4), out)
    assert [r["step"] for r in records(out)] == [4, 8]


# ---------------------------------------------------------------------------------------------- resuming
@pytest.mark.parametrize("model, level", [("lstm", "char"), ("gru", "word"), ("rnn", "char"), ("mingru", "char"),
                                          ("minlstm", "word")])
def test_resume_is_bit_identical(tmp_path, model, level):
    corpus = write_corpus(tmp_path, word_text(400 if level == "word" else 160))
    cfg = small_cfg(corpus, model=model, level=level, dropout=0.3, steps=40, eval_every=10, log_every=5,
                    sample_every=15, sample_length=20)
    samples_a, samples_b = [], []
    train(small_cfg(corpus, model=model, level=level, dropout=0.3, steps=20, eval_every=10, log_every=5,
                    sample_every=15, sample_length=20),
          tmp_path / "a", on_sample=lambda s, t: samples_a.append((s, t)))
    train(cfg, tmp_path / "a", resume=True, on_sample=lambda s, t: samples_a.append((s, t)))
    train(cfg, tmp_path / "b", on_sample=lambda s, t: samples_b.append((s, t)))
    la, lb = losses(tmp_path / "a"), losses(tmp_path / "b")
    assert [r[0] for r in lb] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert la == lb
    assert max(r[1] for r in lb) >= 1  # the streams wrapped around (carried state reset) during the run
    assert samples_a == samples_b and len(samples_b) == 2
    assert_same_params(tmp_path / "a", tmp_path / "b")
    _, _, arrays_a = ckpt.load(tmp_path / "a")
    _, _, arrays_b = ckpt.load(tmp_path / "b")
    assert sorted(arrays_a) == sorted(arrays_b)
    for k in arrays_a:
        assert np.array_equal(arrays_a[k], arrays_b[k]), k


def test_resume_of_a_finished_run_needs_more_steps(tmp_path):
    corpus = write_corpus(tmp_path, word_text(160))
    train(small_cfg(corpus, steps=10, eval_every=5), tmp_path / "a")
    before = (tmp_path / "a" / "checkpoint.npz").read_bytes()
    for steps in (10, 6):
        with pytest.raises(ValueError, match="already at step 10"):
            train(small_cfg(corpus, steps=steps, eval_every=5), tmp_path / "a", resume=True)
    assert (tmp_path / "a" / "checkpoint.npz").read_bytes() == before


def test_resume_takes_model_settings_from_the_checkpoint(tmp_path):
    corpus = write_corpus(tmp_path, word_text(160))
    train(small_cfg(corpus, steps=10, eval_every=5), tmp_path / "a")
    # the library keeps the checkpoint's shaping settings (the CLI refuses conflicting ones)
    train(small_cfg(corpus, steps=15, eval_every=5, hidden_size=99, seed=7), tmp_path / "a", resume=True)
    meta = ckpt.load(tmp_path / "a")[0]
    assert meta["model_config"]["hidden_size"] == 16 and meta["train_config"]["seed"] == 3
    assert meta["step"] == 15


# ---------------------------------------------------------------------------------------------- Ctrl-C
def _interrupt_at(k: int):
    def on_progress(step: int, total: int, loss: float) -> None:
        if step == k:
            raise KeyboardInterrupt

    return on_progress


@pytest.mark.parametrize("k", [7, 8, 10])  # inside a logging window, at a log step, at an eval step
def test_ctrl_c_saves_a_checkpoint_that_resumes_identically(tmp_path, k):
    corpus = write_corpus(tmp_path, word_text(160))
    cfg = small_cfg(corpus, dropout=0.25, steps=30, eval_every=10, log_every=4)
    with pytest.raises(Interrupted) as ei:
        train(cfg, tmp_path / "a", on_progress=_interrupt_at(k))
    assert ei.value.step == k
    assert Path(ei.value.path) == tmp_path / "a" / "checkpoint.npz"
    assert ckpt.load(tmp_path / "a")[0]["step"] == k
    train(cfg, tmp_path / "a", resume=True)
    train(cfg, tmp_path / "b")
    assert losses(tmp_path / "a") == losses(tmp_path / "b")
    assert_same_params(tmp_path / "a", tmp_path / "b")


# ---------------------------------------------------------------------------------------------- divergence
def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path):
    corpus = write_corpus(tmp_path, word_text(160))
    out = tmp_path / "a"
    train(small_cfg(corpus, optimizer="sgd", lr=0.5, steps=10, eval_every=5), out)
    before = (out / "checkpoint.npz").read_bytes()
    with warnings.catch_warnings(record=True) as caught:  # the clear error is the only report: no numpy noise
        warnings.simplefilter("always")
        with pytest.raises(TrainingError, match=r"not finite.*step 10") as ei:
            train(small_cfg(corpus, optimizer="sgd", lr=1e300, clip_norm=1e300, steps=30, eval_every=5), out,
                  resume=True)
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert str(out) in str(ei.value)
    assert (out / "checkpoint.npz").read_bytes() == before
    assert ckpt.load(out)[0]["step"] == 10
    model, _, _ = load_model(out)
    assert all(np.isfinite(p.data).all() for p in model.parameters())


def test_divergence_before_any_checkpoint_says_so(tmp_path):
    corpus = write_corpus(tmp_path, word_text(160))
    out = tmp_path / "a"
    with pytest.raises(TrainingError, match="not finite") as ei:
        train(small_cfg(corpus, optimizer="sgd", lr=1e300, clip_norm=1e300, steps=30, eval_every=20), out)
    assert not (out / "checkpoint.npz").exists()
    assert "no checkpoint" in str(ei.value)


# ---------------------------------------------------------------------------------------------- bad data
def test_bad_configurations_and_corpora_raise(tmp_path):
    corpus = write_corpus(tmp_path, word_text(160))
    for kw in ({"hidden_size": 0}, {"lr": 0.0}, {"lr": -1.0}, {"lr": float("nan")}, {"seq_length": 0},
               {"dropout": 1.0}, {"num_layers": 1, "dropout": 0.5}, {"val_fraction": 0.0},
               {"clip_norm": 0.0}):
        with pytest.raises(ValueError):
            train(small_cfg(corpus, **kw), tmp_path / "x")
    short = write_corpus(tmp_path, "abcdefghij" * 3, "short.txt")
    with pytest.raises(DataError, match="fewer than one batch"):
        train(small_cfg(short), tmp_path / "x")
    assert not (tmp_path / "x" / "checkpoint.npz").exists()

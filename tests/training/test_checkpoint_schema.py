"""Every field of a training checkpoint is validated on load: a tampered or damaged checkpoint is one
``CheckpointError`` naming the file and the field, never a traceback from deep inside, a huge allocation or a
silently different run.

Each case edits one entry of a real checkpoint (a language model's, then a translator's) and asserts the
exact message of ``--resume`` (the training loader) and, for the entries a trained model needs, of
``load_language_model`` / ``load_translator`` (what ``sample``, ``evaluate`` and ``translate run`` use).
"""

from __future__ import annotations

import copy
import io
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bptt.data import DataError, dates
from bptt.models import checkpoint as ckpt
from bptt.models.io import load_language_model, load_translator
from bptt.models.lm import CELLS as LM_CELLS
from bptt.nn import checks
from bptt.training.lm import train
from bptt.training.seq2seq import Seq2SeqConfig
from bptt.training.seq2seq import train as train_translator
from cases.lm import small_cfg, word_text, write_corpus


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("lm")
    corpus = write_corpus(d, word_text(200))
    train(small_cfg(corpus, steps=10, eval_every=5, log_every=5), d / "run")
    return d / "run", corpus, ckpt.load(d / "run")


def tampered(base: Path, loaded, edit, name: str) -> Path:
    """A copy of the run ``base`` whose checkpoint is ``loaded`` after ``edit(meta, params, arrays)``."""
    meta, params, arrays = copy.deepcopy(loaded)
    edit(meta, params, arrays)
    out = base.parent / f"tampered-{name}"
    out.mkdir(exist_ok=True)
    for f in (".bptt-run", "config.json", "metrics.jsonl"):
        (out / f).write_bytes((base / f).read_bytes())
    ckpt.save(out / "checkpoint.npz", {k: v for k, v in meta.items() if k not in ("format", "version")}, params,
              arrays)
    return out


def setter(path: str, value):
    """An edit setting the meta entry at the dotted ``path`` (``-`` as the value deletes it)."""
    keys = path.split(".")

    def edit(meta, params, arrays):
        d = meta
        for k in keys[:-1]:
            d = d[int(k)] if isinstance(d, list) else d[k]
        if value == "-":
            del d[keys[-1]]
        else:
            d[keys[-1]] = value

    return edit


def resume_error(out: Path, corpus: str) -> str:
    with pytest.raises((ckpt.CheckpointError, DataError)) as exc:
        train(small_cfg(corpus, steps=20, eval_every=5, log_every=5), out, resume=True)
    return str(exc.value)


LM_CASES = {  # name: (edit, the message after "FILE: invalid checkpoint: ", and load_language_model's: True for the
    # same, False when the model loader does not read the entry, or its own message)
    "step -5": (setter("step", -5), "step must be a non-negative integer, got -5", False),
    "step a string": (setter("step", "10"), "step must be a non-negative integer, got '10'", False),
    "step a float": (setter("step", 10.0), "step must be a non-negative integer, got 10.0", False),
    "step a bool": (setter("step", True), "step must be a non-negative integer, got True", False),
    "no step": (setter("step", "-"), "step is missing", False),
    "total_steps 0": (setter("total_steps", 0), "total_steps must be a positive integer, got 0", False),
    "train_config not a mapping": (setter("train_config", [1]), "train_config must be a mapping, got [1]", False),
    "train_config.hidden_size 0": (setter("train_config.hidden_size", 0),
                                   "train_config.hidden_size must be a positive integer, got 0", False),
    "train_config.hidden_size a string": (setter("train_config.hidden_size", "16"),
                                          "train_config.hidden_size must be a positive integer, got '16'", False),
    "train_config.hidden_size missing": (setter("train_config.hidden_size", "-"),
                                         "train_config.hidden_size is missing", False),
    "train_config unknown entry": (setter("train_config.colour", "red"),
                                   "train_config has unexpected entries: colour", False),
    "train_config.level": (setter("train_config.level", "klingon"),
                           "train_config.level must be one of char, word, got 'klingon'", False),
    "train_config.dropout": (setter("train_config.dropout", 1.5), "train_config.dropout must be in [0, 1), got 1.5",
                             False),
    "train_config.lr": (setter("train_config.lr", -1.0), "train_config.lr must be > 0, got -1.0", False),
    "train_config huge model": (setter("train_config.hidden_size", 10**9),
                                "model_config.hidden_size is 16 but the run's train_config and vocabulary make "
                                "1000000000", False),
    "train_config relations": (setter("train_config.num_layers", 1),
                               "model_config.num_layers is 2 but the run's train_config and vocabulary make 1",
                               False),
    "model_config.cell": (setter("model_config.cell", "transformer"),
                          f"model_config.cell must be one of {', '.join(map(repr, LM_CELLS))}, got 'transformer'",
                          True),
    "model_config.hidden_size huge": (setter("model_config.hidden_size", 10**9),
                                      "model_config.hidden_size is 1000000000 but the run's train_config and "
                                      "vocabulary make 16",
                                      "model_config describes a model of 12,000,000,111,000,000,019 parameter values, "
                                      "but the file stores {n}"),
    "model_config.dropout": (setter("model_config.dropout", "0"), "model_config.dropout must be a number in [0, 1), "
                             "got '0'", True),
    "model_config.dtype": (setter("model_config.dtype", "float16"),
                           "model_config.dtype must be one of 'float32', 'float64', got 'float16'", True),
    "model_config.embedding_dim": (setter("model_config.embedding_dim", 0),
                                   "model_config.embedding_dim must be null or a positive integer, got 0", True),
    "vocab unsorted": (lambda m, p, a: m["vocab"]["tokens"].reverse(), "vocab.tokens must be sorted", True),
    "vocab repeated": (lambda m, p, a: m["vocab"]["tokens"].append(m["vocab"]["tokens"][-1]),
                       "vocab.tokens must not repeat a token", True),
    "vocab level": (setter("vocab.level", 3), "vocab.level must be one of 'char', 'word', got 3", True),
    "vocab one token short": (lambda m, p, a: m["vocab"]["tokens"].pop(),
                              "model_config.vocab_size is 19 but the run's train_config and vocabulary make 18",
                              "vocab has 18 tokens but model_config.vocab_size is 19"),
    "default_prime": (setter("default_prime", 5), "default_prime must be a string, got 5", True),
    "default_prime outside the vocabulary": (setter("default_prime", "Z"),
                                             "default_prime is 'Z' but the corpus starts with 'b'",
                                             "default_prime must be text in the vocabulary, got 'Z'"),
    "optimizer hyperparameter": (setter("optimizer.param_groups.0.eps", 0.5),
                                 "optimizer.param_groups[0].eps is 0.5 but this run's optimizer uses 1e-08", False),
    "optimizer two groups": (lambda m, p, a: m["optimizer"]["param_groups"].append({}),
                             "optimizer.param_groups must have 1 items, got 2", False),
    "optimizer state dropped": (setter("optimizer.state", {}),
                                "optimizer.state holds the state of 0 of the 10 parameters (step 10: every parameter "
                                "has one)", False),
    "optimizer state step": (setter("optimizer.state.0.step", 3),
                             "optimizer.state.0.step is 3 but the checkpoint is at step 10", False),
    "optimizer array missing": (lambda m, p, a: a.pop("optim/0/exp_avg"),
                                "optimizer: 'state' entry 0.exp_avg names the array 'optim/0/exp_avg', which the "
                                "file lacks", False),
    "optimizer array shape": (lambda m, p, a: a.__setitem__("optim/0/exp_avg", np.zeros(3, np.float32)),
                              "optimizer: Adam.load_state_dict: state[0]: 'exp_avg' must have shape (64, 19), got "
                              "(3,)", False),
    "rng generator missing": (lambda m, p, a: m["rng"].pop("sample"),
                              "rng must hold the states of the generators rnn._dropout_rng, sample, got "
                              "rnn._dropout_rng", False),
    "rng bit generator": (setter("rng.sample.bit_generator", "MT19937"),
                          "rng.sample.bit_generator must be one of 'PCG64', got 'MT19937'", False),
    "rng state": (setter("rng.sample.state.inc", -1), "rng.sample.state.inc must be an integer in [0, "
                  "340282366920938463463374607431768211455], got -1", False),
    "window": (setter("window.n", -1), "window.n must be a non-negative integer, got -1", False),
    "window loss": (setter("window.loss", "x"), "window.loss must be a finite number, got 'x'", False),
    "streams.position": (setter("streams.position", 7),
                         "streams.position must be a multiple of --seq-length 8 in [0, 184], got 7", False),
    "streams.fresh": (setter("streams.fresh", "no"), "streams.fresh must be true or false, got 'no'", False),
    "carried state missing": (lambda m, p, a: a.pop("array/c"), "the carried state must be the arrays ['c', 'h'] "
                              "(streams.fresh is false), got ['h']", False),
    "carried state shape": (lambda m, p, a: a.__setitem__("array/h", np.zeros((2, 4, 3), np.float32)),
                            "array/h must be a float32 array of shape (2, 4, 16), got float32 (2, 4, 3)", False),
    "data fingerprint": (setter("data.corpus", "abc"),
                         "data.corpus must be a SHA-256 fingerprint (64 hexadecimal digits), got 'abc'", False),
    "parameter size": (lambda m, p, a: p.__setitem__("head.weight", np.zeros((16, 9), np.float32)),
                       "model_config describes a model of 4,867 parameter values, but the file stores 4,707", True),
    "parameter transposed": (lambda m, p, a: p.__setitem__("head.weight", np.ascontiguousarray(p["head.weight"].T)),
                             None, True),
    "parameter dtype": (lambda m, p, a: p.__setitem__("head.bias", p["head.bias"].astype(np.float64)),
                        "parameter head.bias has dtype float64 but model_config.dtype is float32", True),
}


@pytest.mark.parametrize("name", list(LM_CASES))
def test_every_field_of_a_language_model_checkpoint_is_validated(lm_run, name):
    base, corpus, loaded = lm_run
    edit, message, model_message = LM_CASES[name]
    out = tampered(base, loaded, edit, name.replace(" ", "_"))
    file = out / "checkpoint.npz"
    got = resume_error(out, corpus)
    if message is None:  # a shape the model refuses: named, with the model's own words
        assert got.startswith(f"{file}: invalid checkpoint: the parameters do not fit the model of train_config ("), got
    else:
        assert got == f"{file}: invalid checkpoint: {message}"
    if model_message is False:
        return
    with pytest.raises(ckpt.CheckpointError) as exc:
        load_language_model(out)
    if model_message is True and message is None:
        assert str(exc.value).startswith(f"{file}: invalid checkpoint: the parameters do not match model_config ("), \
            exc.value
    else:
        n = sum(v.size for v in loaded[1].values())
        expected = message if model_message is True else model_message.format(n=f"{n:,}")
        assert str(exc.value) == f"{file}: invalid checkpoint: {expected}"


def test_nan_weights_are_refused_by_every_reader(lm_run):
    base, corpus, loaded = lm_run
    out = tampered(base, loaded, lambda m, p, a: p["head.weight"].__setitem__((0, 0), np.nan), "nan")
    message = (f"{out / 'checkpoint.npz'}: entry 'param/head.weight' holds 1 non-finite value(s) (NaN or infinity); a "
               "bptt checkpoint never does: the file is damaged")
    with pytest.raises(ckpt.CheckpointError) as exc:
        load_language_model(out)
    assert str(exc.value) == message
    assert resume_error(out, corpus) == message


def test_a_checkpoint_whose_corpus_changed_is_not_resumed_without_the_override(lm_run, tmp_path):
    base, corpus, loaded = lm_run
    mine = write_corpus(tmp_path, Path(corpus).read_text(), "mine.txt")
    out = tampered(base, loaded, setter("train_config.corpus", mine), "corpus")
    Path(mine).write_text(word_text(200, seed=1))
    with pytest.raises(DataError) as exc:
        train(small_cfg(mine, steps=20, eval_every=5), out, resume=True)
    assert str(exc.value) == (f"{mine} changed since the checkpoint was written; --resume needs the same text "
                              "(pass --allow-changed-data to continue on the new text on purpose)")
    legacy = tampered(base, loaded, setter("data", "-"), "legacy")
    with pytest.raises(DataError) as exc:
        train(small_cfg(corpus, steps=20, eval_every=5), legacy, resume=True)
    assert str(exc.value) == (f"the checkpoint records no fingerprint of its corpus (an older bptt wrote it), so "
                              f"resuming cannot check that {corpus} is the same text; pass --allow-changed-data to "
                              "resume anyway")
    summary = train(small_cfg(mine, steps=20, eval_every=5, allow_changed_data=True), out, resume=True)
    assert summary["step"] == 20
    assert ckpt.load(out)[0]["data"]["corpus"] != loaded[0]["data"]["corpus"]


# ---------------------------------------------------------------------------------------------- the file itself
def _npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _meta_bytes(text: str) -> bytes:
    return _npz_bytes(**{"meta.json": np.frombuffer(text.encode(), np.uint8)})


FILES = {
    "random bytes": (bytes(range(256)) * 4, "{p} is not a bptt checkpoint: it is not a zip (.npz) file"),
    "empty": (b"", "{p} is empty, not a bptt checkpoint"),
    "a pickle": (pickle.dumps({"a": 1}), "{p} is a pickle file, not a bptt checkpoint; it is refused (never "
                 "unpickled)"),
    "an npy": (b"\x93NUMPY\x01\x00" + b"x" * 100, "{p} is a single .npy array, not a bptt checkpoint (an .npz file)"),
    "a zip header only": (b"PK\x03\x04" + b"\0" * 40, "{p} is truncated or corrupt (an incomplete zip/npz file)"),
    "no meta": (_npz_bytes(x=np.zeros(2)), "{p} is not a bptt checkpoint (no meta.json entry)"),
    "meta with NaN": (_meta_bytes('{"format": "bptt-checkpoint", "version": 1, "step": NaN}'),
                      "{p} has a corrupt meta.json (NaN is not JSON)"),
    "meta not an object": (_meta_bytes("[1, 2]"), "{p} is not a bptt checkpoint (format tag missing)"),
    "version 2": (_meta_bytes('{"format": "bptt-checkpoint", "version": 2}'),
                  "{p} has checkpoint format version 2, this bptt reads 1"),
    "a translator": (_meta_bytes('{"format": "bptt-checkpoint", "version": 1, "kind": "seq2seq"}'),
                     "{p} holds a translator (bptt translate train), not a language model (bptt train)"),
}


@pytest.mark.parametrize("name", list(FILES))
def test_a_file_that_is_not_a_checkpoint_is_called_what_it_is(tmp_path, name):
    payload, message = FILES[name]
    p = tmp_path / "checkpoint.npz"
    p.write_bytes(payload)
    with pytest.raises(ckpt.CheckpointError) as exc:
        load_language_model(tmp_path)
    assert str(exc.value) == message.format(p=p)


def test_a_zip_declaring_more_than_the_memory_is_refused_before_reading(tmp_path, monkeypatch):
    p = tmp_path / "checkpoint.npz"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        with zf.open("bomb.npy", "w", force_zip64=True) as fh:
            for _ in range(64):
                fh.write(b"\0" * (1 << 20))
    assert p.stat().st_size < 1 << 20  # 64 MiB declared in a small file
    monkeypatch.setattr(checks, "available_memory", lambda: 32 << 20)
    with pytest.raises(ckpt.CheckpointError) as exc:
        load_language_model(p)
    assert str(exc.value) == (f"reading {p} needs about 64.0 MiB of memory, but this machine has 32.0 MiB "
                              "available: this file is not a checkpoint bptt wrote, or needs a bigger machine")


# ---------------------------------------------------------------------------------------------- translators
@pytest.fixture(scope="module")
def translator_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("seq2seq")
    paths = dates.write_tsv(d, 60, 20, 5, seed=1)
    cfg = Seq2SeqConfig(train=str(paths["train"]), val=str(paths["val"]), level="char", hidden_size=8,
                        embedding_size=4, batch_size=8, steps=6, eval_every=3, log_every=3)
    train_translator(cfg, d / "run")
    return d / "run", cfg, ckpt.load(d / "run")


TRANSLATOR_CASES = {
    "model_config.attention": (setter("model_config.attention", "psychic"),
                               "model_config.attention must be one of 'luong', 'scaled_luong', 'bahdanau', "
                               "'normed_bahdanau', 'none', got 'psychic'", True),
    "model_config.src_vocab_size": (setter("model_config.src_vocab_size", 2),
                                    "model_config.src_vocab_size must be an integer >= 4, got 2", True),
    "model_config.attention_tanh": (setter("model_config.attention_tanh", 1),
                                    "model_config.attention_tanh must be true or false, got 1", True),
    "src_vocab special": (lambda m, p, a: m["src_vocab"].__setitem__("tokens",
                                                                      sorted(m["src_vocab"]["tokens"] + ["</s>"])),
                          "src_vocab.tokens must not hold the special tokens (</s>)", True),
    "tgt_vocab size": (lambda m, p, a: m["tgt_vocab"]["tokens"].pop(),
                       "model_config.tgt_vocab_size is 15 but the run's train_config and vocabulary make 14", True),
    "batches.pos": (setter("batches.pos", 10**6), "batches.pos must be in [0, 60], got 1000000", False),
    "batches.n": (setter("batches.n", 59), "batches describes 59 pairs in batches of 8, but the training file has 60 "
                  "pairs and train_config.batch_size is 8", False),
    "batches.rng": (setter("batches.rng", {}), "batches.rng.bit_generator is missing", False),
    "batches perm": (lambda m, p, a: a.__setitem__("array/batches_perm", np.zeros(60, np.int64)),
                     "array/batches_perm must be a permutation of the 60 training pairs", False),
    "data": (setter("data.train", "0" * 63 + "g"), "data.train must be a SHA-256 fingerprint (64 hexadecimal "
             "digits), got '0000000000000000000000000000000000000000000000000000000 ...", False),
    "train_config.num_layers": (setter("train_config.num_layers", 9),
                                "train_config.num_layers must be in [1, 4], got 9", False),
}


@pytest.mark.parametrize("name", list(TRANSLATOR_CASES))
def test_every_field_of_a_translator_checkpoint_is_validated(translator_run, name):
    base, cfg, loaded = translator_run
    edit, message, model_too = TRANSLATOR_CASES[name]
    out = tampered(base, loaded, edit, name.replace(" ", "_"))
    file = out / "checkpoint.npz"
    with pytest.raises(ckpt.CheckpointError) as exc:
        train_translator(Seq2SeqConfig(**{**cfg.to_dict(), "steps": 12}), out, resume=True)
    assert str(exc.value) == f"{file}: invalid checkpoint: {message}"
    if model_too:
        with pytest.raises(ckpt.CheckpointError) as exc:
            load_translator(out)
        assert str(exc.value).startswith(f"{file}: invalid checkpoint: "), exc.value


def test_the_checkpoints_meta_round_trips_as_strict_json(lm_run):
    base, _, loaded = lm_run
    with zipfile.ZipFile(base / "checkpoint.npz") as zf:
        raw = np.load(io.BytesIO(zf.read("meta.json.npy")))
    json.loads(raw.tobytes().decode(), parse_constant=lambda name: pytest.fail(f"{name} in meta.json"))

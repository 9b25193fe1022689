"""Training language models with truncated BPTT: resumable bit for bit, safe against divergence and Ctrl-C.

:func:`train` is the library behind ``bptt train``. It reports through callbacks (no printing here):
``on_log(record)`` for every metrics record (also appended to ``DIR/metrics.jsonl``), ``on_sample(step,
text)`` for periodic samples and ``on_progress(step, total, loss)`` after every step.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .. import optim
from ..data import DataError, TBPTTStreams, Vocabulary, eval_chunks, read_text, split_train_val
from ..data.default_corpus import default_corpus_text
from ..nn import CrossEntropyLoss, Module, no_grad
from . import checkpoint as ckpt
from ._loop import (
    ConfigDict,
    Interrupted,
    TrainingError,
    append_metrics,
    clip_and_check,
    deferred_sigint,
    metrics_path,
    truncate_metrics,
)
from .lm import CELLS, LanguageModel

__all__ = ["Interrupted", "TrainConfig", "TrainingError", "evaluate_loss", "load_model", "train"]

KIND = "language_model"
OPTIMIZERS = ("adam", "rmsprop", "sgd", "adagrad")
LN2 = math.log(2.0)


@dataclasses.dataclass
class TrainConfig(ConfigDict):
    """Everything that defines a run (saved in ``config.json`` and in the checkpoint)."""

    corpus: str | None = None  # path; None = the embedded default corpus
    level: str = "char"
    model: str = "lstm"
    hidden_size: int = 256
    num_layers: int = 2
    embedding_dim: int | None = None  # None: one-hot inputs for char level, 128 for word level
    dropout: float = 0.0
    seq_length: int = 64
    batch_size: int = 32
    steps: int | None = None
    epochs: float | None = None
    optimizer: str = "adam"
    lr: float = 2e-3
    clip_norm: float | None = 5.0
    val_fraction: float = 0.05
    eval_every: int = 200
    sample_every: int = 500
    sample_length: int = 200
    log_every: int = 10
    seed: int = 0
    dtype: str = "float32"

    # fields that define the model and data: fixed once a run has started
    SHAPING = ("corpus", "level", "model", "hidden_size", "num_layers", "embedding_dim", "dropout",
               "seq_length", "batch_size", "optimizer", "val_fraction", "seed", "dtype")

    def validate(self) -> None:
        def pos_int(name: str) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ValueError(f"{name.replace('_', '-')} must be a positive integer, got {v!r}")

        for name in ("hidden_size", "num_layers", "seq_length", "batch_size", "eval_every", "sample_every",
                     "log_every", "sample_length"):
            pos_int(name)
        if self.embedding_dim is not None:
            pos_int("embedding_dim")
        if self.level not in ("char", "word"):
            raise ValueError(f"level must be 'char' or 'word', got {self.level!r}")
        if self.model not in CELLS:
            raise ValueError(f"model must be one of {', '.join(CELLS)}, got {self.model!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {self.optimizer!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if self.clip_norm is not None and not (math.isfinite(self.clip_norm) and self.clip_norm > 0):
            raise ValueError(f"clip-norm must be > 0, got {self.clip_norm!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val-fraction must be in (0, 1), got {self.val_fraction!r}")
        if self.steps is not None and (isinstance(self.steps, bool) or self.steps <= 0):
            raise ValueError(f"steps must be a positive integer, got {self.steps!r}")
        if self.epochs is not None and not self.epochs > 0:
            raise ValueError(f"epochs must be > 0, got {self.epochs!r}")
        if self.steps is not None and self.epochs is not None:
            raise ValueError("give either steps or epochs, not both")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype!r}")
        if self.num_layers < 2 and self.dropout > 0:
            raise ValueError("dropout between layers needs num-layers >= 2")


# ---------------------------------------------------------------------------------------------- pieces
def load_corpus(corpus: str | None) -> str:
    return default_corpus_text() if corpus is None else read_text(corpus)


def build_model(cfg: TrainConfig, vocab_size: int) -> LanguageModel:
    emb = cfg.embedding_dim
    if emb is None and cfg.level == "word":
        emb = 128
    return LanguageModel(vocab_size, cfg.hidden_size, cfg.num_layers, cell=cfg.model, embedding_dim=emb,
                         dropout=cfg.dropout, dtype=cfg.dtype, rng=np.random.default_rng([cfg.seed, 0]))


def build_optimizer(cfg: TrainConfig, model: Module) -> optim.Optimizer:
    params = list(model.parameters())
    if cfg.optimizer == "adam":
        return optim.Adam(params, lr=cfg.lr)
    if cfg.optimizer == "rmsprop":
        return optim.RMSprop(params, lr=cfg.lr)
    if cfg.optimizer == "adagrad":
        return optim.Adagrad(params, lr=cfg.lr)
    return optim.SGD(params, lr=cfg.lr)


def generators(module: Module) -> dict[str, np.random.Generator]:
    """Every ``numpy.random.Generator`` held by ``module`` or its children, by dotted attribute name."""
    out = {}
    for mname, m in module.named_modules():
        for attr, value in vars(m).items():
            if isinstance(value, np.random.Generator):
                out[f"{mname}.{attr}" if mname else attr] = value
    return out


def evaluate_loss(model: LanguageModel, ids: np.ndarray, batch_size: int, seq_length: int) -> float:
    """Mean cross-entropy (nats per token) over ``ids`` with state carried across chunks (eval mode)."""
    chunks = eval_chunks(ids, max(1, min(batch_size, (len(ids) - 1) // max(seq_length, 1) or 1)), seq_length)
    if not chunks:
        raise DataError(f"too little text to evaluate: {len(ids)} tokens")
    was = model.training
    model.eval()
    total, count = 0.0, 0
    ce = CrossEntropyLoss(reduction="sum")
    try:
        with no_grad():
            state = None
            for x, y in chunks:
                logits, state = model(x, state)
                total += float(ce(logits.reshape(-1, model.vocab_size), y.reshape(-1)))
                count += y.size
    finally:
        model.train(was)
    return total / count



# ---------------------------------------------------------------------------------------------- train
def train(
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    on_sample: Callable[[int, str], None] | None = None,
    on_progress: Callable[[int, int, float], None] | None = None,
    on_start: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Train (or resume) a language model in ``out_dir``; return the final summary.

    With ``resume=True`` the checkpoint's model and data settings (:attr:`TrainConfig.SHAPING`) are used and
    only the schedule (``steps``/``epochs``, intervals, ``lr``, ``clip_norm``) comes from ``cfg``.

    Raises :class:`~bptt.data.DataError` for bad corpora, ``ValueError`` for bad settings,
    :class:`TrainingError` when the loss or gradients stop being finite (the last good checkpoint is kept),
    :class:`Interrupted` after Ctrl-C (a checkpoint of the last finished step is saved first).
    """
    out = Path(out_dir)
    meta_prev = None
    if resume:
        meta_prev, params_prev, arrays_prev = ckpt.load(out, kind=KIND)
        required = ("train_config", "vocab", "step", "optimizer", "rng", "streams")
        missing = [k for k in required if k not in meta_prev]
        if missing:
            raise ckpt.CheckpointError(f"the checkpoint in {out} is incomplete (no {', '.join(missing)})")
        saved = TrainConfig.from_dict(meta_prev["train_config"])
        keep = {n: getattr(cfg, n) for n in ("steps", "epochs", "eval_every", "sample_every", "sample_length",
                                             "log_every", "lr", "clip_norm")}
        cfg = dataclasses.replace(saved, **keep)
    cfg.validate()
    text = load_corpus(cfg.corpus)
    if meta_prev is not None:
        vocab = Vocabulary.from_dict(meta_prev["vocab"])
    else:
        vocab = Vocabulary.from_text(text, cfg.level)
    ids = vocab.encode(text)
    train_ids, val_ids = split_train_val(ids, cfg.val_fraction)
    need = cfg.batch_size * cfg.seq_length + 1
    if len(train_ids) < need:
        raise DataError(
            f"the corpus has {len(train_ids)} training tokens, fewer than one batch needs "
            f"(batch-size * seq-length + 1 = {need}); use a longer text or a smaller --batch-size/--seq-length"
        )
    if len(val_ids) < 2:
        raise DataError(f"the validation split has {len(val_ids)} tokens; raise --val-fraction or use more text")
    streams = TBPTTStreams(train_ids, cfg.batch_size, cfg.seq_length)
    if cfg.steps is None:
        epochs = 1.0 if cfg.epochs is None else cfg.epochs
        total_steps = max(1, int(math.ceil(epochs * streams.chunks_per_epoch)))
    else:
        total_steps = int(cfg.steps)
    model = build_model(cfg, len(vocab))
    optimizer = build_optimizer(cfg, model)
    params = list(model.parameters())
    sample_rng = np.random.default_rng([cfg.seed, 1])
    state: Any = None
    step = 0
    if meta_prev is not None:
        try:
            model.load_state_dict(params_prev)
        except (ValueError, TypeError) as exc:
            raise ckpt.CheckpointError(f"checkpoint does not fit the model it describes: {exc}") from None
        optimizer.load_state_dict(ckpt.unpack_optimizer(meta_prev["optimizer"], arrays_prev))
        for g in optimizer.param_groups:  # the current run's lr wins (e.g. a lowered lr on resume)
            g["lr"] = cfg.lr
        gens = generators(model)
        for name, st in meta_prev["rng"].items():
            if name == "sample":
                sample_rng.bit_generator.state = st
            elif name in gens:
                gens[name].bit_generator.state = st
        streams.load_state_dict(meta_prev["streams"])
        if "array/h" in arrays_prev:
            h = arrays_prev["array/h"]
            state = (h, arrays_prev["array/c"]) if "array/c" in arrays_prev else h
        step = int(meta_prev["step"])
        if step >= total_steps:
            raise ValueError(f"the checkpoint is already at step {step}; pass --steps larger than {step} to go on")
        truncate_metrics(out, step)
    out.mkdir(parents=True, exist_ok=True)
    if meta_prev is None:  # a fresh run starts a fresh metrics file (not appended to a failed run's records)
        metrics_path(out).unlink(missing_ok=True)
    ckpt.write_json_atomic(out / "config.json", {**cfg.to_dict(), "total_steps": total_steps,
                                                   "vocab_size": len(vocab)})
    if on_start is not None:
        on_start({"step": step, "total_steps": total_steps, "vocab_size": len(vocab),
                  "train_tokens": len(train_ids), "val_tokens": len(val_ids),
                  "parameters": model.num_parameters(), "corpus": cfg.corpus or "<embedded default corpus>"})
    ce = CrossEntropyLoss()
    V = len(vocab)
    prime_default = vocab.encode(vocab.decode(train_ids[:1]))
    last_saved = step

    def save(at_step: int) -> Path:
        arrays: dict[str, np.ndarray] = {}
        opt_packed = ckpt.pack_optimizer(optimizer.state_dict(), arrays)
        if state is not None:
            if isinstance(state, tuple):
                arrays["array/h"], arrays["array/c"] = state
            else:
                arrays["array/h"] = state
        rng = {name: g.bit_generator.state for name, g in generators(model).items()}
        rng["sample"] = sample_rng.bit_generator.state
        meta = {"kind": KIND, "model_config": model.config(), "train_config": cfg.to_dict(),
                "vocab": vocab.to_dict(), "step": at_step, "total_steps": total_steps,
                "optimizer": opt_packed, "rng": rng, "streams": streams.state_dict(),
                "default_prime": vocab.decode(prime_default),
                "window": {"loss": window_loss, "n": window_n, "tokens": window_tokens}}
        return ckpt.save(out / ckpt.FILENAME, meta, {n: p.data for n, p in model.named_parameters()}, arrays)

    def log(record: dict[str, Any]) -> None:
        append_metrics(out, record, on_log)

    window_loss, window_n, window_tokens = 0.0, 0, 0
    if meta_prev is not None and "window" in meta_prev:  # the partial logging window of the interrupted run
        w = meta_prev["window"]
        window_loss, window_n, window_tokens = float(w["loss"]), int(w["n"]), int(w["tokens"])
    t_window = time.perf_counter()
    val_loss = None
    consistent = True
    # Ctrl-C is deferred to the end of the current step, so the checkpoint saved on interruption is exactly
    # the state after a finished step (a second Ctrl-C stops at once and saves nothing).
    try:
        # non-finite values are detected and reported below; numpy's overflow warnings would only add noise
        with np.errstate(all="ignore"), deferred_sigint() as sigint:
            while step < total_steps:
                consistent = False  # from here until the step's bookkeeping is done
                batch = next(streams)
                if batch.reset:
                    state = None
                logits, new_state = model(batch.x, state)
                loss = float(ce(logits.reshape(-1, V), batch.y.reshape(-1)))
                model.zero_grad()
                model.backward(ce.backward().reshape(logits.shape))
                gnorm = clip_and_check(params, cfg.clip_norm, loss, step, out, last_saved)
                optimizer.step()
                state = new_state
                step += 1
                window_loss += loss
                window_n += 1
                window_tokens += batch.x.size
                consistent = True
                is_last = step == total_steps
                do_eval = step % cfg.eval_every == 0 or is_last
                if step % cfg.log_every == 0 or do_eval:
                    elapsed = time.perf_counter() - t_window
                    record: dict[str, Any] = {
                        "step": step, "epoch": batch.epoch, "train_loss": window_loss / window_n,
                        "grad_norm": gnorm, "lr": optimizer.param_groups[0]["lr"],
                        "tokens_per_s": window_tokens / elapsed if elapsed > 0 else None,
                    }
                    if do_eval:
                        val_loss = evaluate_loss(model, val_ids, cfg.batch_size, cfg.seq_length)
                        record["val_loss"] = val_loss
                        record["val_bits_per_token"] = val_loss / LN2
                    window_loss, window_n, window_tokens = 0.0, 0, 0
                    log(record)
                    t_window = time.perf_counter()
                if step % cfg.sample_every == 0 and on_sample is not None:
                    ids_out = model.generate(prime_default, cfg.sample_length, rng=sample_rng)
                    on_sample(step, vocab.decode(np.concatenate([prime_default, ids_out])))
                if do_eval:
                    save(step)
                    last_saved = step
                if on_progress is not None:  # after the step is complete: a Ctrl-C raised here is clean
                    on_progress(step, total_steps, loss)
                if sigint.requested:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        if not consistent:  # interrupted in the middle of a step: its state is half-updated, do not save it
            raise
        path = save(step)
        raise Interrupted(step, path) from None
    return {
        "step": step,
        "val_loss": val_loss,
        "val_bits_per_token": None if val_loss is None else val_loss / LN2,
        "val_perplexity": None if val_loss is None else _perplexity(val_loss),
        "checkpoint": str(out / ckpt.FILENAME),
    }


def _perplexity(nats: float) -> float:
    """``exp(nats)``, ``inf`` when that overflows (a diverged model)."""
    return math.exp(nats) if nats < 709.0 else math.inf


# ---------------------------------------------------------------------------------------------- use
def load_model(path: str | Path) -> tuple[LanguageModel, Vocabulary, dict[str, Any]]:
    """Load a trained language model and its vocabulary from a checkpoint directory or file."""
    meta, params, _ = ckpt.load(path, kind=KIND)
    try:
        vocab = Vocabulary.from_dict(meta["vocab"])
        cfg = TrainConfig.from_dict(meta["train_config"])
        mc = meta["model_config"]
        model = LanguageModel(mc["vocab_size"], mc["hidden_size"], mc["num_layers"], cell=mc["cell"],
                              embedding_dim=mc["embedding_dim"], dropout=mc["dropout"], dtype=mc["dtype"],
                              rng=0)
    except (KeyError, TypeError, ValueError) as exc:
        raise ckpt.CheckpointError(f"checkpoint {path} has an invalid model description ({exc})") from None
    if len(vocab) != model.vocab_size:
        raise ckpt.CheckpointError(f"checkpoint {path}: vocabulary size {len(vocab)} != model's {model.vocab_size}")
    try:
        model.load_state_dict(params)
    except (ValueError, TypeError) as exc:
        raise ckpt.CheckpointError(f"checkpoint {path} does not match its model: {exc}") from None
    model.eval()
    return model, vocab, {**meta, "train_config_obj": cfg}

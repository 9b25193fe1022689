"""Training and evaluating :class:`~bptt.models.seq2seq.Seq2Seq` translators: the library behind
``bptt translate``.

Checkpoints use :mod:`bptt.models.checkpoint` (one ``.npz``, no pickle, atomic writes) with ``kind =
"seq2seq"``; they hold the model, both vocabularies, the optimizer, the batching order and every random
generator's state, so ``resume=True`` continues bit for bit as if the run had never stopped. The training and
validation files are fingerprinted (SHA-256): resuming on changed data is refused.

:func:`train` reports through callbacks (no printing here): ``on_start(info)``, ``on_log(record)`` (also
appended to ``DIR/metrics.jsonl``) and ``on_progress(step, total, loss)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data import DataError
from ..data.parallel import (
    LEVELS,
    PAD,
    Pair,
    PairBatches,
    ParallelVocab,
    detokenize,
    make_batch,
    read_tsv,
)
from ..nn import CrossEntropyLoss, no_grad
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
from .seq2seq import ATTENTIONS, CELLS, ENCODERS, Seq2Seq
from .train import build_optimizer, generators

KIND = "seq2seq"
OPTIMIZERS = ("adam", "rmsprop", "sgd", "adagrad")

__all__ = [
    "KIND",
    "Interrupted",
    "Seq2SeqConfig",
    "TrainingError",
    "bleu_score",
    "encode_pairs",
    "evaluate",
    "load_translator",
    "train",
    "validation_loss",
]


@dataclasses.dataclass
class Seq2SeqConfig(ConfigDict):
    """Everything that defines a translation run (saved in ``config.json`` and in the checkpoint)."""

    train: str = ""
    val: str = ""
    level: str = "word"
    min_count: int = 1
    cell: str = "lstm"
    encoder: str = "uni"
    attention: str = "luong"
    attention_tanh: bool = False
    num_layers: int = 1
    hidden_size: int = 64
    embedding_size: int = 32
    batch_size: int = 64
    steps: int = 2000
    optimizer: str = "adam"
    lr: float = 2e-3
    clip_norm: float | None = 5.0
    eval_every: int = 200
    log_every: int = 50
    eval_max: int | None = None  # validation pairs decoded for exact match (None: all)
    seed: int = 0
    dtype: str = "float32"

    # fields that define the model and the data: fixed once a run has started
    SHAPING = ("train", "val", "level", "min_count", "cell", "encoder", "attention", "attention_tanh",
               "num_layers", "hidden_size", "embedding_size", "batch_size", "optimizer", "seed", "dtype")
    SCHEDULE = ("steps", "eval_every", "log_every", "eval_max", "lr", "clip_norm")

    def validate(self) -> None:
        def pos_int(name: str, low: int = 1, high: int | None = None) -> None:
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low or (high is not None and v > high):
                rng = f"in [{low}, {high}]" if high is not None else "a positive integer"
                raise ValueError(f"{name.replace('_', '-')} must be {rng}, got {v!r}")

        for name in ("min_count", "hidden_size", "embedding_size", "batch_size", "steps", "eval_every",
                     "log_every"):
            pos_int(name)
        pos_int("num_layers", 1, 4)
        if self.eval_max is not None:
            pos_int("eval_max")
        if not self.train:
            raise ValueError("a training file is required (--train FILE)")
        if not self.val:
            raise ValueError("a validation file is required (--val FILE)")
        for name, options in (("level", LEVELS), ("cell", CELLS), ("encoder", ENCODERS),
                              ("attention", ATTENTIONS), ("optimizer", OPTIMIZERS),
                              ("dtype", ("float32", "float64"))):
            if getattr(self, name) not in options:
                raise ValueError(f"{name} must be one of {', '.join(options)}, got {getattr(self, name)!r}")
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be > 0, got {self.lr!r}")
        if self.clip_norm is not None and not (math.isfinite(self.clip_norm) and self.clip_norm > 0):
            raise ValueError(f"clip-norm must be > 0, got {self.clip_norm!r}")

    def model_kwargs(self) -> dict[str, Any]:
        return {"embedding_size": self.embedding_size, "hidden_size": self.hidden_size,
                "num_layers": self.num_layers, "cell": self.cell, "encoder": self.encoder,
                "attention": self.attention, "attention_tanh": self.attention_tanh, "dtype": self.dtype}


# ---------------------------------------------------------------------------------------------- data
def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def encode_pairs(pairs: Sequence[Pair], src_vocab: ParallelVocab, tgt_vocab: ParallelVocab,
                 unk: str = "replace") -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Id arrays of the sources and targets (targets without ``</s>``)."""
    return ([src_vocab.encode(s, unk=unk) for s, _ in pairs],
            [tgt_vocab.encode(t, unk=unk) for _, t in pairs])


def build_model(cfg: Seq2SeqConfig, src_vocab: ParallelVocab, tgt_vocab: ParallelVocab) -> Seq2Seq:
    return Seq2Seq(len(src_vocab), len(tgt_vocab), **cfg.model_kwargs(),
                   rng=np.random.default_rng([cfg.seed, 0]))


def validation_loss(model: Seq2Seq, sources: list[np.ndarray], targets: list[np.ndarray],
                    batch_size: int) -> float:
    """Teacher-forced cross-entropy (nats per target token, ``</s>`` included) over the pairs."""
    ce = CrossEntropyLoss(ignore_index=PAD, reduction="sum")
    total, count = 0.0, 0
    with no_grad():
        for start in range(0, len(sources), batch_size):
            b = make_batch(sources[start : start + batch_size], targets[start : start + batch_size])
            logits = model(b["src"], b["src_lengths"], b["tgt_in"])
            total += float(ce(logits.reshape(-1, model.tgt_vocab_size), b["tgt_out"].reshape(-1)))
            count += int((b["tgt_out"] != PAD).sum())
    return total / count


def bleu_score(hypotheses: list[str], references: list[str]) -> tuple[float | None, str | None]:
    """Corpus BLEU through ``sacrebleu`` (its default 13a tokenizer on the detokenized strings); ``(None,
    note)`` when sacrebleu is not installed."""
    try:
        import sacrebleu  # noqa: PLC0415 - optional extra
    except ImportError:
        return None, "sacrebleu is not installed (pip install 'bptt[bleu]'); BLEU was not computed"
    return float(sacrebleu.corpus_bleu(hypotheses, [references]).score), None


def evaluate(model: Seq2Seq, src_vocab: ParallelVocab, tgt_vocab: ParallelVocab, pairs: Sequence[Pair], *,
             beam_width: int = 1, length_penalty: float = 0.0, batch_size: int = 64, bleu: bool = True,
             max_length: int | None = None) -> dict[str, Any]:
    """Decode every source (greedy, or beam search with ``beam_width > 1``) and score against the targets.

    Returns ``{"examples", "exact_match", "bleu", "bleu_note", "hypotheses"}``: ``exact_match`` is the
    fraction of hypotheses whose tokens equal the reference's; ``bleu`` is sacrebleu's corpus BLEU (None, with
    a note, without sacrebleu or with ``bleu=False``). Unknown source tokens are read as ``<unk>``."""
    if not pairs:
        raise DataError("no pairs to evaluate")
    sources = [src_vocab.encode(s, unk="replace") for s, _ in pairs]
    hyps = model.translate(sources, beam_width=beam_width, length_penalty=length_penalty,
                           batch_size=batch_size, max_length=max_length)
    out_tokens = [tgt_vocab.decode(t) for t in hyps.tokens]
    exact = sum(h == list(t) for h, (_, t) in zip(out_tokens, pairs, strict=True)) / len(pairs)
    level = tgt_vocab.level
    hyp_text = [detokenize(h, level) for h in out_tokens]
    ref_text = [detokenize(t, level) for _, t in pairs]
    score, note = bleu_score(hyp_text, ref_text) if bleu else (None, "BLEU not requested")
    return {"examples": len(pairs), "exact_match": exact, "bleu": score, "bleu_note": note,
            "hypotheses": hyp_text}



# ---------------------------------------------------------------------------------------------- train
def train(
    cfg: Seq2SeqConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    on_start: Callable[[dict[str, Any]], None] | None = None,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    on_progress: Callable[[int, int, float], None] | None = None,
) -> dict[str, Any]:
    """Train (or resume) a translator in ``out_dir``; return the final summary.

    With ``resume=True`` the checkpoint's model and data settings (:attr:`Seq2SeqConfig.SHAPING`) are used
    and only the schedule (:attr:`Seq2SeqConfig.SCHEDULE`) comes from ``cfg``. Raises
    :class:`~bptt.data.DataError` for bad data, :class:`~bptt.models.checkpoint.CheckpointError` for a bad
    checkpoint, ``ValueError`` for bad settings, :class:`TrainingError` when the loss or gradients stop
    being finite, :class:`Interrupted` after Ctrl-C (a checkpoint of the last finished step is saved first).
    """
    out = Path(out_dir)
    meta_prev = None
    if resume:
        meta_prev, params_prev, arrays_prev = ckpt.load(out, kind=KIND)
        need = ("train_config", "src_vocab", "tgt_vocab", "step", "optimizer", "rng", "batches", "data")
        missing = [k for k in need if k not in meta_prev]
        if missing:
            raise ckpt.CheckpointError(f"the checkpoint in {out} is incomplete (no {', '.join(missing)})")
        try:
            if not all(isinstance(meta_prev[k], dict) for k in ("train_config", "data", "batches", "rng")):
                raise TypeError("train_config, data, batches and rng must be mappings")
            saved = Seq2SeqConfig.from_dict(meta_prev["train_config"])
            cfg = dataclasses.replace(saved, **{n: getattr(cfg, n) for n in Seq2SeqConfig.SCHEDULE})
            cfg.validate()
            if not (isinstance(cfg.train, str) and isinstance(cfg.val, str)):
                raise TypeError("the data paths must be strings")
        except (TypeError, ValueError, AttributeError) as exc:
            raise ckpt.CheckpointError(f"the checkpoint in {out} has an invalid configuration ({exc})"
                                       ) from None
    cfg.validate()
    train_pairs = read_tsv(cfg.train, cfg.level, "training file")
    val_pairs = read_tsv(cfg.val, cfg.level, "validation file")
    data_hash = {"train": _sha256(cfg.train), "val": _sha256(cfg.val)}
    if meta_prev is not None:
        for k in ("train", "val"):
            if meta_prev["data"].get(k) != data_hash[k]:  # (a mapping: checked above)
                raise DataError(f"the {'training' if k == 'train' else 'validation'} file {getattr(cfg, k)} "
                                "changed since the checkpoint was written; --resume needs the same data")
        try:
            src_vocab = ParallelVocab.from_dict(meta_prev["src_vocab"])
            tgt_vocab = ParallelVocab.from_dict(meta_prev["tgt_vocab"])
        except DataError as exc:
            raise ckpt.CheckpointError(f"the checkpoint in {out} has an invalid vocabulary ({exc})") from None
    else:
        src_vocab = ParallelVocab.build([s for s, _ in train_pairs], cfg.level, cfg.min_count)
        tgt_vocab = ParallelVocab.build([t for _, t in train_pairs], cfg.level, cfg.min_count)
    train_src, train_tgt = encode_pairs(train_pairs, src_vocab, tgt_vocab)
    val_src, val_tgt = encode_pairs(val_pairs, src_vocab, tgt_vocab)
    val_unknown = len(src_vocab.unknown(t for s, _ in val_pairs for t in s))
    eval_pairs = val_pairs if cfg.eval_max is None else val_pairs[: cfg.eval_max]
    batches = PairBatches(len(train_pairs), cfg.batch_size, cfg.seed)
    total_steps = int(cfg.steps)
    model = build_model(cfg, src_vocab, tgt_vocab)
    optimizer = build_optimizer(cfg, model)
    params = list(model.parameters())
    step = 0
    if meta_prev is not None:
        try:
            model.load_state_dict(params_prev)
            optimizer.load_state_dict(ckpt.unpack_optimizer(meta_prev["optimizer"], arrays_prev))
            saved_arrays = {k[len("array/"):]: v for k, v in arrays_prev.items() if k.startswith("array/")}
            batches.load_state_dict(meta_prev["batches"], saved_arrays)
            gens = generators(model)
            for name, st in meta_prev["rng"].items():
                if name in gens:
                    gens[name].bit_generator.state = st
            step = int(meta_prev["step"])
            w = meta_prev.get("window", {"loss": 0.0, "n": 0, "tokens": 0})
            window = (float(w["loss"]), int(w["n"]), int(w["tokens"]))
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            raise ckpt.CheckpointError(f"checkpoint does not fit the model it describes: {exc}") from None
        for g in optimizer.param_groups:  # the current run's lr wins
            g["lr"] = cfg.lr
        if step >= total_steps:
            raise ValueError(f"the checkpoint is already at step {step}; pass --steps larger than {step} to "
                             "go on")
        truncate_metrics(out, step)
    out.mkdir(parents=True, exist_ok=True)
    if meta_prev is None:
        metrics_path(out).unlink(missing_ok=True)
    ckpt.write_json_atomic(out / "config.json", {**cfg.to_dict(), "src_vocab_size": len(src_vocab),
                                                   "tgt_vocab_size": len(tgt_vocab)})
    if on_start is not None:
        on_start({"step": step, "total_steps": total_steps, "train_pairs": len(train_pairs),
                  "val_pairs": len(val_pairs), "src_vocab_size": len(src_vocab),
                  "tgt_vocab_size": len(tgt_vocab), "parameters": model.num_parameters(),
                  "val_unknown_tokens": val_unknown})
    ce = CrossEntropyLoss(ignore_index=PAD)
    V = len(tgt_vocab)
    last_saved = step
    window_loss, window_n, window_tokens = 0.0, 0, 0
    if meta_prev is not None:  # the partial logging window of the interrupted run
        window_loss, window_n, window_tokens = window

    def save(at_step: int) -> Path:
        arrays: dict[str, np.ndarray] = {}
        opt_packed = ckpt.pack_optimizer(optimizer.state_dict(), arrays)
        bstate, barrays = batches.state_dict()
        arrays.update({f"array/{k}": v for k, v in barrays.items()})
        meta = {"kind": KIND, "model_config": model.config(), "train_config": cfg.to_dict(),
                "src_vocab": src_vocab.to_dict(), "tgt_vocab": tgt_vocab.to_dict(), "step": at_step,
                "total_steps": total_steps, "optimizer": opt_packed, "batches": bstate, "data": data_hash,
                "rng": {name: g.bit_generator.state for name, g in generators(model).items()},
                "window": {"loss": window_loss, "n": window_n, "tokens": window_tokens}}
        return ckpt.save(out / ckpt.FILENAME, meta, {n: p.data for n, p in model.named_parameters()}, arrays)

    def log(record: dict[str, Any]) -> None:
        append_metrics(out, record, on_log)

    t_window = time.perf_counter()
    val_loss = exact = None
    consistent = True
    # Ctrl-C is deferred to the end of the current step, so the checkpoint saved on interruption is exactly
    # the state after a finished step (a second Ctrl-C stops at once and saves nothing).
    try:
        with np.errstate(all="ignore"), deferred_sigint() as sigint:
            while step < total_steps:
                consistent = False
                idx = next(batches)
                b = make_batch([train_src[i] for i in idx], [train_tgt[i] for i in idx])
                logits = model(b["src"], b["src_lengths"], b["tgt_in"])
                loss = float(ce(logits.reshape(-1, V), b["tgt_out"].reshape(-1)))
                model.zero_grad()
                model.backward(ce.backward().reshape(logits.shape))
                gnorm = clip_and_check(params, cfg.clip_norm, loss, step, out, last_saved)
                optimizer.step()
                step += 1
                window_loss += loss
                window_n += 1
                window_tokens += int((b["tgt_out"] != PAD).sum())
                consistent = True
                is_last = step == total_steps
                do_eval = step % cfg.eval_every == 0 or is_last
                if step % cfg.log_every == 0 or do_eval:
                    elapsed = time.perf_counter() - t_window
                    record: dict[str, Any] = {
                        "step": step, "epoch": batches.epoch, "train_loss": window_loss / window_n,
                        "grad_norm": gnorm, "lr": optimizer.param_groups[0]["lr"],
                        "target_tokens_per_s": window_tokens / elapsed if elapsed > 0 else None,
                    }
                    if do_eval:
                        model.eval()
                        val_loss = validation_loss(model, val_src, val_tgt, cfg.batch_size)
                        exact = evaluate(model, src_vocab, tgt_vocab, eval_pairs, batch_size=cfg.batch_size,
                                         bleu=False)["exact_match"]
                        model.train()
                        record["val_loss"] = val_loss
                        record["val_exact_match"] = exact
                    window_loss, window_n, window_tokens = 0.0, 0, 0
                    log(record)
                    t_window = time.perf_counter()
                if do_eval:
                    save(step)
                    last_saved = step
                if on_progress is not None:
                    on_progress(step, total_steps, loss)
                if sigint.requested:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        if not consistent:
            raise
        path = save(step)
        raise Interrupted(step, path) from None
    return {"step": step, "val_loss": val_loss, "val_exact_match": exact,
            "checkpoint": str(out / ckpt.FILENAME)}


# ---------------------------------------------------------------------------------------------- use
def load_translator(path: str | Path) -> tuple[Seq2Seq, ParallelVocab, ParallelVocab, dict[str, Any]]:
    """Load a trained translator and its vocabularies from a checkpoint directory or file (eval mode)."""
    meta, params, _ = ckpt.load(path, kind=KIND)
    try:
        src_vocab = ParallelVocab.from_dict(meta["src_vocab"])
        tgt_vocab = ParallelVocab.from_dict(meta["tgt_vocab"])
        mc = meta["model_config"]
        if not isinstance(mc, dict):
            raise TypeError("model_config is not a mapping")
        model = Seq2Seq.from_config(mc)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ckpt.CheckpointError(f"checkpoint {path} has an invalid model description ({exc})") from None
    if len(src_vocab) != model.src_vocab_size or len(tgt_vocab) != model.tgt_vocab_size:
        raise ckpt.CheckpointError(f"checkpoint {path}: the vocabulary sizes do not match the model")
    try:
        model.load_state_dict(params)
    except (ValueError, TypeError) as exc:
        raise ckpt.CheckpointError(f"checkpoint {path} does not match its model: {exc}") from None
    model.eval()
    return model, src_vocab, tgt_vocab, meta

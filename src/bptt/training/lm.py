"""Training language models with truncated BPTT: the library behind ``bptt train``.

:class:`TrainConfig` declares every setting of a run; :class:`LanguageModelTask` is the language model's part
of the training loop (:mod:`bptt.training.loop`): the text cut into ``batch_size`` streams of
``seq_length``-token chunks, the recurrent state carried from chunk to chunk, the validation loss with the
state carried across the held-out text, and samples. :func:`train` runs it.

In a data-parallel run (:mod:`bptt.training.distributed`) each process computes its
:meth:`~bptt.training.communicator.Communicator.shard` of the streams (``batch_size`` is the global batch)
and of the validation streams; the model draws the whole batch's dropout masks
(:meth:`bptt.nn.Module.shard_batch`), and the checkpoint holds the carried state of every stream.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..data import DataError, TBPTTStreams, Vocabulary, read_text, split_train_val
from ..data.default_corpus import default_corpus_text
from ..data.text import LEVELS
from ..models.evaluation import evaluation_streams, loss_sum
from ..models.io import LANGUAGE_MODEL, LM_MODEL, check_parameters, vocabulary_spec
from ..models.lm import CELLS, LanguageModel
from ..models.schema import Bool, Int, Optional, Record, Spec, Str
from ..nn import BatchShard, CrossEntropyLoss
from ..nn import checks as C
from .checkpoint import SHA256, TrainingCheckpoint, check_model_config, generators
from .communicator import Communicator, SingleProcess, StepOutcome
from .config import DTYPES, OPTIMIZER_STATE_ARRAYS, OPTIMIZERS, RunConfig, build_optimizer, setting
from .loop import Hooks, Schedule, run

__all__ = ["LanguageModelTask", "TrainConfig", "build_model", "check_memory", "corpus_fingerprint", "load_corpus",
           "memory_needed", "model_config", "train"]

LN2 = math.log(2.0)
MAX_STEPS = 10**12


@dataclasses.dataclass
class TrainConfig(RunConfig):
    """Everything that defines a language-model run (saved in ``config.json`` and in the checkpoint)."""

    KIND: ClassVar[str] = LANGUAGE_MODEL

    corpus: str | None = setting(None, "UTF-8 text file (default: the docstrings of Python's standard library)",
                                 shaping=True, flag=False)
    level: str = setting("char", "tokens: characters or whitespace-separated words", choices=LEVELS,
                         shaping=True)
    model: str = setting("lstm", "recurrent cell", choices=CELLS, shaping=True)
    hidden_size: int = setting(256, "units per recurrent layer", low=1, shaping=True)
    num_layers: int = setting(1, "stacked recurrent layers", low=1, shaping=True)
    embedding_dim: int | None = setting(None, "embedding size (default: one-hot inputs for char, 128 for word)",
                                        low=1, shaping=True)
    dropout: float = setting(0.0, "dropout between layers", low=0, high=1, high_open=True, shaping=True)
    seq_length: int = setting(64, "tokens per TBPTT chunk", low=1, shaping=True)
    batch_size: int = setting(32, "parallel streams", low=1, shaping=True)
    steps: int | None = setting(None, "total optimizer steps (default: one epoch)", low=1, high=MAX_STEPS,
                                exclusive="length")
    epochs: float | None = setting(None, "passes over the training text (default 1)", low=0, low_open=True,
                                   high=1e6, exclusive="length")
    optimizer: str = setting("adam", "optimizer", choices=OPTIMIZERS, shaping=True)
    lr: float = setting(5e-3, "learning rate (Adam)", low=0, low_open=True)
    clip_norm: float | None = setting(5.0, "max gradient norm", low=0, low_open=True)
    val_fraction: float = setting(0.05, "last fraction of the text held out for validation", low=0, high=1,
                                  low_open=True, high_open=True, shaping=True)
    eval_every: int = setting(200, "steps between validations and checkpoints", low=1)
    sample_every: int = setting(500, "steps between samples", low=1)
    sample_length: int = setting(200, "tokens per sample", low=1, high=100_000)
    log_every: int = setting(10, "steps between metrics records", low=1)
    seed: int = setting(0, "seed of the initial weights, dropout and samples", low=0, shaping=True)
    dtype: str = setting("float32", "floating-point type of the model", choices=DTYPES, shaping=True)
    allow_changed_data: bool = setting(False, "with --resume: continue even though the corpus changed since the "
                                       "checkpoint (its vocabulary is kept; the text is read from its start)")

    def check_relations(self) -> None:
        if self.steps is not None and self.epochs is not None:
            raise ValueError("give either steps or epochs, not both")
        if self.num_layers < 2 and self.dropout > 0:
            raise ValueError("dropout between layers needs num-layers >= 2")


def load_corpus(corpus: str | None) -> str:
    """The text of ``corpus`` (a path), or the embedded default corpus for None."""
    return default_corpus_text() if corpus is None else read_text(corpus)


def model_config(cfg: TrainConfig, vocab_size: int) -> dict[str, Any]:
    """The ``model_config`` of the model ``cfg`` builds over ``vocab_size`` tokens (:meth:`LanguageModel.config`),
    without building it."""
    emb = cfg.embedding_dim
    if emb is None and cfg.level == "word":
        emb = 128
    return {"vocab_size": vocab_size, "hidden_size": cfg.hidden_size, "num_layers": cfg.num_layers,
            "cell": cfg.model, "embedding_dim": emb, "dropout": float(cfg.dropout), "dtype": cfg.dtype}


def build_model(cfg: TrainConfig, vocab_size: int) -> LanguageModel:
    """The (untrained) model of ``cfg``, initialised from ``seed``."""
    mc = model_config(cfg, vocab_size)
    return LanguageModel(vocab_size, cfg.hidden_size, cfg.num_layers, cell=cfg.model, embedding_dim=mc["embedding_dim"],
                         dropout=cfg.dropout, dtype=cfg.dtype, rng=np.random.default_rng([cfg.seed, 0]))


def memory_needed(cfg: TrainConfig, vocab_size: int) -> tuple[int, int]:
    """``(bytes, parameters)``: an estimate of the memory training ``cfg`` takes, and the model's parameter
    count. Bytes: the parameters, their gradients and the optimizer's buffers; per step of ``T x B`` tokens
    the forward caches and backward buffers of each layer (about ``16 H`` values per token), the inputs
    (one-hot ``V`` or embedding ``E``) and the logits, probabilities and their gradient (``4 V``)."""
    mc = model_config(cfg, vocab_size)
    P = LanguageModel.parameter_count(vocab_size, cfg.hidden_size, cfg.num_layers, cfg.model, mc["embedding_dim"])
    itemsize = np.dtype(cfg.dtype).itemsize
    tokens = cfg.batch_size * cfg.seq_length
    per_token = cfg.num_layers * 16 * cfg.hidden_size + 4 * vocab_size + (mc["embedding_dim"] or vocab_size)
    return itemsize * (P * (2 + OPTIMIZER_STATE_ARRAYS[cfg.optimizer]) + tokens * per_token), P


def check_memory(cfg: TrainConfig, vocab_size: int) -> None:
    """Refuse (``MemoryLimitError``, a ``ValueError``) settings whose model and batch would not fit in the memory
    this machine has available, before allocating anything."""
    nbytes, P = memory_needed(cfg, vocab_size)
    C.require_memory(nbytes, f"training this model ({P:,} parameters: --hidden-size {cfg.hidden_size}, "
                     f"--num-layers {cfg.num_layers}, vocabulary {vocab_size}; batch {cfg.batch_size} x "
                     f"{cfg.seq_length} tokens)", "choose a smaller --hidden-size, --num-layers, --batch-size or "
                     "--seq-length")


def corpus_fingerprint(text: str) -> str:
    """SHA-256 of the corpus text (UTF-8): a resumed run checks it trains on the same text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class LanguageModelTask:
    """A language model's part of the training loop (see :class:`bptt.training.loop.Task`)."""

    SCHEMA: ClassVar[dict[str, Spec | type]] = {
        "model_config": LM_MODEL,
        "vocab": vocabulary_spec(),
        "streams": Record({"position": Int(low=0), "epoch": Int(low=0), "fresh": Bool()}),
        "default_prime": Str(),
        "data": Optional(Record({"corpus": SHA256})),  # absent in checkpoints of an older bptt
    }
    RATE_KEY: ClassVar[str] = "tokens_per_s"

    def __init__(self, cfg: TrainConfig, checkpoint: TrainingCheckpoint | None,
                 communicator: Communicator | None = None) -> None:
        self.config = cfg
        self.comm = communicator or SingleProcess()
        if cfg.batch_size < self.comm.size:
            raise ValueError(f"batch-size {cfg.batch_size} is smaller than the number of processes "
                             f"({self.comm.size}): each process needs at least one stream")
        self.rows = self.comm.shard(cfg.batch_size)  # the streams this process computes
        text = load_corpus(cfg.corpus)
        self.fingerprint = corpus_fingerprint(text)
        self.data_changed = False
        if checkpoint is not None:
            self.vocab = Vocabulary.from_dict(checkpoint.meta["vocab"])
            mc = model_config(cfg, len(self.vocab))
            check_model_config(checkpoint, mc)
            check_parameters(checkpoint.params, LanguageModel.parameter_count(
                mc["vocab_size"], mc["hidden_size"], mc["num_layers"], mc["cell"], mc["embedding_dim"]),
                mc["dtype"], checkpoint.path)
            self.data_changed = self._check_same_corpus(checkpoint)
            try:
                ids = self.vocab.encode(text)
            except DataError as exc:
                raise DataError(f"the corpus {cfg.corpus or '(the embedded default)'} cannot be read with the "
                                f"checkpoint's vocabulary: {exc}") from None
        else:
            self.vocab = Vocabulary.from_text(text, cfg.level)
            ids = self.vocab.encode(text)
        train_ids, self.val_ids = split_train_val(ids, cfg.val_fraction)
        need = cfg.batch_size * cfg.seq_length + 1
        if len(train_ids) < need:
            raise DataError(
                f"the corpus has {len(train_ids)} training tokens, fewer than one batch needs "
                f"(batch-size * seq-length + 1 = {need}); use a longer text or a smaller --batch-size/--seq-length"
            )
        if len(self.val_ids) < 2:
            raise DataError(f"the validation split has {len(self.val_ids)} tokens; raise --val-fraction or use "
                            "more text")
        self.train_tokens = len(train_ids)
        self.streams = TBPTTStreams(train_ids, cfg.batch_size, cfg.seq_length)
        if cfg.steps is None:
            epochs = 1.0 if cfg.epochs is None else cfg.epochs
            total = math.ceil(epochs * self.streams.chunks_per_epoch)
            if total > MAX_STEPS:
                raise ValueError(f"--epochs {epochs:g} makes {total:.3g} steps of this corpus, more than "
                                 f"{MAX_STEPS:.0e}; choose fewer --epochs")
            total_steps = max(1, int(total))
        else:
            total_steps = int(cfg.steps)
        self.schedule = Schedule(total_steps, cfg.log_every, cfg.eval_every, cfg.lr, cfg.clip_norm,
                                 cfg.sample_every)
        check_memory(cfg, len(self.vocab))
        self.model = build_model(cfg, len(self.vocab))
        if self.comm.size > 1:
            self.model.shard_batch(BatchShard(self.rows.start, self.rows.stop, cfg.batch_size))
        self.optimizer = build_optimizer(cfg.optimizer, self.model, cfg.lr)
        self.sample_rng = np.random.default_rng([cfg.seed, 1])
        self.prime = self.vocab.encode(self.vocab.decode(train_ids[:1]))
        self.loss = CrossEntropyLoss()
        self.carried: Any = None  # the recurrent state carried into the next chunk
        self._next_carried: Any = None
        self._epoch = 0

    def _check_same_corpus(self, checkpoint: TrainingCheckpoint) -> bool:
        """Whether the corpus changed since the checkpoint (allowed only with ``allow_changed_data``)."""
        saved = (checkpoint.meta.get("data") or {}).get("corpus")
        if saved == self.fingerprint:
            return False
        name = self.config.corpus or "the embedded default corpus (built from this Python's standard library)"
        if self.config.allow_changed_data:
            return True
        if saved is None:
            raise DataError(f"the checkpoint records no fingerprint of its corpus (an older bptt wrote it), so "
                            f"resuming cannot check that {name} is the same text; pass --allow-changed-data to "
                            "resume anyway")
        raise DataError(f"{name} changed since the checkpoint was written; --resume needs the same text (pass "
                        "--allow-changed-data to continue on the new text on purpose)")

    @property
    def epoch(self) -> int:
        return self._epoch

    def step(self) -> StepOutcome:
        batch = next(self.streams)
        if batch.reset:
            self.carried = None
        x, y = batch.x, batch.y
        if self.comm.size > 1:
            x, y = np.ascontiguousarray(x[:, self.rows]), np.ascontiguousarray(y[:, self.rows])
        logits, self._next_carried = self.model(x, self.carried)
        loss = float(self.loss(logits.reshape(-1, len(self.vocab)), y.reshape(-1)))
        self.model.zero_grad()
        self.model.backward(self.loss.backward().reshape(logits.shape))
        self._epoch = batch.epoch
        return StepOutcome(loss, x.size)

    def commit(self) -> None:
        self.carried = self._next_carried

    def evaluate(self) -> dict[str, Any]:
        cfg = self.config
        streams = self.comm.shard(evaluation_streams(len(self.val_ids), cfg.batch_size, cfg.seq_length))
        total, count = self.comm.sum(loss_sum(self.model, self.val_ids, cfg.batch_size, cfg.seq_length, streams))
        val_loss = float(total / count)
        return {"val_loss": val_loss, "val_bits_per_token": val_loss / LN2}

    def sample(self) -> str:
        ids = self.model.generate(self.prime, self.config.sample_length, rng=self.sample_rng)
        return self.vocab.decode(np.concatenate([self.prime, ids]))

    def generators(self) -> dict[str, np.random.Generator]:
        return {**generators(self.model), "sample": self.sample_rng}

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The carried state of every stream, gathered from every process (``(layers, batch, ...)``)."""
        arrays = {}
        names = self.model.state_names  # ("h",), ("h", "c"), ...
        if self.carried is not None:
            parts = self.carried if isinstance(self.carried, tuple) else (self.carried,)
            for name, part in zip(names, parts):
                whole = self.comm.gather(part, axis=1)
                if whole is not None:  # None on the processes that do not write the checkpoint
                    arrays[name] = whole
        meta = {"vocab": self.vocab.to_dict(), "streams": self.streams.state_dict(),
                "default_prime": self.vocab.decode(self.prime), "data": {"corpus": self.fingerprint}}
        return meta, arrays

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """The batching position and the carried recurrent state (checked against the data and the model: the
        shapes the model carries, ``(layers, batch, hidden)`` or an xLSTM layer's own); on changed data
        (``allow_changed_data``) the text is read from its start with a fresh state."""
        if self.data_changed:
            self.streams.epoch = meta["streams"]["epoch"]
            return
        prime = self.vocab.decode(self.prime)
        if meta["default_prime"] != prime:
            raise ValueError(f"default_prime is {meta['default_prime']!r} but the corpus starts with {prime!r}")
        streams = meta["streams"]
        T, L = self.config.seq_length, self.streams.stream_length
        if streams["position"] > L or streams["position"] % T:
            raise ValueError(f"streams.position must be a multiple of --seq-length {T} in [0, {L}], got "
                             f"{streams['position']}")
        self.streams.load_state_dict(streams)
        names = self.model.state_names  # ("h",), ("h", "c"), ...
        expected = set() if streams["fresh"] else set(names)
        if set(arrays) != expected:
            raise ValueError(f"the carried state must be the arrays {sorted(expected) or 'none'} "
                             f"(streams.fresh is {str(streams['fresh']).lower()}), got {sorted(arrays) or 'none'}")
        if not arrays:
            return
        B = self.config.batch_size
        zeros = self.model.initial_state(B)  # the shapes the model carries: (layers, B, hidden), or the
        for name, want in zip(names, zeros if isinstance(zeros, tuple) else (zeros,)):  # xLSTM layers' own
            a = arrays[name]
            if a.shape != want.shape or a.dtype != want.dtype:
                raise ValueError(f"array/{name} must be a {want.dtype} array of shape {want.shape}, got {a.dtype} "
                                 f"{a.shape}")
        parts = tuple(np.ascontiguousarray(arrays[n][:, self.rows]) for n in names)  # this process's streams
        self.carried = parts if len(names) > 1 else parts[0]

    def describe(self) -> dict[str, Any]:
        return {"vocab_size": len(self.vocab), "train_tokens": self.train_tokens, "val_tokens": len(self.val_ids),
                "corpus": self.config.corpus or "<embedded default corpus>"}

    def config_record(self) -> dict[str, Any]:
        return {**self.config.to_dict(), "total_steps": self.schedule.total_steps, "vocab_size": len(self.vocab)}


def train(
    cfg: TrainConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    on_sample: Callable[[int, str], None] | None = None,
    on_progress: Callable[[int, int, float], None] | None = None,
    on_start: Callable[[dict[str, Any]], None] | None = None,
    communicator: Communicator | None = None,
) -> dict[str, Any]:
    """Train (or resume) a language model in ``out_dir``; return the final summary (``step``, ``val_loss``,
    ``val_bits_per_token``, ``val_perplexity``, ``checkpoint``).

    With ``resume=True`` the checkpoint's model and data settings (:meth:`TrainConfig.shaping`) are used and
    only the schedule (``steps``/``epochs``, intervals, ``lr``, ``clip_norm``) comes from ``cfg``. Reports
    through the callbacks of :class:`~bptt.training.loop.Hooks` (``on_log`` records are also appended to
    ``DIR/metrics.jsonl``).

    Raises :class:`~bptt.data.DataError` for bad corpora, ``ValueError`` for bad settings,
    :class:`~bptt.models.checkpoint.CheckpointError` for a bad checkpoint,
    :class:`~bptt.training.TrainingError` when the loss or gradients stop being finite (the last good
    checkpoint is kept), :class:`~bptt.training.Interrupted` after Ctrl-C (a checkpoint of the last finished
    step is saved first). ``communicator``: the processes of a data-parallel run
    (:func:`bptt.training.distributed.world`; default one process).
    """
    result = run(LanguageModelTask, cfg, out_dir, resume=resume, communicator=communicator,
                 hooks=Hooks(on_start=on_start, on_log=on_log, on_sample=on_sample, on_progress=on_progress))
    val_loss = result.evaluation.get("val_loss")
    return {
        "step": result.step,
        "val_loss": val_loss,
        "val_bits_per_token": None if val_loss is None else val_loss / LN2,
        "val_perplexity": None if val_loss is None else _perplexity(val_loss),
        "checkpoint": str(result.checkpoint),
    }


def _perplexity(nats: float) -> float:
    """``exp(nats)``, ``inf`` when that overflows (a diverged model)."""
    return math.exp(nats) if nats < 709.0 else math.inf

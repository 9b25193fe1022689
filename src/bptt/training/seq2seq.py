"""Training :class:`~bptt.models.seq2seq.Seq2Seq` translators: the library behind ``bptt translate train``.

:class:`Seq2SeqConfig` declares every setting of a run; :class:`TranslatorTask` is the translator's part of
the training loop (:mod:`bptt.training.loop`): shuffled minibatches of ``source<TAB>target`` pairs, teacher
forcing, and the validation loss and exact match. The training and validation files are fingerprinted
(SHA-256): resuming on changed data is refused. :func:`train` runs it.

In a data-parallel run (:mod:`bptt.training.distributed`) every process draws the same global batch of pairs
and computes its :meth:`~bptt.training.communicator.Communicator.shard` of it; the loss is weighted by target
tokens (batches have variable lengths), so the reduced loss and gradients are the global batch's. Validation
pairs are sharded and the sums reduced. The model has no random draws in training (no dropout).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ..data import DataError
from ..data.parallel import LEVELS, PAD, PairBatches, ParallelVocab, make_batch, read_tsv
from ..models.evaluation import encode_pairs, evaluate_translator, validation_loss_sum
from ..models.io import TRANSLATOR, TRANSLATOR_MODEL, check_parameters, pair_vocabulary_spec
from ..models.schema import Int, Record, Spec
from ..models.seq2seq import ATTENTIONS, CELLS, ENCODERS, Seq2Seq
from ..nn import CrossEntropyLoss
from ..nn import checks as C
from .checkpoint import RNG_STATE, SHA256, TrainingCheckpoint, check_model_config, generators
from .communicator import Communicator, SingleProcess, StepOutcome
from .config import DTYPES, OPTIMIZER_STATE_ARRAYS, OPTIMIZERS, RunConfig, build_optimizer, setting
from .loop import Hooks, Schedule, run

__all__ = ["Seq2SeqConfig", "TranslatorTask", "build_model", "check_memory", "model_config", "train"]



@dataclasses.dataclass
class Seq2SeqConfig(RunConfig):
    """Everything that defines a translation run (saved in ``config.json`` and in the checkpoint)."""

    KIND: ClassVar[str] = TRANSLATOR

    train: str = setting("", "training pairs, the vocabularies are built from them (required; with --resume: "
                         "default the checkpoint's)", metavar="FILE", shaping=True)
    val: str = setting("", "validation pairs: loss and exact match (required; with --resume: default the "
                       "checkpoint's)", metavar="FILE", shaping=True)
    level: str = setting("word", "tokens: words or characters", choices=LEVELS, shaping=True)
    min_count: int = setting(1, "rarer training tokens become <unk>", low=1, shaping=True)
    cell: str = setting("lstm", "recurrent cell", choices=CELLS, shaping=True)
    encoder: str = setting("uni", "unidirectional or bidirectional encoder", choices=ENCODERS, shaping=True)
    attention: str = setting("luong", "attention mechanism", choices=ATTENTIONS, shaping=True)
    attention_tanh: bool = setting(False, "tanh on the attention layer (Luong's paper)", shaping=True)
    num_layers: int = setting(1, "recurrent layers of the encoder and the decoder", low=1, high=4, shaping=True)
    hidden_size: int = setting(64, "units per recurrent layer", low=1, shaping=True)
    embedding_size: int = setting(32, "embedding size of both vocabularies", low=1, shaping=True)
    batch_size: int = setting(64, "pairs per step", low=1, shaping=True)
    steps: int = setting(2000, "total optimizer steps", low=1, high=10**12)
    optimizer: str = setting("adam", "optimizer", choices=OPTIMIZERS, shaping=True)
    lr: float = setting(2e-3, "learning rate", low=0, low_open=True)
    clip_norm: float | None = setting(5.0, "max gradient norm", low=0, low_open=True)
    eval_every: int = setting(200, "steps between validations and checkpoints", low=1)
    log_every: int = setting(50, "steps between metrics records", low=1)
    eval_max: int | None = setting(None, "validation pairs decoded for exact match during training (default all)",
                                   low=1)
    seed: int = setting(0, "seed of the initial weights and the batch order", low=0, shaping=True)
    dtype: str = setting("float32", "floating-point type of the model", choices=DTYPES, shaping=True)
    allow_changed_data: bool = setting(False, "with --resume: continue even though the training or validation "
                                       "file changed since the checkpoint (its vocabularies are kept; the batch "
                                       "order starts afresh)")

    def check_relations(self) -> None:
        if not self.train:
            raise ValueError("a training file is required (--train FILE)")
        if not self.val:
            raise ValueError("a validation file is required (--val FILE)")

    def model_kwargs(self) -> dict[str, Any]:
        return {"embedding_size": self.embedding_size, "hidden_size": self.hidden_size,
                "num_layers": self.num_layers, "cell": self.cell, "encoder": self.encoder,
                "attention": self.attention, "attention_tanh": self.attention_tanh, "dtype": self.dtype}


def _sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def model_config(cfg: Seq2SeqConfig, src_vocab_size: int, tgt_vocab_size: int) -> dict[str, Any]:
    """The ``model_config`` (:meth:`Seq2Seq.config`) of the translator ``cfg`` builds, without building it."""
    return {"src_vocab_size": src_vocab_size, "tgt_vocab_size": tgt_vocab_size, **cfg.model_kwargs()}


def build_model(cfg: Seq2SeqConfig, src_vocab: ParallelVocab, tgt_vocab: ParallelVocab) -> Seq2Seq:
    """The (untrained) translator of ``cfg``, initialised from ``seed``."""
    return Seq2Seq(len(src_vocab), len(tgt_vocab), **cfg.model_kwargs(), rng=np.random.default_rng([cfg.seed, 0]))


def check_memory(cfg: Seq2SeqConfig, mc: dict[str, Any], longest: int) -> None:
    """Refuse (``MemoryLimitError``) a model and batch that would not fit in the memory available: the
    parameters, gradients and optimizer buffers, and per batch of ``B`` pairs of up to ``longest`` tokens the
    caches of the encoder and decoder (about ``24 H`` values per token and layer), the attention over the
    source at every target step and the logits, probabilities and their gradient (``3 V``)."""
    P = Seq2Seq.parameter_count(mc)
    H, L, B, V = cfg.hidden_size, cfg.num_layers, cfg.batch_size, mc["tgt_vocab_size"]
    per_pair = longest * (L * 24 * H + 3 * V + 2 * cfg.embedding_size) + longest * longest * 2
    nbytes = np.dtype(cfg.dtype).itemsize * (P * (2 + OPTIMIZER_STATE_ARRAYS[cfg.optimizer]) + B * per_pair)
    C.require_memory(nbytes, f"training this translator ({P:,} parameters: --hidden-size {H}, --num-layers {L}, "
                     f"--embedding-size {cfg.embedding_size}; batches of {B} pairs of up to {longest} tokens)",
                     "choose a smaller --hidden-size, --embedding-size, --num-layers or --batch-size")


class TranslatorTask:
    """A translator's part of the training loop (see :class:`bptt.training.loop.Task`)."""

    SCHEMA: ClassVar[dict[str, Spec | type]] = {
        "model_config": TRANSLATOR_MODEL,
        "src_vocab": pair_vocabulary_spec(),
        "tgt_vocab": pair_vocabulary_spec(),
        "batches": Record({"epoch": Int(low=0), "pos": Int(low=0), "rng": RNG_STATE, "n": Int(low=1),
                           "batch_size": Int(low=1)}),
        "data": Record({"train": SHA256, "val": SHA256}),
    }
    RATE_KEY: ClassVar[str] = "target_tokens_per_s"

    def __init__(self, cfg: Seq2SeqConfig, checkpoint: TrainingCheckpoint | None,
                 communicator: Communicator | None = None) -> None:
        self.config = cfg
        self.comm = communicator or SingleProcess()
        train_pairs = read_tsv(cfg.train, cfg.level, "training file")
        self.val_pairs = read_tsv(cfg.val, cfg.level, "validation file")
        self.data_hash = {"train": _sha256(cfg.train), "val": _sha256(cfg.val)}
        self.data_changed = False
        if checkpoint is not None:
            for k in ("train", "val"):
                if checkpoint.meta["data"][k] != self.data_hash[k]:
                    if not cfg.allow_changed_data:
                        raise DataError(f"the {'training' if k == 'train' else 'validation'} file "
                                        f"{getattr(cfg, k)} changed since the checkpoint was written; --resume needs "
                                        "the same data (pass --allow-changed-data to continue on the new data on "
                                        "purpose)")
                    self.data_changed = True
            self.src_vocab = ParallelVocab.from_dict(checkpoint.meta["src_vocab"])
            self.tgt_vocab = ParallelVocab.from_dict(checkpoint.meta["tgt_vocab"])
        else:
            self.src_vocab = ParallelVocab.build([s for s, _ in train_pairs], cfg.level, cfg.min_count)
            self.tgt_vocab = ParallelVocab.build([t for _, t in train_pairs], cfg.level, cfg.min_count)
        self.train_src, self.train_tgt = encode_pairs(train_pairs, self.src_vocab, self.tgt_vocab)
        self.val_src, self.val_tgt = encode_pairs(self.val_pairs, self.src_vocab, self.tgt_vocab)
        self.train_pairs = len(train_pairs)
        self.val_unknown = len(self.src_vocab.unknown(t for s, _ in self.val_pairs for t in s))
        self.eval_pairs = self.val_pairs if cfg.eval_max is None else self.val_pairs[: cfg.eval_max]
        self.batches = PairBatches(len(train_pairs), cfg.batch_size, cfg.seed)
        if self.batches.batch_size < self.comm.size:
            raise ValueError(f"a batch has {self.batches.batch_size} pairs (batch-size {cfg.batch_size}, "
                             f"{len(train_pairs)} training pairs), fewer than the number of processes "
                             f"({self.comm.size}): each process needs at least one pair")
        self.schedule = Schedule(cfg.steps, cfg.log_every, cfg.eval_every, cfg.lr, cfg.clip_norm)
        mc = model_config(cfg, len(self.src_vocab), len(self.tgt_vocab))
        if checkpoint is not None:
            check_model_config(checkpoint, mc)
            check_parameters(checkpoint.params, Seq2Seq.parameter_count(mc), mc["dtype"], checkpoint.path)
        longest = max(len(x) for x in (*self.train_src, *self.train_tgt, *self.val_src, *self.val_tgt)) + 1
        check_memory(cfg, mc, longest)
        self.model = build_model(cfg, self.src_vocab, self.tgt_vocab)
        self.optimizer = build_optimizer(cfg.optimizer, self.model, cfg.lr)
        self.loss = CrossEntropyLoss(ignore_index=PAD)

    @property
    def epoch(self) -> int:
        return self.batches.epoch

    def step(self) -> StepOutcome:
        idx = next(self.batches)
        idx = idx[self.comm.shard(len(idx))]
        b = make_batch([self.train_src[i] for i in idx], [self.train_tgt[i] for i in idx])
        logits = self.model(b["src"], b["src_lengths"], b["tgt_in"])
        loss = float(self.loss(logits.reshape(-1, len(self.tgt_vocab)), b["tgt_out"].reshape(-1)))
        self.model.zero_grad()
        self.model.backward(self.loss.backward().reshape(logits.shape))
        return StepOutcome(loss, int((b["tgt_out"] != PAD).sum()))

    def commit(self) -> None:
        """Nothing carries over from one batch to the next."""

    def evaluate(self) -> dict[str, Any]:
        self.model.eval()
        rows = self.comm.shard(len(self.val_src))
        total, count = validation_loss_sum(self.model, self.val_src[rows], self.val_tgt[rows],
                                           self.config.batch_size)
        pairs = self.eval_pairs[self.comm.shard(len(self.eval_pairs))]
        exact = 0
        if pairs:
            scores = evaluate_translator(self.model, self.src_vocab, self.tgt_vocab, pairs,
                                         batch_size=self.config.batch_size, bleu=False)
            exact = round(scores["exact_match"] * scores["examples"])
        self.model.train()
        total, count, exact = self.comm.sum([total, count, exact])
        return {"val_loss": float(total / count), "val_exact_match": float(exact / len(self.eval_pairs))}

    def sample(self) -> str:
        raise NotImplementedError("a translator's schedule has no samples")

    def generators(self) -> dict[str, np.random.Generator]:
        return generators(self.model)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        batches, arrays = self.batches.state_dict()
        meta = {"src_vocab": self.src_vocab.to_dict(), "tgt_vocab": self.tgt_vocab.to_dict(), "batches": batches,
                "data": self.data_hash}
        return meta, arrays

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """The batch order and position (checked against the data); on changed data (``allow_changed_data``)
        the order starts afresh."""
        if self.data_changed:
            return
        saved, n = meta["batches"], self.train_pairs
        if saved["n"] != n or saved["batch_size"] != self.config.batch_size:
            raise ValueError(f"batches describes {saved['n']} pairs in batches of {saved['batch_size']}, but the "
                             f"training file has {n} pairs and train_config.batch_size is {self.config.batch_size}")
        if saved["pos"] > n:
            raise ValueError(f"batches.pos must be in [0, {n}], got {saved['pos']}")
        if set(arrays) != {"batches_perm"}:
            raise ValueError(f"the task's arrays must be ['batches_perm'], got {sorted(arrays)}")
        perm = arrays["batches_perm"]
        if perm.shape != (n,) or not np.issubdtype(perm.dtype, np.integer) \
                or not np.array_equal(np.sort(perm), np.arange(n)):
            raise ValueError(f"array/batches_perm must be a permutation of the {n} training pairs")
        self.batches.load_state_dict(saved, arrays)

    def describe(self) -> dict[str, Any]:
        return {"train_pairs": self.train_pairs, "val_pairs": len(self.val_pairs),
                "src_vocab_size": len(self.src_vocab), "tgt_vocab_size": len(self.tgt_vocab),
                "val_unknown_tokens": self.val_unknown}

    def config_record(self) -> dict[str, Any]:
        return {**self.config.to_dict(), "src_vocab_size": len(self.src_vocab),
                "tgt_vocab_size": len(self.tgt_vocab)}


def train(
    cfg: Seq2SeqConfig,
    out_dir: str | Path,
    *,
    resume: bool = False,
    on_start: Callable[[dict[str, Any]], None] | None = None,
    on_log: Callable[[dict[str, Any]], None] | None = None,
    on_progress: Callable[[int, int, float], None] | None = None,
    communicator: Communicator | None = None,
) -> dict[str, Any]:
    """Train (or resume) a translator in ``out_dir``; return the final summary (``step``, ``val_loss``,
    ``val_exact_match``, ``checkpoint``).

    With ``resume=True`` the checkpoint's model and data settings (:meth:`Seq2SeqConfig.shaping`) are used
    and only the schedule (:meth:`Seq2SeqConfig.schedule`) comes from ``cfg``. Raises
    :class:`~bptt.data.DataError` for bad or changed data, :class:`~bptt.models.checkpoint.CheckpointError`
    for a bad checkpoint, ``ValueError`` for bad settings, :class:`~bptt.training.TrainingError` when the loss
    or gradients stop being finite, :class:`~bptt.training.Interrupted` after Ctrl-C (a checkpoint of the last
    finished step is saved first). ``communicator``: the processes of a data-parallel run
    (:func:`bptt.training.distributed.world`; default one process).
    """
    result = run(TranslatorTask, cfg, out_dir, resume=resume, communicator=communicator,
                 hooks=Hooks(on_start=on_start, on_log=on_log, on_progress=on_progress))
    return {"step": result.step, "val_loss": result.evaluation.get("val_loss"),
            "val_exact_match": result.evaluation.get("val_exact_match"), "checkpoint": str(result.checkpoint)}

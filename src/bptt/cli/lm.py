"""``bptt train | sample | evaluate | plot``: language models on the command line."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from ..data import DataError, read_text, split_train_val, tokenize
from ..models.checkpoint import CheckpointError
from ..models.evaluation import evaluate_loss
from ..models.io import load_language_model
from ..training.checkpoint import TrainingCheckpoint, saved_config
from ..training.communicator import Communicator
from ..training.lm import TrainConfig, load_corpus, train
from ..training.metrics import parse_record
from ..training.rundir import METRICS
from ..viz.curves import FORMATS, loss_curves
from .args import add_command, add_settings, given_settings, integer, number
from .errors import CLIError
from .outputs import MARK, check_output, write_output
from .runs import resolve_config, run_training, training_processes, validated

__all__ = ["add_commands"]

SAMPLE_CHUNK = 64  # tokens written at a time by bptt sample


def add_commands(sub: Any) -> None:
    """Register ``train``, ``sample``, ``evaluate`` and ``plot`` on the main parser's sub-commands."""
    p = add_command(sub, "train", cmd_train,
                    help="train a character- or word-level language model (default: the embedded corpus)",
                    description="Train a character- or word-level language model with truncated BPTT. Without "
                    "CORPUS it trains on the embedded corpus (the docstrings of Python's standard library: nothing "
                    "is downloaded). --out DIR receives config.json, metrics.jsonl and checkpoint.npz; it must be "
                    "new, empty or a run of this kind (a saved run is continued with --resume, never overwritten).")
    p.add_argument("corpus", nargs="?", default=None, metavar="CORPUS",
                   help=TrainConfig.settings()[0].help)
    add_settings(p, TrainConfig)
    p.add_argument("--out", default="runs/lm", metavar="DIR", help="output directory (default runs/lm)")
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --out up to --steps")

    p = add_command(sub, "sample", cmd_sample, help="generate text from a trained language model",
                    description="Generate text from a trained language model, written as it is sampled (any "
                    "--length runs in constant memory; Ctrl-C stops it).")
    p.add_argument("dir", metavar="DIR", help="training output directory (or checkpoint file)")
    p.add_argument("--length", type=integer("--length", 0), default=500, help="tokens to generate")
    p.add_argument("--temperature", type=number("--temperature", low=0, low_open=True), default=1.0,
                   help="divides the logits: below 1 surer, above 1 more varied")
    p.add_argument("--top-k", type=integer("--top-k", 1), default=None, metavar="K",
                   help="sample among the K likeliest tokens only (default: all)")
    p.add_argument("--prime", default=None, help="text to start from (default: the corpus's first token)")
    p.add_argument("--seed", type=integer("--seed", 0), default=0, help="same seed, same text")

    p = add_command(sub, "evaluate", cmd_evaluate, help="nats and bits per token and perplexity of a model on a text",
                    description="Cross-entropy of a trained language model on a text, as JSON: nats and bits per "
                    "token and perplexity. Without CORPUS: the validation split of the text the run trained on (its "
                    "last --val-fraction; the embedded corpus for a run without CORPUS), the figure training "
                    "reported.")
    p.add_argument("dir", metavar="DIR", help="training output directory (or checkpoint file)")
    p.add_argument("corpus", metavar="CORPUS", nargs="?", default=None,
                   help="UTF-8 text file, evaluated whole (default: the run's validation split)")
    p.add_argument("--unk", choices=("error", "skip"), default="error",
                   help="tokens outside the model's vocabulary: refuse the text, or leave them out (their count is "
                        "reported)")

    p = add_command(sub, "plot", cmd_plot, help="image of the training and validation loss curves (needs matplotlib)")
    p.add_argument("dir", metavar="DIR", help="training output directory (holding metrics.jsonl)")
    p.add_argument("--out", default=None, metavar="FILE",
                   help=f"image file: {', '.join('.' + f for f in FORMATS)} (default DIR/loss.png)")
    p.add_argument("--force", action="store_true", help="replace --out even if bptt did not write it")


def cmd_train(args: argparse.Namespace) -> int:
    with training_processes(args.prog) as processes:
        return _train(args, processes)


def _train(args: argparse.Namespace, processes: Communicator) -> int:
    out = Path(args.out)
    corpus = None if args.corpus is None else str(Path(args.corpus).resolve())  # resumable from anywhere

    def corpus_conflict(saved: dict[str, Any]) -> list[str]:
        if args.corpus is None or saved.get("corpus") == corpus:
            return []
        return [f"CORPUS {args.corpus} (checkpoint has {saved.get('corpus') or 'the default corpus'})"]

    settings = resolve_config(TrainConfig, out, given_settings(args, TrainConfig), args.resume, corpus_conflict)
    if not args.resume:
        settings["corpus"] = corpus
    elif args.steps is not None or args.epochs is not None:  # --resume alone continues to the checkpoint's target
        settings.update(steps=args.steps, epochs=args.epochs)
    cfg = validated(TrainConfig, settings)

    def start_lines(info: dict[str, Any]) -> list[str]:
        return [f"corpus: {info['corpus']} ({info['train_tokens']} training + {info['val_tokens']} validation "
                f"tokens, vocabulary {info['vocab_size']})",
                f"model: {cfg.model} {cfg.num_layers}x{cfg.hidden_size}, {info['parameters']:,} parameters; "
                f"steps {info['step']} -> {info['total_steps']}; out {out}"]

    def log_line(rec: dict[str, Any]) -> str:
        msg = (f"step {rec['step']}: train {rec['train_loss']:.4f} nats/token, grad norm {rec['grad_norm']:.3g}, "
               f"{rec['tokens_per_s'] or 0:,.0f} tokens/s")
        if "val_loss" in rec:
            msg += f", val {rec['val_loss']:.4f} nats ({rec['val_bits_per_token']:.4f} bits)/token"
        return msg

    def final_line(summary: dict[str, Any]) -> str:
        return (f"final validation loss: {summary['val_loss']:.4f} nats/token = {summary['val_bits_per_token']:.4f} "
                f"bits/token (perplexity {summary['val_perplexity']:.3f}) at step {summary['step']}")

    return run_training(train, cfg, out, resume=args.resume, start_lines=start_lines, log_line=log_line,
                        final_line=final_line, samples=True, processes=processes)


def _load(path: str) -> Any:
    try:
        return load_language_model(path)
    except CheckpointError as exc:
        raise CLIError(str(exc)) from None


def cmd_sample(args: argparse.Namespace) -> int:
    model, vocab, meta = _load(args.dir)
    prime_text = meta.get("default_prime", vocab.itos[0]) if args.prime is None else args.prime
    if prime_text == "":
        raise CLIError("--prime must not be empty")
    try:
        prime = vocab.encode(prime_text)
    except DataError as exc:
        raise CLIError(f"--prime: {exc}") from None
    if len(prime) == 0:
        raise CLIError("--prime has no tokens at this model's level")
    sep = "" if vocab.level == "char" else " "
    out = sys.stdout
    out.write(prime_text)
    tokens = model.sample(prime, temperature=args.temperature, top_k=args.top_k, rng=args.seed)
    try:
        written = 0
        while written < args.length:  # in chunks, flushed: constant memory, text appears as it is made
            n = min(SAMPLE_CHUNK, args.length - written)
            chunk = [next(tokens) for _ in range(n)]
            out.write(sep + vocab.decode(chunk))
            out.flush()
            written += n
    except FloatingPointError as exc:
        raise CLIError(f"{args.dir}: {exc}") from None
    finally:
        tokens.close()
    out.write("\n")
    return 0


def _saved_run(meta: dict[str, Any], path: str) -> TrainConfig:
    """The validated training configuration of a checkpoint's ``meta``."""
    try:
        return saved_config(TrainingCheckpoint(Path(path), meta, {}, {}), TrainConfig)
    except CheckpointError as exc:
        raise CLIError(str(exc)) from None


def cmd_evaluate(args: argparse.Namespace) -> int:
    model, vocab, meta = _load(args.dir)
    cfg = _saved_run(meta, args.dir)
    if args.corpus is None:
        what = f"the validation split of {cfg.corpus or 'the embedded default corpus'}"
        try:
            text = load_corpus(cfg.corpus)
        except DataError as exc:
            raise CLIError(f"{exc} (the run's corpus; pass CORPUS to evaluate another text)") from None
    else:
        what = args.corpus
        text = read_text(args.corpus)
    all_tokens = tokenize(text, vocab.level)
    try:
        ids = vocab.encode(all_tokens, unk=args.unk)
    except DataError as exc:
        raise CLIError(f"{what}: {exc} (pass --unk skip to leave them out)") from None
    skipped = len(all_tokens) - len(ids)
    if args.corpus is None:
        ids = split_train_val(ids, cfg.val_fraction)[1]
    if len(ids) < 2:
        raise CLIError(f"{what}: too little text to evaluate ({len(ids)} tokens)")
    nats = evaluate_loss(model, ids, cfg.batch_size, cfg.seq_length)
    if not math.isfinite(nats):
        raise CLIError(f"the model's loss on {what} is not finite ({nats}): the model is damaged or diverged")
    result = {"text": what, "tokens": int(len(ids)), "skipped_tokens": skipped, "nats_per_token": nats,
              "bits_per_token": nats / math.log(2), "perplexity": math.exp(nats) if nats < 709.0 else None}
    print(json.dumps(result, allow_nan=False))
    return 0


def read_metrics(directory: str) -> tuple[Path, list[dict[str, Any]]]:
    """The records of ``DIR/metrics.jsonl``, each checked (``step`` a non-negative integer, ``train_loss`` a
    finite number, ``val_loss`` one when present); a line that is not such a record is a :class:`CLIError`
    naming it, except an unfinished last line (a run killed while writing it)."""
    d = Path(directory)
    if not d.exists():
        raise CLIError(f"{d} does not exist")
    if not d.is_dir():
        raise CLIError(f"{d} is a file; give the training output directory (the one holding {METRICS})")
    path = d / METRICS
    if not path.exists():
        raise CLIError(f"no {METRICS} in {d} (is it a training output directory?)")
    if path.is_dir():
        raise CLIError(f"{path} is a directory, not a metrics file")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CLIError(f"{path} is not UTF-8 text (byte {exc.start}); it is not a metrics file bptt wrote") from None
    lines = text.split("\n")
    unfinished = lines.pop()  # "" when the file ends with a newline; else a record cut short
    records = []
    for lineno, line in enumerate(lines, 1):
        record = parse_record(line)
        problem = _record_problem(record)
        if problem:
            raise CLIError(f"{path}, line {lineno}: {problem}; it is not a metrics file bptt wrote")
        records.append(record)
    if unfinished.strip() and not _record_problem(parse_record(unfinished)):
        records.append(parse_record(unfinished))
    if not records:
        raise CLIError(f"{path} holds no metrics records yet")
    return path, records


def _record_problem(record: Any) -> str | None:
    if record is None:
        return "not a JSON object"
    step = record.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        return f"step must be a non-negative integer, got {step!r}"
    for key in ("train_loss", "val_loss"):
        if key == "train_loss" or key in record:
            v = record.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                return f"{key} must be a finite number, got {v!r}"
    return None


def cmd_plot(args: argparse.Namespace) -> int:
    suffixes = tuple("." + f for f in FORMATS)
    path, records = read_metrics(args.dir)
    out = Path(args.out) if args.out else path.parent / "loss.png"
    check_output(out, "--out", force=args.force, suffixes=suffixes)
    fmt = out.suffix.lower().lstrip(".")
    metadata = {"Software": MARK} if fmt == "png" else {"Creator": MARK}
    try:
        image = loss_curves(records, f"bptt: {path.parent.resolve().name}", fmt, metadata)
    except ImportError:
        raise CLIError("bptt plot needs matplotlib: pip install 'bptt[plot]'") from None
    write_output(out, image)
    print(f"wrote {out}")
    return 0

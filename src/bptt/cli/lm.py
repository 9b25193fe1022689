"""``bptt train | sample | evaluate | plot``: language models on the command line."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from ..data import DataError, read_text
from ..models.checkpoint import CheckpointError
from ..models.evaluation import evaluate_loss
from ..models.io import load_language_model
from ..training.communicator import Communicator
from ..training.lm import TrainConfig, train
from ..training.rundir import RunDirectory
from ..viz.curves import plot_loss_curves
from .args import add_command, add_settings, given_settings, integer, number
from .errors import CLIError
from .runs import resolve_config, run_training, training_processes, validated

__all__ = ["add_commands"]


def add_commands(sub: Any) -> None:
    """Register ``train``, ``sample``, ``evaluate`` and ``plot`` on the main parser's sub-commands."""
    p = add_command(sub, "train", cmd_train,
                    help="train a character- or word-level language model (default: embedded corpus)")
    p.add_argument("corpus", nargs="?", default=None, metavar="CORPUS",
                   help=TrainConfig.settings()[0].help)
    add_settings(p, TrainConfig)
    p.add_argument("--out", default="runs/lm", help="output directory (default runs/lm)")
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --out up to --steps")

    p = add_command(sub, "sample", cmd_sample, help="generate text from a trained language model")
    p.add_argument("dir", metavar="DIR", help="training output directory (or checkpoint file)")
    p.add_argument("--length", type=integer("--length", 0), default=500, help="tokens to generate (default 500)")
    p.add_argument("--temperature", type=number("--temperature", low=0, low_open=True), default=1.0,
                   help="divides the logits: below 1 surer, above 1 more varied (default 1)")
    p.add_argument("--top-k", type=integer("--top-k", 1), default=None,
                   help="sample among the k likeliest tokens only (default: all)")
    p.add_argument("--prime", default=None, help="text to start from (default: the corpus's first token)")
    p.add_argument("--seed", type=integer("--seed", 0), default=0, help="same seed, same text (default 0)")

    p = add_command(sub, "evaluate", cmd_evaluate, help="nats and bits per token and perplexity of a model on a text")
    p.add_argument("dir", metavar="DIR", help="training output directory (or checkpoint file)")
    p.add_argument("corpus", metavar="CORPUS", help="UTF-8 text file")

    p = add_command(sub, "plot", cmd_plot, help="PNG of the training and validation loss curves (needs matplotlib)")
    p.add_argument("dir", metavar="DIR", help="training output directory")
    p.add_argument("--out", default=None, help="PNG path (default DIR/loss.png)")


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
    out = model.generate(prime, args.length, temperature=args.temperature, top_k=args.top_k, rng=args.seed)
    sep = "" if vocab.level == "char" else " "
    print(prime_text + (sep if len(out) else "") + vocab.decode(out))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    model, vocab, meta = _load(args.dir)
    try:
        text = read_text(args.corpus)
        ids = vocab.encode(text)
    except DataError as exc:
        raise CLIError(str(exc)) from None
    if len(ids) < 2:
        raise CLIError(f"{args.corpus}: too little text to evaluate ({len(ids)} tokens)")
    cfg = TrainConfig.from_dict(meta.get("train_config") or {})
    nats = evaluate_loss(model, ids, cfg.batch_size, cfg.seq_length)
    result = {"tokens": int(len(ids)), "nats_per_token": nats, "bits_per_token": nats / math.log(2),
              "perplexity": math.exp(nats) if nats < 709.0 else None}  # None (JSON null): overflows a float
    print(json.dumps(result))
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    run_dir = RunDirectory(args.dir)
    if not run_dir.metrics_path.exists():
        raise CLIError(f"no metrics.jsonl in {args.dir} (is it a training output directory?)")
    records = run_dir.read_metrics()
    if not records:
        raise CLIError(f"{run_dir.metrics_path} holds no metrics records")
    out = Path(args.out) if args.out else run_dir.path / "loss.png"
    try:
        plot_loss_curves(records, f"bptt: {run_dir.path.name}", out)
    except ImportError:
        raise CLIError("bptt plot needs matplotlib: pip install 'bptt[plot]'") from None
    print(f"wrote {out}")
    return 0

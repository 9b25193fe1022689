"""The ``bptt`` command line (also ``python -m bptt``).

Every command validates its arguments and reports bad input as one clear line on stderr with a non-zero
exit code (no traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__


class CLIError(Exception):
    """A user-facing error: printed as one line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (``bptt CMD: error: ... (see --help)``), exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _cmd_gradcheck(args: argparse.Namespace) -> int:
    import numpy as np

    from . import functional as F
    from .gradcheck import check_function

    rng = np.random.default_rng(args.seed)
    T, B, D, H = args.steps, args.batch, args.input_size, args.hidden_size
    r = rng.standard_normal

    def lstm_args() -> list:
        return [r((T, B, D)), r((B, H)), r((B, H)), r((4 * H, D)), r((4 * H, H)), r(4 * H), r(4 * H)]

    def gru_args() -> list:
        return [r((T, B, D)), r((B, H)), r((3 * H, D)), r((3 * H, H)), r(3 * H), r(3 * H)]

    def rnn_args() -> list:
        return [r((T, B, D)), r((B, H)), r((H, D)), r((H, H)), r(H), r(H)]

    cases = [
        ("linear", F.linear, [r((B, D)), r((H, D)), r(H)], {}, ["x", "W", "b"]),
        ("embedding", F.embedding, [rng.integers(0, D, (T, B)), r((D, H))], {}, ["ids", "E"]),
        ("dropout", _SeededDropout, [r((B, D))], {"p": 0.3}, ["x"]),
        ("sigmoid", F.sigmoid, [r((B, D)) * 4], {}, ["x"]),
        ("tanh", F.tanh, [r((B, D))], {}, ["x"]),
        ("relu", F.relu, [r((B, D)) + 0.05], {}, ["x"]),
        ("softmax", F.softmax, [r((B, D))], {}, ["x"]),
        ("log_softmax", F.log_softmax, [r((B, D))], {}, ["x"]),
        ("cross_entropy", F.cross_entropy, [r((B, D)), rng.integers(0, D, B)], {}, ["logits", "target"]),
        ("lstm", F.lstm, lstm_args(), {"forget_bias": 1.0}, ["x", "h0", "c0", "W_ih", "W_hh", "b_ih", "b_hh"]),
        ("lstm (reverse)", F.lstm, lstm_args(), {"reverse": True}, ["x", "h0", "c0", "W_ih", "W_hh", "b_ih", "b_hh"]),
        ("gru", F.gru, gru_args(), {}, ["x", "h0", "W_ih", "W_hh", "b_ih", "b_hh"]),
        ("rnn (tanh)", F.rnn, rnn_args(), {}, ["x", "h0", "W_ih", "W_hh", "b_ih", "b_hh"]),
        ("rnn (relu)", F.rnn, rnn_args(), {"nonlinearity": "relu"}, ["x", "h0", "W_ih", "W_hh", "b_ih", "b_hh"]),
    ]
    failed = 0
    for name, op, inputs, kwargs, names in cases:
        report = check_function(op.forward, op.backward, inputs, kwargs=kwargs, names=names, raise_on_failure=False)
        worst = max((e[1] for e in report.errors.values()), default=0.0)
        status = "ok" if report.ok else "FAILED"
        print(f"{name:<16} {status:<6} worst relative error {worst:.2e}")
        if args.verbose or not report.ok:
            print("  " + str(report).replace("\n", "\n  "))
        failed += not report.ok
    print(f"{len(cases) - failed} passed, {failed} failed")
    return 1 if failed else 0


class _SeededDropout:
    """Dropout with a fixed mask (a fresh generator with the same seed on every call)."""

    @staticmethod
    def forward(x, p):  # type: ignore[no-untyped-def]
        import numpy as np

        from . import functional as F

        return F.dropout.forward(x, p, np.random.default_rng(1234), True)

    @staticmethod
    def backward(dy, cache):  # type: ignore[no-untyped-def]
        from . import functional as F

        return F.dropout.backward(dy, cache)


def _cmd_example(args: argparse.Namespace) -> int:
    from .examples import belling_the_cat

    argv = ["--variant", args.variant, "--steps", str(args.steps)]
    if args.text:
        argv += ["--text", args.text]
    return belling_the_cat.main(argv)


# ---------------------------------------------------------------------------------------------- language models
_TRAIN_DEFAULTS = {
    "level": "char", "model": "lstm", "hidden_size": 256, "num_layers": 2, "embedding_dim": None,
    "dropout": 0.0, "seq_length": 64, "batch_size": 32, "optimizer": "adam", "lr": 2e-3, "clip_norm": 5.0,
    "val_fraction": 0.05, "eval_every": 200, "sample_every": 500, "sample_length": 200, "log_every": 10,
    "seed": 0, "dtype": "float32",
}


class Progress:
    """A tqdm bar on stderr for a training command (when tqdm is installed and stderr is a terminal), or
    nothing: then ``write`` prints plain lines. ``verbose`` tells whether every log record should be shown."""

    def __init__(self) -> None:
        self.bar = None

    def start(self, total: int, initial: int) -> None:
        try:
            from tqdm import tqdm
        except ImportError:
            return
        bar = tqdm(total=total, initial=initial, unit="step", dynamic_ncols=True, file=sys.stderr,
                   disable=None, mininterval=0.5)
        if bar.disable:  # not a terminal: plain log lines instead
            bar.close()
            return
        self.bar = bar

    @property
    def verbose(self) -> bool:
        return self.bar is None

    def step(self, step: int, total: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.3f}", refresh=False)

    def write(self, msg: str) -> None:
        (self.bar.write if self.bar is not None else print)(msg)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _cmd_train(args: argparse.Namespace) -> int:
    from .data import DataError
    from .models import checkpoint as ckpt
    from .models.train import Interrupted, TrainConfig, TrainingError, train

    given = {k: getattr(args, k) for k in _TRAIN_DEFAULTS if getattr(args, k) is not None}
    out = Path(args.out)
    if args.resume:
        try:
            meta, _, _ = ckpt.load(out, kind="language_model")
        except ckpt.CheckpointError as exc:
            raise CLIError(f"cannot resume: {exc}") from None
        saved = meta.get("train_config")
        if not isinstance(saved, dict):
            raise CLIError(f"cannot resume: the checkpoint in {out} is incomplete (no train_config)")
        conflicts = [
            f"--{k.replace('_', '-')} {v} (checkpoint has {saved.get(k)})"
            for k, v in given.items() if k in TrainConfig.SHAPING and saved.get(k) != v
        ]
        if args.corpus is not None and saved.get("corpus") != str(Path(args.corpus).resolve()):
            conflicts.append(f"CORPUS {args.corpus} (checkpoint has {saved.get('corpus') or 'the default corpus'})")
        if conflicts:
            raise CLIError("--resume continues the run in the checkpoint; these settings conflict with it: "
                           + "; ".join(conflicts))
        cfg_dict = {**saved, **{k: v for k, v in given.items() if k not in TrainConfig.SHAPING}}
    else:
        if (out / ckpt.FILENAME).exists():
            raise CLIError(f"{out} already holds a checkpoint; pass --resume to continue it or choose another --out")
        corpus = None if args.corpus is None else str(Path(args.corpus).resolve())  # resumable from anywhere
        cfg_dict = {**_TRAIN_DEFAULTS, **given, "corpus": corpus}
    if not args.resume or args.steps is not None or args.epochs is not None:
        cfg_dict["steps"] = args.steps  # --resume alone continues to the checkpoint's own target
        cfg_dict["epochs"] = args.epochs
    cfg = TrainConfig.from_dict(cfg_dict)
    try:
        cfg.validate()
    except ValueError as exc:
        raise CLIError(str(exc)) from None

    progress = Progress()

    def on_start(info: dict) -> None:
        print(f"corpus: {info['corpus']} ({info['train_tokens']} training + {info['val_tokens']} validation "
              f"tokens, vocabulary {info['vocab_size']})")
        print(f"model: {cfg.model} {cfg.num_layers}x{cfg.hidden_size}, {info['parameters']:,} parameters; "
              f"steps {info['step']} -> {info['total_steps']}; out {out}")
        sys.stdout.flush()
        progress.start(info["total_steps"], info["step"])

    def on_log(rec: dict) -> None:
        if "val_loss" in rec or progress.verbose:
            msg = (f"step {rec['step']}: train {rec['train_loss']:.4f} nats/token, grad norm {rec['grad_norm']:.3g}, "
                   f"{rec['tokens_per_s'] or 0:,.0f} tokens/s")
            if "val_loss" in rec:
                msg += f", val {rec['val_loss']:.4f} nats ({rec['val_bits_per_token']:.4f} bits)/token"
            progress.write(msg)

    def on_sample(step: int, text: str) -> None:
        progress.write(f"--- sample at step {step} ---\n{text}\n---")

    try:
        summary = train(cfg, out, resume=args.resume, on_log=on_log, on_sample=on_sample,
                        on_progress=progress.step, on_start=on_start)
    except Interrupted as exc:
        progress.close()
        print(f"bptt train: {exc}; continue with --resume", file=sys.stderr)
        return 130
    except (DataError, ckpt.CheckpointError, TrainingError, ValueError) as exc:
        progress.close()
        raise CLIError(str(exc)) from None
    progress.close()
    vl = summary["val_loss"]
    print(f"final validation loss: {vl:.4f} nats/token = {summary['val_bits_per_token']:.4f} bits/token "
          f"(perplexity {summary['val_perplexity']:.3f}) at step {summary['step']}")
    print(f"checkpoint: {summary['checkpoint']}")
    return 0


def _load_lm(path: str):  # type: ignore[no-untyped-def]
    from .models import checkpoint as ckpt
    from .models.train import load_model

    try:
        return load_model(path)
    except ckpt.CheckpointError as exc:
        raise CLIError(str(exc)) from None


def _cmd_sample(args: argparse.Namespace) -> int:
    from .data import DataError

    model, vocab, meta = _load_lm(args.dir)
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


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import json
    import math

    from .data import DataError, read_text
    from .models.train import evaluate_loss

    model, vocab, meta = _load_lm(args.dir)
    try:
        text = read_text(args.corpus)
        ids = vocab.encode(text)
    except DataError as exc:
        raise CLIError(str(exc)) from None
    if len(ids) < 2:
        raise CLIError(f"{args.corpus}: too little text to evaluate ({len(ids)} tokens)")
    cfg = meta["train_config_obj"]
    nats = evaluate_loss(model, ids, cfg.batch_size, cfg.seq_length)
    result = {"tokens": int(len(ids)), "nats_per_token": nats, "bits_per_token": nats / math.log(2),
              "perplexity": math.exp(nats) if nats < 709.0 else None}  # None (JSON null): overflows a float
    print(json.dumps(result))
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    import json

    try:
        import matplotlib
    except ImportError:
        raise CLIError("bptt plot needs matplotlib: pip install 'bptt[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = Path(args.dir)
    mpath = d / "metrics.jsonl"
    if not mpath.exists():
        raise CLIError(f"no metrics.jsonl in {d} (is it a training output directory?)")
    recs = []
    for line in mpath.read_text(encoding="utf-8").splitlines():
        try:
            recs.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    if not recs:
        raise CLIError(f"{mpath} holds no metrics records")
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot([r["step"] for r in recs], [r["train_loss"] for r in recs], label="training", lw=1)
    val = [r for r in recs if "val_loss" in r]
    if val:
        ax.plot([r["step"] for r in val], [r["val_loss"] for r in val], "o-", label="validation", lw=1.5)
    ax.set_xlabel("step")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_title(f"bptt: {d.name}")
    ax.grid(alpha=0.3)
    ax.legend()
    out = Path(args.out) if args.out else d / "loss.png"
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    print(f"wrote {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="bptt",
        description="Recurrent neural networks from first principles in NumPy.",
    )
    parser.add_argument("--version", action="version", version=f"bptt {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands", parser_class=_Parser)

    p = sub.add_parser("train", help="train a character- or word-level language model (default: embedded corpus)")
    p.add_argument("corpus", nargs="?", default=None, metavar="CORPUS",
                   help="UTF-8 text file (default: the docstrings of Python's standard library)")
    p.add_argument("--level", choices=["char", "word"], default=None, help="tokens (default char)")
    p.add_argument("--model", choices=["lstm", "gru", "rnn", "lnlstm"], default=None, help="cell (default lstm)")
    p.add_argument("--hidden-size", type=_int_arg("--hidden-size"), default=None, help="default 256")
    p.add_argument("--num-layers", type=_int_arg("--num-layers"), default=None, help="default 2")
    p.add_argument("--embedding-dim", type=_int_arg("--embedding-dim"), default=None,
                   help="embedding size (default: one-hot for char, 128 for word)")
    p.add_argument("--dropout", type=float, default=None, help="dropout between layers (default 0)")
    p.add_argument("--seq-length", type=_int_arg("--seq-length"), default=None, help="TBPTT chunk (default 64)")
    p.add_argument("--batch-size", type=_int_arg("--batch-size"), default=None, help="streams (default 32)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--steps", type=_int_arg("--steps"), default=None, help="total optimizer steps")
    g.add_argument("--epochs", type=float, default=None, help="passes over the training text (default 1)")
    p.add_argument("--optimizer", choices=["adam", "rmsprop", "sgd", "adagrad"], default=None)
    p.add_argument("--lr", type=float, default=None, help="learning rate (default 2e-3)")
    p.add_argument("--clip-norm", type=float, default=None, help="max gradient norm (default 5)")
    p.add_argument("--val-fraction", type=float, default=None, help="last fraction held out (default 0.05)")
    p.add_argument("--eval-every", type=_int_arg("--eval-every"), default=None, help="default 200")
    p.add_argument("--sample-every", type=_int_arg("--sample-every"), default=None, help="default 500")
    p.add_argument("--sample-length", type=_int_arg("--sample-length"), default=None, help="default 200")
    p.add_argument("--log-every", type=_int_arg("--log-every"), default=None, help="default 10")
    p.add_argument("--seed", type=int, default=None, help="default 0")
    p.add_argument("--dtype", choices=["float32", "float64"], default=None)
    p.add_argument("--out", default="runs/lm", help="output directory (default runs/lm)")
    p.add_argument("--resume", action="store_true", help="continue the checkpoint in --out up to --steps")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("sample", help="generate text from a trained language model")
    p.add_argument("dir", metavar="DIR", help="training output directory (or checkpoint file)")
    p.add_argument("--length", type=_int_arg("--length", allow_zero=True), default=500)
    p.add_argument("--temperature", type=_positive_float("--temperature"), default=1.0)
    p.add_argument("--top-k", type=_int_arg("--top-k"), default=None)
    p.add_argument("--prime", default=None, help="text to start from (default: the corpus's first token)")
    p.add_argument("--seed", type=int, default=0, help="same seed, same text (default 0)")
    p.set_defaults(func=_cmd_sample)

    p = sub.add_parser("evaluate", help="nats and bits per token and perplexity of a model on a text")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("corpus", metavar="CORPUS")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("plot", help="PNG of the training and validation loss curves (needs matplotlib)")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--out", default=None, help="PNG path (default DIR/loss.png)")
    p.set_defaults(func=_cmd_plot)

    from . import cli_explain, cli_translate

    cli_explain.add_parser(sub)
    cli_translate.add_parser(sub)

    p = sub.add_parser("gradcheck", help="check every hand-derived backward pass against finite differences")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=_positive_int, default=4, help="sequence length T (default 4)")
    p.add_argument("--batch", type=_positive_int, default=2)
    p.add_argument("--input-size", type=_positive_int, default=3)
    p.add_argument("--hidden-size", type=_positive_int, default=4)
    p.add_argument("-v", "--verbose", action="store_true", help="print the per-argument errors")
    p.set_defaults(func=_cmd_gradcheck)

    p = sub.add_parser(
        "belling-the-cat", help="seed 000's word-level LSTM experiment (one loss line per step)"
    )
    p.add_argument("--variant", choices=["uni", "initstate", "multi", "bi", "bimulti"], default="uni")
    p.add_argument("--steps", type=_positive_int, default=200)
    p.add_argument("--text", default=None, help="a UTF-8 text file instead of the built-in sentence")
    p.set_defaults(func=_cmd_example)
    return parser


def _int_arg(flag: str, allow_zero: bool = False):  # type: ignore[no-untyped-def]
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be an integer, got {s!r}") from None
        if v < 0 or (v == 0 and not allow_zero):
            raise argparse.ArgumentTypeError(f"{flag} must be {'>= 0' if allow_zero else '> 0'}, got {v}")
        return v

    return parse


def _positive_float(flag: str):  # type: ignore[no-untyped-def]
    def parse(s: str) -> float:
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be a number, got {s!r}") from None
        if not v > 0 or v == float("inf"):
            raise argparse.ArgumentTypeError(f"{flag} must be > 0, got {s}")
        return v

    return parse


def _positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"bptt {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"bptt {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

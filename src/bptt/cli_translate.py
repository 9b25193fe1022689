"""``bptt translate``: sequence-to-sequence translation with attention on the command line.

Sub-commands::

    bptt translate dates DIR                      # write the built-in dates task (train/val/test .tsv)
    bptt translate train --train FILE --val FILE --out DIR [--attention luong|scaled_luong|bahdanau|
                         normed_bahdanau|none] [--encoder uni|bi] [--num-layers N] [--hidden-size H]
                         [--embedding-size E] [--steps N] [--batch-size B] [--lr LR] [--seed S] [--resume]
    bptt translate eval DIR --file FILE [--beam K]        # JSON with exact_match and bleu
    bptt translate run DIR "source text" [--beam K]        # "-" reads one source per line from stdin
    bptt translate attention DIR "source text" [--out FILE.png|FILE.html]

Files are ``source<TAB>target`` per line, space-separated tokens (``--level char``: characters). Every bad
input is reported as one line on stderr with a non-zero exit code. ``add_parser(subparsers)`` registers the
command on the main ``bptt`` parser; ``python -m bptt.cli_translate ...`` runs it on its own.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_CHOICES = {
    "level": ("word", "char"),
    "cell": ("lstm", "gru", "lnlstm"),
    "encoder": ("uni", "bi"),
    "attention": ("luong", "scaled_luong", "bahdanau", "normed_bahdanau", "none"),
    "optimizer": ("adam", "rmsprop", "sgd", "adagrad"),
    "dtype": ("float32", "float64"),
}
# flags of `translate train` that map onto Seq2SeqConfig fields (None: not given)
_TRAIN_FIELDS = ("level", "min_count", "cell", "encoder", "attention", "attention_tanh", "num_layers",
                 "hidden_size", "embedding_size", "batch_size", "steps", "optimizer", "lr", "clip_norm",
                 "eval_every", "log_every", "eval_max", "seed", "dtype")


def _error(message: str) -> Exception:
    from .cli import CLIError  # noqa: PLC0415 - cli imports this module

    return CLIError(message)


# ------------------------------------------------------------------------------------------- argument types
def _int_arg(flag: str, low: int = 1, high: int | None = None):  # type: ignore[no-untyped-def]
    def parse(s: str) -> int:
        try:
            v = int(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be an integer, got {s!r}") from None
        if v < low or (high is not None and v > high):
            want = f"in [{low}, {high}]" if high is not None else (f">= {low}" if low != 1 else "> 0")
            raise argparse.ArgumentTypeError(f"{flag} must be {want}, got {v}")
        return v

    return parse


def _float_arg(flag: str, allow_zero: bool = False):  # type: ignore[no-untyped-def]
    def parse(s: str) -> float:
        try:
            v = float(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{flag} must be a number, got {s!r}") from None
        if v != v or v in (float("inf"), float("-inf")) or v < 0 or (v == 0 and not allow_zero):
            raise argparse.ArgumentTypeError(f"{flag} must be {'>= 0' if allow_zero else '> 0'}, got {s}")
        return v

    return parse


# ---------------------------------------------------------------------------------------------- parser
def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``translate`` and its sub-commands on ``subparsers`` (the main parser's)."""
    p = subparsers.add_parser("translate", help="sequence-to-sequence translation with attention "
                              "(dates, train, eval, run, attention)",
                              description="Sequence-to-sequence translation with attention (TensorFlow NMT's "
                              "architecture), every gradient derived by hand.")
    sub = p.add_subparsers(dest="translate_command", metavar="COMMAND", title="commands",
                           parser_class=type(p))
    p.set_defaults(func=_cmd_none)

    q = sub.add_parser("dates", help="write the built-in dates task (dates_{train,val,test}.tsv) into DIR")
    q.add_argument("dir", metavar="DIR")
    q.add_argument("--train-size", type=_int_arg("--train-size"), default=20000, help="default 20000")
    q.add_argument("--val-size", type=_int_arg("--val-size"), default=1000, help="default 1000")
    q.add_argument("--test-size", type=_int_arg("--test-size"), default=1000, help="default 1000")
    q.add_argument("--seed", type=_int_arg("--seed", 0), default=0)
    q.set_defaults(func=_cmd_dates)

    q = sub.add_parser("train", help="train a translator on source<TAB>target files")
    q.add_argument("--train", default=None, metavar="FILE",
                   help="training pairs (the vocabularies are built from it)")
    q.add_argument("--val", default=None, metavar="FILE", help="validation pairs (loss and exact match)")
    q.add_argument("--out", required=True, metavar="DIR", help="output directory (checkpoint, metrics)")
    q.add_argument("--resume", action="store_true", help="continue the checkpoint in --out up to --steps")
    q.add_argument("--level", choices=_CHOICES["level"], default=None,
                   help="tokens: words (default) or characters")
    q.add_argument("--min-count", type=_int_arg("--min-count"), default=None,
                   help="rarer training tokens become <unk> (default 1)")
    q.add_argument("--cell", choices=_CHOICES["cell"], default=None, help="default lstm")
    q.add_argument("--encoder", choices=_CHOICES["encoder"], default=None, help="default uni")
    q.add_argument("--attention", choices=_CHOICES["attention"], default=None, help="default luong")
    q.add_argument("--attention-tanh", action="store_const", const=True, default=None,
                   help="tanh on the attention layer (Luong's paper)")
    q.add_argument("--num-layers", type=_int_arg("--num-layers", 1, 4), default=None, help="1-4 (default 1)")
    q.add_argument("--hidden-size", type=_int_arg("--hidden-size"), default=None, help="default 64")
    q.add_argument("--embedding-size", type=_int_arg("--embedding-size"), default=None, help="default 32")
    q.add_argument("--steps", type=_int_arg("--steps"), default=None,
                   help="total optimizer steps (default 2000)")
    q.add_argument("--batch-size", type=_int_arg("--batch-size"), default=None, help="default 64")
    q.add_argument("--optimizer", choices=_CHOICES["optimizer"], default=None, help="default adam")
    q.add_argument("--lr", type=_float_arg("--lr"), default=None, help="default 2e-3")
    q.add_argument("--clip-norm", type=_float_arg("--clip-norm"), default=None, help="default 5")
    q.add_argument("--eval-every", type=_int_arg("--eval-every"), default=None, help="default 200")
    q.add_argument("--log-every", type=_int_arg("--log-every"), default=None, help="default 50")
    q.add_argument("--eval-max", type=_int_arg("--eval-max"), default=None,
                   help="validation pairs decoded for exact match during training (default all)")
    q.add_argument("--seed", type=_int_arg("--seed", 0), default=None, help="default 0")
    q.add_argument("--dtype", choices=_CHOICES["dtype"], default=None, help="default float32")
    q.set_defaults(func=_cmd_train)

    q = sub.add_parser("eval", help="exact match and BLEU of a trained translator on a file (JSON)")
    q.add_argument("dir", metavar="DIR", help="training output directory (or checkpoint file)")
    q.add_argument("--file", required=True, metavar="FILE", help="source<TAB>reference pairs")
    _decoding_args(q)
    q.add_argument("--batch-size", type=_int_arg("--batch-size"), default=64)
    q.set_defaults(func=_cmd_eval)

    q = sub.add_parser("run", help="translate a sentence ('-': one per line from stdin)")
    q.add_argument("dir", metavar="DIR")
    q.add_argument("text", metavar="TEXT")
    _decoding_args(q)
    q.add_argument("--scores", action="store_true", help="also print the sum of log-probabilities")
    q.set_defaults(func=_cmd_run)

    q = sub.add_parser("attention", help="attention heatmap of one translation (PNG or HTML)")
    q.add_argument("dir", metavar="DIR")
    q.add_argument("text", metavar="TEXT")
    _decoding_args(q)
    q.add_argument("--out", default=None, metavar="FILE",
                   help="FILE.png (needs matplotlib) or FILE.html (default DIR/attention.png)")
    q.set_defaults(func=_cmd_attention)
    return p


def _decoding_args(q: argparse.ArgumentParser) -> None:
    q.add_argument("--beam", type=_int_arg("--beam"), default=1, help="beam width (default 1: greedy)")
    q.add_argument("--length-penalty", type=_float_arg("--length-penalty", allow_zero=True), default=0.0,
                   help="GNMT length penalty alpha for beam search (default 0)")
    q.add_argument("--max-length", type=_int_arg("--max-length"), default=None,
                   help="longest output (default max(10, 2 x source length))")
    q.add_argument("--unk", choices=("replace", "error"), default="replace",
                   help="source tokens outside the vocabulary: read as <unk> (default) or refuse")


# ---------------------------------------------------------------------------------------------- commands
def _cmd_none(args: argparse.Namespace) -> int:
    raise _error("choose a command: dates, train, eval, run or attention (see bptt translate --help)")


def _cmd_dates(args: argparse.Namespace) -> int:
    from .data import dates  # noqa: PLC0415

    try:
        paths = dates.write_tsv(args.dir, args.train_size, args.val_size, args.test_size, args.seed)
    except (ValueError, OSError) as exc:
        raise _error(str(exc)) from None
    for name in ("train", "val", "test"):
        print(f"wrote {paths[name]}")
    print(f"train with: bptt translate train --train {paths['train']} --val {paths['val']} --level char "
          f"--encoder bi --steps 600 --lr 5e-3 --out runs/dates")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from .cli import Progress  # noqa: PLC0415
    from .data import DataError  # noqa: PLC0415
    from .models import checkpoint as ckpt  # noqa: PLC0415
    from .models.seq2seq_train import Interrupted, Seq2SeqConfig, TrainingError, train  # noqa: PLC0415

    given = {k: getattr(args, k) for k in _TRAIN_FIELDS if getattr(args, k) is not None}
    out = Path(args.out)
    if args.resume:
        try:
            meta, _, _ = ckpt.load(out, kind="seq2seq")
        except ckpt.CheckpointError as exc:
            raise _error(f"cannot resume: {exc}") from None
        saved = meta.get("train_config")
        if saved is None:
            raise _error(f"cannot resume: the checkpoint in {out} is incomplete (no train_config)")
        if not isinstance(saved, dict):
            raise _error(f"cannot resume: the checkpoint in {out} has an invalid configuration (train_config "
                         "is not a mapping)")
        for k in ("train", "val"):
            if getattr(args, k) is not None:
                given[k] = getattr(args, k)
        conflicts = [f"--{k.replace('_', '-')} {v} (checkpoint has {saved.get(k)})"
                     for k, v in given.items() if k in Seq2SeqConfig.SHAPING and saved.get(k) != v]
        if conflicts:
            raise _error("--resume continues the run in the checkpoint; these settings conflict with it: "
                         + "; ".join(conflicts))
        cfg_dict = {**saved, **{k: v for k, v in given.items() if k not in Seq2SeqConfig.SHAPING}}
        if "steps" not in given:
            cfg_dict["steps"] = meta.get("total_steps", saved.get("steps"))
    else:
        if args.train is None or args.val is None:
            raise _error("--train FILE and --val FILE are required (or --resume)")
        if (out / ckpt.FILENAME).exists():
            raise _error(f"{out} already holds a checkpoint; pass --resume to continue it or choose another "
                         "--out")
        cfg_dict = {**Seq2SeqConfig().to_dict(), **given, "train": args.train, "val": args.val}
    cfg = Seq2SeqConfig.from_dict(cfg_dict)
    try:
        cfg.validate()
    except ValueError as exc:
        raise _error(str(exc)) from None

    progress = Progress()

    def on_start(info: dict) -> None:
        print(f"data: {info['train_pairs']} training + {info['val_pairs']} validation pairs; vocabularies "
              f"{info['src_vocab_size']} (source) and {info['tgt_vocab_size']} (target) tokens")
        if info["val_unknown_tokens"]:
            print(f"note: {info['val_unknown_tokens']} distinct validation source tokens are not in the "
                  "training vocabulary and are read as <unk>")
        print(f"model: {cfg.encoder} {cfg.cell} encoder, {cfg.num_layers}x{cfg.hidden_size}, attention "
              f"{cfg.attention}, {info['parameters']:,} parameters; steps {info['step']} -> "
              f"{info['total_steps']}; out {out}")
        sys.stdout.flush()
        progress.start(info["total_steps"], info["step"])

    def on_log(rec: dict) -> None:
        if "val_loss" in rec or progress.verbose:
            msg = f"step {rec['step']}: train loss {rec['train_loss']:.4f}, grad norm {rec['grad_norm']:.3g}"
            if "val_loss" in rec:
                em = 100 * rec["val_exact_match"]
                msg += f", val loss {rec['val_loss']:.4f}, val exact match {em:.2f}%"
            progress.write(msg)

    try:
        summary = train(cfg, out, resume=args.resume, on_start=on_start, on_log=on_log,
                        on_progress=progress.step)
    except Interrupted as exc:
        progress.close()
        print(f"bptt translate: {exc}; continue with --resume", file=sys.stderr)
        return 130
    except (DataError, ckpt.CheckpointError, TrainingError, ValueError) as exc:
        progress.close()
        raise _error(str(exc)) from None
    progress.close()
    print(f"final validation loss {summary['val_loss']:.4f} nats/token, exact match "
          f"{100 * summary['val_exact_match']:.2f}% at step {summary['step']}")
    print(f"checkpoint: {summary['checkpoint']}")
    return 0


def _load(path: str):  # type: ignore[no-untyped-def]
    from .models import checkpoint as ckpt  # noqa: PLC0415
    from .models.seq2seq_train import load_translator  # noqa: PLC0415

    try:
        return load_translator(path)
    except ckpt.CheckpointError as exc:
        raise _error(str(exc)) from None


def _encode_source(text: str, vocab: Any, unk: str, what: str = "source") -> Any:
    from .data import DataError  # noqa: PLC0415
    from .data.parallel import tokenize  # noqa: PLC0415

    tokens = tokenize(text, vocab.level)
    if not tokens:
        raise _error(f"the {what} is empty")
    try:
        ids = vocab.encode(tokens, unk=unk)
    except DataError as exc:
        raise _error(f"{what}: {exc} (pass --unk replace to read them as <unk>)") from None
    unknown = vocab.unknown(tokens)
    if unknown:
        shown = ", ".join(repr(u) for u in unknown[:5]) + (" ..." if len(unknown) > 5 else "")
        print(f"note: {len(unknown)} source token(s) not in the vocabulary, read as <unk>: {shown}",
              file=sys.stderr)
    return tokens, ids


def _decode(model: Any, ids: list, args: argparse.Namespace) -> Any:
    try:
        return model.translate(ids, beam_width=args.beam, length_penalty=args.length_penalty,
                               max_length=args.max_length)
    except ValueError as exc:
        raise _error(str(exc)) from None


def _cmd_eval(args: argparse.Namespace) -> int:
    from .data import DataError  # noqa: PLC0415
    from .data.parallel import read_tsv  # noqa: PLC0415
    from .models.seq2seq_train import evaluate  # noqa: PLC0415

    model, src_vocab, tgt_vocab, _ = _load(args.dir)
    try:
        pairs = read_tsv(args.file, src_vocab.level, "evaluation file")
    except DataError as exc:
        raise _error(str(exc)) from None
    unknown = src_vocab.unknown(t for s, _ in pairs for t in s)
    if unknown and args.unk == "error":
        shown = ", ".join(repr(u) for u in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        raise _error(f"{args.file}: {len(unknown)} source token(s) not in the vocabulary: {shown} "
                     "(pass --unk replace to read them as <unk>)")
    try:
        res = evaluate(model, src_vocab, tgt_vocab, pairs, beam_width=args.beam,
                       length_penalty=args.length_penalty, batch_size=args.batch_size,
                       max_length=args.max_length)
    except (DataError, ValueError) as exc:
        raise _error(str(exc)) from None
    out = {"file": str(args.file), "examples": res["examples"], "beam": args.beam,
           "length_penalty": args.length_penalty, "exact_match": res["exact_match"], "bleu": res["bleu"],
           "unknown_source_tokens": len(unknown)}
    if res["bleu"] is None:
        out["note"] = res["bleu_note"]
    print(json.dumps(out))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from .data.parallel import detokenize  # noqa: PLC0415

    model, src_vocab, tgt_vocab, _ = _load(args.dir)
    if args.text == "-":
        texts = [line for line in sys.stdin.read().splitlines() if line.strip()]
    else:
        texts = [args.text]
    if not texts:
        raise _error("no source text on stdin")
    ids = [_encode_source(t, src_vocab, args.unk, f"source line {i + 1}" if args.text == "-" else "source")[1]
           for i, t in enumerate(texts)]
    hyps = _decode(model, ids, args)
    for toks, score in zip(hyps.tokens, hyps.scores, strict=True):
        line = detokenize(tgt_vocab.decode(toks), tgt_vocab.level)
        print(f"{line}\t{float(score):.6f}" if args.scores else line)
    return 0


def _cmd_attention(args: argparse.Namespace) -> int:
    from .data.parallel import EOS  # noqa: PLC0415

    model, src_vocab, tgt_vocab, _ = _load(args.dir)
    if not model.has_attention:
        raise _error("this model has no attention (it was trained with --attention none)")
    tokens, ids = _encode_source(args.text, src_vocab, args.unk)
    hyps = _decode(model, [ids], args)
    out_ids = hyps.tokens[0] + ([EOS] if hyps.finished[0] else [])
    out_tokens = [tgt_vocab.itos[i] for i in out_ids]
    weights = hyps.alignments[0]
    src_tokens = [src_vocab.itos[i] for i in ids]
    if args.out:
        path = Path(args.out)
    else:
        d = Path(args.dir)
        path = (d if d.is_dir() else d.parent) / "attention.png"
    suffix = path.suffix.lower()
    if suffix == ".html":
        _write_html(path, src_tokens, out_tokens, weights, src_vocab.level)
    elif suffix == ".png":
        _write_png(path, src_tokens, out_tokens, weights, src_vocab.level)
    else:
        raise _error(f"--out must end in .png or .html, got {path.name}")
    from .data.parallel import detokenize  # noqa: PLC0415

    print(detokenize(tgt_vocab.decode(hyps.tokens[0]), tgt_vocab.level))
    print(f"wrote {path}")
    return 0


def _show(tok: str, level: str) -> str:
    return "\u2423" if level == "char" and tok == " " else tok


def _write_html(path: Path, src: list, out: list, w: Any, level: str) -> None:
    rows = []
    head = "".join(f"<th>{html.escape(_show(s, level))}</th>" for s in src)
    rows.append(f"<tr><th></th>{head}</tr>")
    for i, t in enumerate(out):
        cells = "".join(f'<td style="background: rgba(31, 119, 180, {float(w[i, j]):.3f})" '
                        f'title="{float(w[i, j]):.4f}">{float(w[i, j]):.2f}</td>' for j in range(len(src)))
        rows.append(f"<tr><th>{html.escape(_show(t, level))}</th>{cells}</tr>")
    doc = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>bptt attention</title><style>"
           "table{border-collapse:collapse;font-family:monospace}td,th{border:1px solid #ddd;padding:3px 5px;"
           "text-align:center;font-size:12px}</style></head><body>\n<p>Attention weights: one row per output "
           "token, one column per source token (rows sum to 1).</p>\n<table>\n" + "\n".join(rows)
           + "\n</table>\n</body></html>\n")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(doc, encoding="utf-8")
    except OSError as exc:
        raise _error(f"cannot write {path}: {exc.strerror or exc}") from None


def _write_png(path: Path, src: list, out: list, w: Any, level: str) -> None:
    try:
        import matplotlib  # noqa: PLC0415
    except ImportError:
        raise _error("a PNG heatmap needs matplotlib (pip install 'bptt[plot]'); or pass --out FILE.html"
                     ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * len(src) + 1.5), max(3.0, 0.35 * len(out) + 1.2)))
    ax.imshow(w, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(src)), [_show(s, level) for s in src], rotation=90 if level == "word" else 0)
    ax.set_yticks(range(len(out)), [_show(t, level) for t in out])
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    fig.tight_layout()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    except OSError as exc:
        raise _error(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


# ---------------------------------------------------------------------------------------------- standalone
def main(argv: Sequence[str] | None = None) -> int:
    """``bptt translate ...`` without the rest of the CLI: ``python -m bptt.cli_translate train ...``."""
    from .cli import CLIError, _Parser  # noqa: PLC0415

    parser = _Parser(prog="bptt")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    add_parser(sub)
    args = parser.parse_args(["translate", *(sys.argv[1:] if argv is None else argv)])
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"bptt translate: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bptt translate: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

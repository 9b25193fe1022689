"""``bptt translate``: sequence-to-sequence translation with attention on the command line.

Sub-commands::

    bptt translate dates DIR                      # write the built-in dates task (train/val/test .tsv)
    bptt translate train --train FILE --val FILE --out DIR [--attention ...] [--encoder uni|bi] [--resume] ...
    bptt translate eval DIR --file FILE [--beam K]        # JSON with exact_match and bleu
    bptt translate run DIR "source text" [--beam K]        # "-" reads one source per line from stdin
    bptt translate attention DIR "source text" [--out FILE.png|FILE.html]

Files are ``source<TAB>target`` per line, space-separated tokens (``--level char``: characters).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..data import DataError, dates
from ..data.parallel import EOS, detokenize, read_tsv, tokenize
from ..models.checkpoint import CheckpointError
from ..models.evaluation import evaluate_translator
from ..models.io import load_translator
from ..training.communicator import Communicator
from ..training.seq2seq import Seq2SeqConfig, train
from ..viz.attention import attention_html, attention_png
from .args import add_command, add_settings, given_settings, integer, number
from .errors import CLIError
from .outputs import check_output, mark_html, mark_png, write_output
from .runs import resolve_config, run_training, training_processes, validated

__all__ = ["add_commands"]


def add_commands(sub: Any) -> None:
    """Register ``translate`` and its sub-commands on the main parser's sub-commands."""
    p = add_command(sub, "translate", cmd_none,
                    help="sequence-to-sequence translation with attention (dates, train, eval, run, attention)",
                    description="Sequence-to-sequence translation with attention (TensorFlow NMT's architecture), "
                    "every gradient derived by hand.")
    tsub = p.add_subparsers(dest="translate_command", metavar="COMMAND", title="commands", parser_class=type(p))

    q = add_command(tsub, "dates", cmd_dates,
                    help="write the built-in dates task (dates_{train,val,test}.tsv) into DIR",
                    description="Write the built-in dates task into DIR (created if needed): dates written in 20 "
                    "formats and their ISO form, one source<TAB>target pair per line; the validation and test "
                    "dates never occur in the training file. Deterministic in --seed and the sizes. Existing files "
                    "with other content are refused unless --force.")
    q.add_argument("dir", metavar="DIR", help="directory of the three .tsv files")
    q.add_argument("--train-size", type=integer("--train-size", 1), default=20000, help="training pairs")
    q.add_argument("--val-size", type=integer("--val-size", 1), default=1000, help="validation pairs")
    q.add_argument("--test-size", type=integer("--test-size", 1), default=1000, help="test pairs")
    q.add_argument("--seed", type=integer("--seed", 0), default=0, help="seed of the dates, formats and order")
    q.add_argument("--force", action="store_true", help="replace existing files of other content")

    q = add_command(tsub, "train", cmd_train, help="train a translator on source<TAB>target files")
    q.add_argument("--out", required=True, metavar="DIR", help="output directory (checkpoint, metrics)")
    q.add_argument("--resume", action="store_true", help="continue the checkpoint in --out up to --steps")
    add_settings(q, Seq2SeqConfig)

    q = add_command(tsub, "eval", cmd_eval, help="exact match and BLEU of a trained translator on a file (JSON)")
    q.add_argument("dir", metavar="DIR", help="training output directory (or checkpoint file)")
    q.add_argument("--file", required=True, metavar="FILE", help="source<TAB>reference pairs")
    _decoding_args(q)
    q.add_argument("--batch-size", type=integer("--batch-size", 1), default=64, help="sentences decoded at once")

    q = add_command(tsub, "run", cmd_run, help="translate a sentence ('-': one per line from stdin)")
    q.add_argument("dir", metavar="DIR", help="training output directory (or checkpoint file)")
    q.add_argument("text", metavar="TEXT", help="the source sentence, or - to read one per line from stdin")
    _decoding_args(q)
    q.add_argument("--scores", action="store_true", help="also print the sum of log-probabilities")

    q = add_command(tsub, "attention", cmd_attention, help="attention heatmap of one translation (PNG or HTML)")
    q.add_argument("dir", metavar="DIR", help="training output directory (or checkpoint file)")
    q.add_argument("text", metavar="TEXT", help="the source sentence")
    _decoding_args(q)
    q.add_argument("--out", default=None, metavar="FILE",
                   help="FILE.png (needs matplotlib) or FILE.html (default DIR/attention.png)")
    q.add_argument("--force", action="store_true", help="replace --out even if bptt did not write it")


def _decoding_args(q: argparse.ArgumentParser) -> None:
    q.add_argument("--beam", type=integer("--beam", 1, 1000), default=1, help="beam width (default 1: greedy)")
    q.add_argument("--length-penalty", type=number("--length-penalty", low=0, high=10), default=0.0,
                   help="GNMT length penalty alpha for beam search, in [0, 10] (0.6-1 is usual; default 0: none)")
    q.add_argument("--max-length", type=integer("--max-length", 1), default=None,
                   help="longest output (default max(10, 2 x source length))")
    q.add_argument("--unk", choices=("replace", "error"), default="replace",
                   help="source tokens outside the vocabulary: read as <unk> (default) or refuse")


# ---------------------------------------------------------------------------------------------- commands
def cmd_none(args: argparse.Namespace) -> int:
    raise CLIError("choose a command: dates, train, eval, run or attention (see bptt translate --help)")


def cmd_dates(args: argparse.Namespace) -> int:
    d = Path(args.dir)
    if d.exists() and not d.is_dir():
        raise CLIError(f"{d} is a file, not a directory")
    try:
        splits = dates.generate_splits(args.train_size, args.val_size, args.test_size, args.seed)
    except ValueError as exc:
        raise CLIError(str(exc)) from None
    contents = {name: "".join(f"{src}\t{tgt}\n" for src, tgt in pairs).encode("utf-8")
                for name, pairs in splits.items()}
    paths = {name: d / f"dates_{name}.tsv" for name in contents}
    for name, p in paths.items():  # refuse before writing anything
        if p.is_dir():
            raise CLIError(f"{p} is a directory")
        if p.exists() and not args.force and p.read_bytes() != contents[name]:
            raise CLIError(f"{p} exists with other content; pass --force to replace it, or choose another DIR")
    d.mkdir(parents=True, exist_ok=True)
    for name in ("train", "val", "test"):
        write_output(paths[name], contents[name])
        print(f"wrote {paths[name]}")
    print(f"train with: bptt translate train --train {paths['train']} --val {paths['val']} --level char "
          f"--encoder bi --steps 600 --lr 5e-3 --out runs/dates")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    with training_processes(args.prog) as processes:
        return _train(args, processes)


def _train(args: argparse.Namespace, processes: Communicator) -> int:
    out = Path(args.out)
    if not args.resume and (args.train is None or args.val is None):
        raise CLIError("--train FILE and --val FILE are required (or --resume)")
    cfg = validated(Seq2SeqConfig, resolve_config(Seq2SeqConfig, out, given_settings(args, Seq2SeqConfig),
                                                  args.resume))

    def start_lines(info: dict[str, Any]) -> list[str]:
        lines = [f"data: {info['train_pairs']} training + {info['val_pairs']} validation pairs; vocabularies "
                 f"{info['src_vocab_size']} (source) and {info['tgt_vocab_size']} (target) tokens"]
        if info["val_unknown_tokens"]:
            lines.append(f"note: {info['val_unknown_tokens']} distinct validation source tokens are not in the "
                         "training vocabulary and are read as <unk>")
        lines.append(f"model: {cfg.encoder} {cfg.cell} encoder, {cfg.num_layers}x{cfg.hidden_size}, attention "
                     f"{cfg.attention}, {info['parameters']:,} parameters; steps {info['step']} -> "
                     f"{info['total_steps']}; out {out}")
        return lines

    def log_line(rec: dict[str, Any]) -> str:
        msg = f"step {rec['step']}: train loss {rec['train_loss']:.4f}, grad norm {rec['grad_norm']:.3g}"
        if "val_loss" in rec:
            msg += f", val loss {rec['val_loss']:.4f}, val exact match {100 * rec['val_exact_match']:.2f}%"
        return msg

    def final_line(summary: dict[str, Any]) -> str:
        return (f"final validation loss {summary['val_loss']:.4f} nats/token, exact match "
                f"{100 * summary['val_exact_match']:.2f}% at step {summary['step']}")

    return run_training(train, cfg, out, resume=args.resume, start_lines=start_lines, log_line=log_line,
                        final_line=final_line, processes=processes)


def _load(path: str) -> Any:
    try:
        return load_translator(path)
    except CheckpointError as exc:
        raise CLIError(str(exc)) from None


def _encode_source(text: str, vocab: Any, unk: str, what: str = "source") -> Any:
    tokens = tokenize(text, vocab.level)
    if not tokens:
        raise CLIError(f"the {what} is empty")
    try:
        ids = vocab.encode(tokens, unk=unk)
    except DataError as exc:
        raise CLIError(f"{what}: {exc} (pass --unk replace to read them as <unk>)") from None
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
        raise CLIError(str(exc)) from None


def cmd_eval(args: argparse.Namespace) -> int:
    model, src_vocab, tgt_vocab, _ = _load(args.dir)
    try:
        pairs = read_tsv(args.file, src_vocab.level, "evaluation file")
    except DataError as exc:
        raise CLIError(str(exc)) from None
    unknown = src_vocab.unknown(t for s, _ in pairs for t in s)
    if unknown and args.unk == "error":
        shown = ", ".join(repr(u) for u in unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        raise CLIError(f"{args.file}: {len(unknown)} source token(s) not in the vocabulary: {shown} "
                       "(pass --unk replace to read them as <unk>)")
    try:
        res = evaluate_translator(model, src_vocab, tgt_vocab, pairs, beam_width=args.beam,
                                  length_penalty=args.length_penalty, batch_size=args.batch_size,
                                  max_length=args.max_length)
    except (DataError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    out = {"file": str(args.file), "examples": res["examples"], "beam": args.beam,
           "length_penalty": args.length_penalty, "exact_match": res["exact_match"], "bleu": res["bleu"],
           "unknown_source_tokens": len(unknown)}
    if res["bleu"] is None:
        out["note"] = res["bleu_note"]
    print(json.dumps(out))
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    model, src_vocab, tgt_vocab, _ = _load(args.dir)
    if args.text == "-":
        texts = [line for line in sys.stdin.read().splitlines() if line.strip()]
    else:
        texts = [args.text]
    if not texts:
        raise CLIError("no source text on stdin")
    ids = [_encode_source(t, src_vocab, args.unk, f"source line {i + 1}" if args.text == "-" else "source")[1]
           for i, t in enumerate(texts)]
    hyps = _decode(model, ids, args)
    for toks, score in zip(hyps.tokens, hyps.scores, strict=True):
        line = detokenize(tgt_vocab.decode(toks), tgt_vocab.level)
        print(f"{line}\t{float(score):.6f}" if args.scores else line)
    return 0


def cmd_attention(args: argparse.Namespace) -> int:
    model, src_vocab, tgt_vocab, _ = _load(args.dir)
    if args.out:
        path = Path(args.out)
    else:
        d = Path(args.dir)
        path = (d if d.is_dir() else d.parent) / "attention.png"
    check_output(path, "--out", force=args.force, suffixes=(".png", ".html"))
    if not model.has_attention:
        raise CLIError("this model has no attention (it was trained with --attention none)")
    tokens, ids = _encode_source(args.text, src_vocab, args.unk)
    hyps = _decode(model, [ids], args)
    out_ids = hyps.tokens[0] + ([EOS] if hyps.finished[0] else [])
    out_tokens = [tgt_vocab.itos[i] for i in out_ids]
    src_tokens = [src_vocab.itos[i] for i in ids]
    weights, level = hyps.alignments[0], src_vocab.level
    if path.suffix.lower() == ".html":
        content: bytes = mark_html(attention_html(src_tokens, out_tokens, weights, level)).encode("utf-8")
    else:
        try:
            content = mark_png(attention_png(src_tokens, out_tokens, weights, level))
        except ImportError:
            raise CLIError("a PNG heatmap needs matplotlib (pip install 'bptt[plot]'); or pass --out FILE.html"
                           ) from None
    write_output(path, content)
    print(detokenize(tgt_vocab.decode(hyps.tokens[0]), tgt_vocab.level))
    print(f"wrote {path}")
    return 0

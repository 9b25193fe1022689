"""``bptt explain``: build a run (seed 000's example, or a trained language model on a text), record its forward
and backward pass with :mod:`bptt.trace`, and hand it to :mod:`bptt.viz.explain`, which draws one HTML page of
seed 000's figures from it (``--flow``: with the gradient-flow pictures of
:mod:`bptt.examples.gradient_flow`).

Python API: :func:`seed_run` and :func:`checkpoint_run` build a :class:`~bptt.viz.explain.Run`;
:func:`write_page` writes the page of one.
"""

from __future__ import annotations

import argparse
import html
from pathlib import Path
from typing import Any

import numpy as np

from .. import trace as _trace
from ..examples import belling_the_cat as bc
from ..examples import gradient_flow
from ..models.checkpoint import CheckpointError
from ..models.io import load_language_model
from ..nn import CrossEntropyLoss
from ..trace import TraceError
from ..viz.explain import VIEWS, ExplainError, Run, render
from ..viz.flow import FlowError, plot_gate_norms, plot_gradient_flow, require_matplotlib
from .args import SEED_000, add_command, integer
from .errors import CLIError
from .outputs import check_output, mark_html, mark_png, write_output

__all__ = ["add_commands", "checkpoint_run", "seed_run", "write_page"]

DESCRIPTION = (
    "Write one self-contained HTML page (inline SVG, no network) that regenerates seed 000's figures from a "
    "real forward and backward pass: the forward summary with weights, the flow diagram of one cell, then one "
    "panel per backward quantity in the seed's order (dHt, dOt, dCt, dCprojt, dFt, dIt, dHX, dC_next) with its "
    "equation, shape, values at a time step, the tensors it depends on and bptt's source lines, and the chain of "
    "dh_next/dc_next back through time. Default: the seed's own example (belling the cat: hidden 5, a 3-word "
    f"window). With --checkpoint, a trained language model of any cell the page draws ({', '.join(VIEWS)}: "
    "bptt train --model NAME), each with its own panels and equations (e.g. minGRU: the linear recurrence's reverse "
    f"scan; sLSTM: the normaliser n and the stabiliser m). {SEED_000}. An existing --out (or --npz, or the --flow "
    "pictures) is replaced only if bptt wrote it, or with --force."
)
MAX_LENGTH = 2000  # time steps of a --checkpoint page (each step's values are drawn on the page)
VARIANTS = bc.VARIANTS  # what bptt belling-the-cat accepts


def add_commands(sub: Any) -> None:
    """Register ``explain`` on the main parser's sub-commands."""
    p = add_command(sub, "explain", cmd_explain, help="HTML page of seed 000's BPTT figures from a live model",
                    description=DESCRIPTION)
    p.add_argument("--out", default="explain.html", metavar="FILE", help="HTML file to write (default explain.html)")
    p.add_argument("--force", action="store_true", help="replace --out, --npz and the --flow pictures even if bptt "
                   "did not write them")
    p.add_argument("--checkpoint", metavar="DIR", default=None,
                   help="a trained language model (bptt train's output directory) instead of the seed's example "
                        f"(default: the seed's example); its cell must be one the page draws: {', '.join(VIEWS)}")
    p.add_argument("--text", default=None,
                   help="with --checkpoint: the input text (default: the model's default prime, continued by "
                        "its own samples)")
    p.add_argument("--length", type=integer("--length", 1, MAX_LENGTH), default=8,
                   help=f"with --checkpoint: number of time steps, at most {MAX_LENGTH} (default 8)")
    p.add_argument("--variant", choices=VARIANTS, default="uni",
                   help="seed example variant, as bptt belling-the-cat: uni, initstate (a learned initial state), "
                        "multi (2 layers), bi (bidirectional), bimulti (both) (default uni)")
    p.add_argument("--step", type=integer("--step"), default=None, metavar="T",
                   help="time step shown first (default: the last, where the backward pass starts; negative "
                        "counts from the end; the page can switch steps)")
    p.add_argument("--layer", type=integer("--layer"), default=0, help="layer (default 0)")
    p.add_argument("--direction", choices=["forward", "reverse"], default="forward",
                   help="direction of a bidirectional layer (default forward)")
    p.add_argument("--batch-index", type=integer("--batch-index"), default=0, metavar="B",
                   help="sequence of the batch (default 0)")
    p.add_argument("--flow", action="store_true",
                   help="also compute the gradient-flow pictures (the recurrent cells compared, per-gate norms over "
                        "training; needs matplotlib): PNGs next to --out, embedded in the page")
    p.add_argument("--npz", metavar="FILE", default=None, help="also save the recorded trace (.npz; default none)")


def cmd_explain(args: argparse.Namespace) -> int:
    out = check_output(args.out, "--out", force=args.force, suffixes=(".html", ".htm"))
    flow_paths = flow_pictures(out) if args.flow else []
    for path in flow_paths:
        check_output(path, "--flow picture", force=args.force)
    if args.npz is not None:
        npz = check_output(args.npz, "--npz", force=args.force, suffixes=(".npz",))
        if npz.exists() and not args.force:
            raise CLIError(f"--npz {npz} exists; pass --force to replace it, or choose another file")
    try:
        write_page(out, checkpoint=args.checkpoint, text=args.text, length=args.length, variant=args.variant,
                   step=args.step, layer=args.layer, direction=args.direction, batch_index=args.batch_index,
                   flow=args.flow, npz=args.npz)
    except (ExplainError, FlowError, TraceError) as exc:
        raise CLIError(str(exc)) from None
    for path in (out, *flow_paths):
        print(f"wrote {path}")
    if args.npz:
        print(f"wrote {args.npz}")
    return 0


def flow_pictures(out: Path) -> list[Path]:
    """The two gradient-flow pictures written next to the page ``out`` (``--flow``)."""
    stem = out.with_suffix("")
    return [stem.parent / f"{stem.name}_gradient_flow.png", stem.parent / f"{stem.name}_gate_norms.png"]


def write_page(out: str | Path = "explain.html", *, checkpoint: str | Path | None = None, text: str | None = None,
               length: int = 8, variant: str = "uni", step: int | None = None, layer: int = 0,
               direction: int | str = "forward", batch_index: int = 0, flow: bool = False,
               flow_options: dict[str, Any] | None = None, npz: str | Path | None = None) -> Path:
    """Write the page (what ``bptt explain`` runs). Returns the path written.

    Without ``checkpoint``: the seed's example (``variant`` of belling the cat). ``flow=True`` also computes
    the gradient-flow pictures (needs matplotlib), writes them next to ``out`` and embeds them. ``npz`` also
    saves the trace.
    """
    out = Path(out)
    if out.exists() and out.is_dir():
        raise ExplainError(f"--out {out} is a directory; give a file name such as {out / 'explain.html'}")
    if not out.parent.exists():
        raise ExplainError(f"--out {out}: the directory {out.parent} does not exist")
    if flow:
        require_matplotlib()
    run = seed_run(variant) if checkpoint is None else checkpoint_run(checkpoint, text, length)
    flow_images = None
    if flow:
        opts = {"T": 40, "steps": 150, "seed": 0, **dict(flow_options or {})}
        pictures = (plot_gradient_flow(gradient_flow.gradient_flow(T=opts["T"], seed=opts["seed"])),
                    plot_gate_norms(gradient_flow.gate_norms_over_training(steps=opts["steps"], seed=opts["seed"])))
        flow_images = {}
        for path, png in zip(flow_pictures(out), pictures, strict=True):
            write_output(path, mark_png(png))
            flow_images[path.name] = png
    page = render(run, step=step, layer=layer, direction=direction, batch_index=batch_index,
                  flow_images=flow_images)
    write_output(out, mark_html(page).encode("utf-8"))
    if npz is not None:
        run.trace.save(npz)
    return out


def seed_run(variant: str = "uni") -> Run:
    """Seed 000's experiment (belling the cat: hidden 5, 3-word window), one SGD step's forward and backward."""
    if variant not in VARIANTS:
        raise ExplainError(f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}")
    tokens = bc.tokenize(bc.DEFAULT_TEXT)
    vocab = sorted(set(tokens))
    index = {w: i for i, w in enumerate(vocab)}
    offset = bc.offset_schedule(len(tokens), 1)[0]
    words = tokens[offset : offset + bc.N_INPUT]
    target_word = tokens[offset + bc.N_INPUT]
    V = len(vocab)
    model = bc.BellingTheCat(variant, V)
    x = bc.one_hot_window([index[w] for w in words], V)
    target = np.array([index[target_word]])
    crit = CrossEntropyLoss()
    with _trace.trace(model) as tr:
        logits = model(x)
        loss = float(crit(logits, target))
        model.zero_grad()
        dlogits = crit.backward()
        model.backward(dlogits)
    lt = tr["lstm"].layer(model.lstm.num_layers - 1, 0)
    # the head reads the top layer's output at the last step; logits at the other steps are what it would say
    top_layer = model.lstm.num_layers - 1
    if variant == "bimulti":  # two stacks: the second reads the window backwards (its outputs in reverse time)
        top = [tr["lstm"].layer(top_layer, 0).forward["h"], tr["lstm_bw"].layer(top_layer, 0).forward["h"][::-1]]
    else:
        top = [tr["lstm"].layer(top_layer, d).forward["h"] for d in range(model.num_directions)]
    feats = np.concatenate(top, axis=-1)  # (T, 1, 5 * nd)
    W, b = model.dense.weight.data, model.dense.bias.data
    all_logits = feats @ W.T + b
    T = lt.T
    probs = _softmax(all_logits)
    onehot = np.zeros_like(all_logits)
    onehot[T - 1, 0, target[0]] = 1.0
    dl = np.zeros_like(all_logits)
    dl[T - 1] = dlogits
    head = {"weight": W, "bias": b, "logits": all_logits, "probs": probs, "target": onehot, "dlogits": dl,
            "labels": vocab, "loss_steps": [T - 1], "name": "dense"}
    desc = (f"Seed 000's own example (belling the cat, <code>tfwordslstm.py</code>): an LSTM with hidden size 5 reads "
            f"the 3-word window <b>{html.escape(' '.join(words))}</b> (one-hot, V = {V}) and its dense head predicts "
            f"the next word, <b>{html.escape(target_word)}</b>. Every weight and bias is 0.1, forget_bias = 1.0, "
            f"float64; variant <code>{variant}</code>. Cross-entropy loss at step 1: {loss:.10f}.")
    return Run(tr, "lstm", "Belling the cat: one LSTM cell, forward and backward", desc, words, vocab, head, loss,
               seed_example=True)


def checkpoint_run(path: str | Path, text: str | None = None, length: int = 8, seed: int = 0) -> Run:
    """A trained language model (``bptt train``'s checkpoint) on ``length`` tokens of ``text`` (default: its
    default prime, continued by the model's own samples); loss = mean cross-entropy of the next tokens."""
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or not 1 <= length <= MAX_LENGTH:
        raise ExplainError(f"--length must be an integer in [1, {MAX_LENGTH}], got {length!r}")
    try:
        model, vocab, meta = load_language_model(path)
    except CheckpointError as exc:
        raise ExplainError(str(exc)) from None
    if model.cell not in VIEWS:
        raise ExplainError(f"--checkpoint {path}: its cell is {model.cell}, which bptt explain cannot draw yet (it "
                           f"draws {', '.join(VIEWS)})")
    try:
        prime = meta.get("default_prime") or vocab.itos[0]
        ids = list(vocab.encode(prime if text is None else text))
    except Exception as exc:  # noqa: BLE001 - a DataError or similar: one line
        raise ExplainError(f"--text: {exc}") from None
    if not ids:
        raise ExplainError("--text has no tokens at this model's level")
    if len(ids) < length + 1:
        more = model.generate(np.array(ids), length + 1 - len(ids), rng=seed)
        ids += [int(i) for i in more]
    ids = np.array(ids[: length + 1], dtype=np.int64)
    x, y = ids[:-1, None], ids[1:, None]
    crit = CrossEntropyLoss()
    with _trace.trace(model) as tr:
        logits, _ = model(x)
        T, B, V = logits.shape
        loss = float(crit(logits.reshape(T * B, V), y.reshape(-1)))
        model.zero_grad()
        dlogits = crit.backward().reshape(T, B, V)
        model.backward(dlogits)
    probs = _softmax(logits.astype(np.float64))
    onehot = np.zeros((T, B, V))
    onehot[np.arange(T), 0, y[:, 0]] = 1.0
    itos = list(vocab.itos)
    labels = [_char_label(s) if vocab.level == "char" else s for s in itos]
    head = {"weight": model.head.weight.data, "bias": model.head.bias.data, "logits": logits, "probs": probs,
            "target": onehot, "dlogits": dlogits, "labels": labels, "loss_steps": list(range(T)), "name": "head"}
    toks = [labels[i] for i in ids[:-1]]
    cell = tr["rnn"].label  # the recurrent module's cell kind, as bptt.trace names it
    sep = "" if vocab.level == "char" else " "
    desc = (f"A trained {vocab.level}-level language model ({html.escape(str(path))}): {cell}, hidden size "
            f"{model.hidden_size}, {model.num_layers} layer(s), vocabulary {V}, "
            f"{'one-hot inputs' if model.embedding is None else f'embedding {model.embedding_dim}'}. Input "
            f"<b>{html.escape(sep.join(itos[i] for i in ids[:-1]))}</b>, targets the next tokens; mean "
            f"cross-entropy {loss:.6f} nats/token.")
    input_labels = labels if model.embedding is None else None
    return Run(tr, "rnn", f"{cell} language model: forward and backward", desc, toks, input_labels, head, loss)


def _char_label(s: str) -> str:
    """A character as a row label: visible even when it is blank (a space is ␣, a newline \\n)."""
    return "␣" if s == " " else repr(s)[1:-1]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)

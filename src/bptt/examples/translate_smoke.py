"""Smoke example: a word-level translator memorises a handful of French -> English sentence pairs.

By default it reads the four line-aligned TED-talk sentences of the seed data, ``nmt_fr_lines2.txt`` and
``nmt_en_lines2.txt`` (in ``../shared/data``, when present: the example is skipped otherwise, and nothing
requires it). Four pairs cannot teach translation; they show the whole pipeline running end to end
(vocabularies, a bidirectional encoder, Luong attention, teacher forcing, greedy and beam decoding) and the
model fitting its data to 100% exact match within a few hundred steps.

    python -m bptt.examples.translate_smoke [--fr FILE --en FILE] [--steps 300] [--beam 3]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .. import optim
from ..data import DataError
from ..data.parallel import ParallelVocab, detokenize, make_batch, read_line_aligned
from ..models.seq2seq import Seq2Seq
from ..nn import CrossEntropyLoss
from ..nn.utils import clip_grad_norm_
from .program import run_program

DEFAULT_DIR = Path("..") / "shared" / "data"


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bptt.examples.translate_smoke", description=__doc__.split("\n\n")[0])
    p.add_argument("--fr", default=str(DEFAULT_DIR / "nmt_fr_lines2.txt"), help="source sentences, one per line")
    p.add_argument("--en", default=str(DEFAULT_DIR / "nmt_en_lines2.txt"), help="their translations")
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--beam", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if not (Path(args.fr).is_file() and Path(args.en).is_file()):
        print(f"skipped: {args.fr} and {args.en} are not both present")
        return 0
    try:
        pairs = read_line_aligned(args.fr, args.en, "word")
    except DataError as exc:
        print(f"error: {exc}")
        return 2
    sv = ParallelVocab.build([s for s, _ in pairs])
    tv = ParallelVocab.build([t for _, t in pairs])
    src = [sv.encode(s) for s, _ in pairs]
    tgt = [tv.encode(t) for _, t in pairs]
    print(f"{len(pairs)} pairs; vocabularies {len(sv)} (French) and {len(tv)} (English) tokens")
    model = Seq2Seq(len(sv), len(tv), embedding_size=32, hidden_size=64, encoder="bi", attention="luong",
                    rng=args.seed)
    opt = optim.Adam(list(model.parameters()), lr=1e-2)
    ce = CrossEntropyLoss(ignore_index=0)
    b = make_batch(src, tgt)
    for step in range(1, args.steps + 1):
        logits = model(b["src"], b["src_lengths"], b["tgt_in"])
        loss = float(ce(logits.reshape(-1, len(tv)), b["tgt_out"].reshape(-1)))
        model.zero_grad()
        model.backward(ce.backward().reshape(logits.shape))
        clip_grad_norm_(list(model.parameters()), 5.0)
        opt.step()
        if step % 50 == 0 or step == 1:
            print(f"step {step}: loss {loss:.4f}")
    model.eval()
    exact = {}
    for k in sorted({1, args.beam}):
        hyps = model.translate(src, beam_width=k, max_length=int(max(len(t) for t in tgt)) + 5)
        out = [tv.decode(t) for t in hyps.tokens]
        exact[k] = float(np.mean([o == t for o, (_, t) in zip(out, pairs, strict=True)]))
        if k == args.beam:
            for (s, _), o in zip(pairs, out, strict=True):
                print(f"  {detokenize(s)}\n    -> {detokenize(o)}")
    print("exact match: " + ", ".join(f"{'greedy' if k == 1 else f'beam {k}'} {v:.0%}" for k, v in exact.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(run_program(main, "python -m bptt.examples.translate_smoke"))

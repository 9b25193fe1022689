"""Time to accuracy on the built-in dates task: bptt's Seq2Seq against a PyTorch model built the same way.

Both contenders get the same data (``bptt.data.dates``: 20 000 training pairs, held-out validation and test
splits whose calendar dates never occur in training), the same batches in the same order, the same
architecture (character level; bidirectional LSTM encoder with a dense bridge; LSTM decoder with input
feeding, Luong "general" attention and an attention layer; output layer without bias), the same initial
weights (bptt's initialisation copied into the torch model), the same optimizer (Adam, gradient-norm
clipping at 5) and the same hyperparameters. Only the arithmetic differs: bptt's hand-derived NumPy passes
against PyTorch's autograd (``nn.LSTM`` with packed sequences, ``nn.LSTMCell`` for the decoder steps).

Every ``--eval-every`` steps the model greedily decodes the whole validation split; the clock (training time
only: forward, backward, clipping, optimizer step; evaluation time is reported separately) stops at the first
evaluation with exact match >= ``--target`` (default 0.99), or at ``--cap`` seconds of training (default 600).
The test split is then decoded once. The BLAS/OpenMP thread count is fixed for both (``--threads``, default 1:
these matrices are small, and extra threads mostly fight other processes for the cores).

Usage::

    python benchmarks/bench_seq2seq.py                       # both, default settings, text report
    python benchmarks/bench_seq2seq.py --markdown --json out.json
    python benchmarks/bench_seq2seq.py --only bptt --hidden-size 128 --seeds 0
"""

from __future__ import annotations

import argparse
import os
import sys


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1, help="BLAS/OpenMP/torch threads (default 1)")
    p.add_argument("--only", choices=["bptt", "torch"], default=None)
    p.add_argument("--train-size", type=int, default=20000)
    p.add_argument("--val-size", type=int, default=1000)
    p.add_argument("--test-size", type=int, default=1000)
    p.add_argument("--hidden-size", type=int, default=64)
    p.add_argument("--embedding-size", type=int, default=32)
    p.add_argument("--num-layers", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--target", type=float, default=0.99)
    p.add_argument("--cap", type=float, default=600.0, help="seconds of training per contender (default 600)")
    p.add_argument("--seeds", default="0,1,2",
                   help="comma-separated seeds of the initial weights and batch order (default 0,1,2); the "
                        "order of the two contenders alternates from one seed to the next")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the dates task (default 0)")
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--json", default=None)
    return p.parse_args()


ARGS = _parse()
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)

import datetime  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as tnn  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

import bptt  # noqa: E402
from bptt import optim  # noqa: E402
from bptt.data import dates  # noqa: E402
from bptt.data.parallel import EOS, PAD, SOS, PairBatches, ParallelVocab, make_batch  # noqa: E402
from bptt.models.seq2seq import Seq2Seq  # noqa: E402
from bptt.nn import CrossEntropyLoss  # noqa: E402
from bptt.nn.utils import clip_grad_norm_  # noqa: E402

torch.set_num_threads(ARGS.threads)


# ------------------------------------------------------------------------------------------- the torch twin
class TorchSeq2Seq(tnn.Module):
    """bptt's Seq2Seq (bi-LSTM encoder, dense bridge, Luong attention wrapper) in PyTorch."""

    def __init__(self, Vs: int, Vt: int, E: int, H: int, L: int) -> None:
        super().__init__()
        self.L, self.H = L, H
        self.src_embedding = tnn.Embedding(Vs, E, padding_idx=PAD)
        self.tgt_embedding = tnn.Embedding(Vt, E, padding_idx=PAD)
        self.encoder = tnn.LSTM(E, H, L, bidirectional=True)
        self.bridge_h = tnn.Linear(2 * H, H)
        self.bridge_c = tnn.Linear(2 * H, H)
        self.cells = tnn.ModuleList([tnn.LSTMCell((E + H) if k == 0 else H, H) for k in range(L)])
        self.memory_layer = tnn.Linear(2 * H, H, bias=False)
        self.attention_layer = tnn.Linear(3 * H, H, bias=False)
        self.output_layer = tnn.Linear(H, Vt, bias=False)

    def load_from_bptt(self, model: Seq2Seq) -> None:
        sd = model.state_dict()
        names = {"decoder.attention_mechanism.memory_layer.weight": "memory_layer.weight",
                 "decoder.attention_layer.weight": "attention_layer.weight"}
        for k in range(self.L):
            for w in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                names[f"decoder.cell.{w}_l{k}"] = f"cells.{k}.{w}"
        own = self.state_dict()
        new = {names.get(k, k): torch.from_numpy(v.copy()) for k, v in sd.items()}
        assert set(new) == set(own), set(new) ^ set(own)
        self.load_state_dict(new)

    def encode(self, src: torch.Tensor, lengths: torch.Tensor):
        S, B = src.shape
        x = self.src_embedding(src)
        packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
        out, (h, c) = self.encoder(packed)
        out, _ = pad_packed_sequence(out, total_length=S)
        L, H = self.L, self.H

        def bridge(s, layer):
            return layer(s.view(L, 2, B, H).transpose(1, 2).reshape(L, B, 2 * H))

        mask = torch.arange(S)[None, :] < lengths[:, None]
        values = out.transpose(0, 1) * mask[:, :, None]
        keys = self.memory_layer(values)
        return values, keys, mask, list(bridge(h, self.bridge_h)), list(bridge(c, self.bridge_c))

    def step(self, y, att, hs, cs, values, keys, mask):
        inp = torch.cat([self.tgt_embedding(y), att], dim=1)
        for k, cell in enumerate(self.cells):
            hs[k], cs[k] = cell(inp, (hs[k], cs[k]))
            inp = hs[k]
        score = torch.bmm(keys, inp[:, :, None])[:, :, 0].masked_fill(~mask, float("-inf"))
        a = torch.softmax(score, dim=1)
        ctx = torch.bmm(a[:, None, :], values)[:, 0, :]
        return self.attention_layer(torch.cat([inp, ctx], dim=1))

    def forward(self, src, lengths, tgt_in):
        values, keys, mask, hs, cs = self.encode(src, lengths)
        att = torch.zeros(src.shape[1], self.H)
        outs = []
        for t in range(tgt_in.shape[0]):
            att = self.step(tgt_in[t], att, hs, cs, values, keys, mask)
            outs.append(att)
        return self.output_layer(torch.stack(outs))

    @torch.no_grad()
    def greedy(self, src, lengths, max_length):
        values, keys, mask, hs, cs = self.encode(src, lengths)
        B = src.shape[1]
        att = torch.zeros(B, self.H)
        y = torch.full((B,), SOS, dtype=torch.long)
        done = torch.zeros(B, dtype=torch.bool)
        toks = []
        for _ in range(max_length):
            att = self.step(y, att, hs, cs, values, keys, mask)
            logits = self.output_layer(att)
            logits[:, PAD] = float("-inf")
            logits[:, SOS] = float("-inf")
            y = logits.argmax(1)
            toks.append(torch.where(done, torch.full_like(y, PAD), y))
            done |= y == EOS
            if bool(done.all()):
                break
        return torch.stack(toks, 1).numpy()


# ---------------------------------------------------------------------------------------------- data
def load_data():
    splits = dates.generate_splits(ARGS.train_size, ARGS.val_size, ARGS.test_size, seed=ARGS.data_seed)
    pairs = {k: [(list(s), list(t)) for s, t in v] for k, v in splits.items()}
    sv = ParallelVocab.build([s for s, _ in pairs["train"]], "char")
    tv = ParallelVocab.build([t for _, t in pairs["train"]], "char")
    enc = {k: ([sv.encode(s, unk="replace") for s, _ in v], [tv.encode(t) for _, t in v])
           for k, v in pairs.items()}
    return sv, tv, enc


def exact_match(pred_rows: list[list[int]], targets: list[np.ndarray]) -> float:
    return float(np.mean([list(p) == t.tolist() for p, t in zip(pred_rows, targets, strict=True)]))


def _cut(row) -> list[int]:
    out = []
    for t in row:
        if t == EOS:
            break
        out.append(int(t))
    return out


# ---------------------------------------------------------------------------------------------- contenders
class BpttRunner:
    name = "bptt"

    def __init__(self, model: Seq2Seq) -> None:
        self.model = model
        self.params = list(model.parameters())
        self.opt = optim.Adam(self.params, lr=ARGS.lr)
        self.ce = CrossEntropyLoss(ignore_index=PAD)

    def train_step(self, b) -> float:
        m = self.model
        logits = m(b["src"], b["src_lengths"], b["tgt_in"])
        loss = float(self.ce(logits.reshape(-1, m.tgt_vocab_size), b["tgt_out"].reshape(-1)))
        m.zero_grad()
        m.backward(self.ce.backward().reshape(logits.shape))
        clip_grad_norm_(self.params, 5.0)
        self.opt.step()
        return loss

    def decode(self, sources: list[np.ndarray]) -> list[list[int]]:
        return self.model.translate(sources, beam_width=1, batch_size=256, max_length=12).tokens


class TorchRunner:
    name = "torch"

    def __init__(self, model: TorchSeq2Seq) -> None:
        self.model = model
        self.opt = torch.optim.Adam(model.parameters(), lr=ARGS.lr)
        self.ce = tnn.CrossEntropyLoss(ignore_index=PAD)

    def train_step(self, b) -> float:
        m = self.model
        tb = {k: torch.from_numpy(v) for k, v in b.items()}
        logits = m(tb["src"], tb["src_lengths"], tb["tgt_in"])
        loss = self.ce(logits.reshape(-1, logits.shape[-1]), tb["tgt_out"].reshape(-1))
        self.opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 5.0)
        self.opt.step()
        return float(loss.detach())

    def decode(self, sources: list[np.ndarray]) -> list[list[int]]:
        order = np.argsort([len(s) for s in sources], kind="stable")
        out: list = [None] * len(sources)
        for start in range(0, len(sources), 256):
            idx = order[start : start + 256]
            b = make_batch([sources[i] for i in idx], [np.array([4])] * len(idx))
            rows = self.model.greedy(torch.from_numpy(b["src"]), torch.from_numpy(b["src_lengths"]), 12)
            for j, i in enumerate(idx):
                out[i] = _cut(rows[j])
        return out


def run(runner, enc, seed: int) -> dict:
    train_src, train_tgt = enc["train"]
    batches = PairBatches(len(train_src), ARGS.batch_size, seed)
    t_train = t_eval = 0.0
    step = 0
    curve = []
    reached = None
    load0 = os.getloadavg()[0]
    while t_train < ARGS.cap:
        idx = next(batches)
        b = make_batch([train_src[i] for i in idx], [train_tgt[i] for i in idx])
        t0 = time.perf_counter()
        loss = runner.train_step(b)
        t_train += time.perf_counter() - t0
        step += 1
        if step % ARGS.eval_every == 0:
            t0 = time.perf_counter()
            em = exact_match(runner.decode(enc["val"][0]), enc["val"][1])
            t_eval += time.perf_counter() - t0
            curve.append({"step": step, "train_s": round(t_train, 2), "loss": loss, "val_exact_match": em})
            print(f"  seed {seed} {runner.name}: step {step:5d}  {t_train:7.1f}s  loss {loss:.4f}  "
                  f"val exact match {em:.4f}", flush=True)
            if em >= ARGS.target:
                reached = {"step": step, "train_s": t_train}
                break
    t0 = time.perf_counter()
    test_em = exact_match(runner.decode(enc["test"][0]), enc["test"][1])
    t_eval += time.perf_counter() - t0
    return {"name": runner.name, "seed": seed, "reached": reached, "steps": step, "train_s": t_train, "eval_s": t_eval,
            "ms_per_step": 1000 * t_train / step,
            "final_val_exact_match": curve[-1]["val_exact_match"] if curve else None,
            "test_exact_match": test_em, "curve": curve, "loadavg_start": load0,
            "loadavg_end": os.getloadavg()[0]}


def one_seed(sv, tv, enc, seed: int, order: list[str]) -> tuple[list[dict], float]:
    model = Seq2Seq(len(sv), len(tv), embedding_size=ARGS.embedding_size, hidden_size=ARGS.hidden_size,
                    num_layers=ARGS.num_layers, encoder="bi", attention="luong", rng=np.random.default_rng(seed))
    tmodel = TorchSeq2Seq(len(sv), len(tv), ARGS.embedding_size, ARGS.hidden_size, ARGS.num_layers)
    tmodel.load_from_bptt(model)
    # the same function at the start: one batch through both (float32)
    b = make_batch(enc["train"][0][:8], enc["train"][1][:8])
    ours = model(b["src"], b["src_lengths"], b["tgt_in"])
    model.clear_caches()
    with torch.no_grad():
        theirs = tmodel(torch.from_numpy(b["src"]), torch.from_numpy(b["src_lengths"]),
                        torch.from_numpy(b["tgt_in"])).numpy()
    init_diff = float(np.abs(ours - theirs).max())
    print(f"seed {seed}: initial logits agree to {init_diff:.2e} (float32); {model.num_parameters():,} "
          f"parameters; order {' then '.join(order)}", flush=True)
    runners = {"bptt": lambda: BpttRunner(model), "torch": lambda: TorchRunner(tmodel)}
    return [run(runners[name](), enc, seed) for name in order], init_diff


def _median(xs: list[float]) -> float:
    return float(np.median(xs)) if xs else float("nan")


def main() -> None:
    sv, tv, enc = load_data()
    seeds = [int(x) for x in ARGS.seeds.split(",")]
    names = ["bptt", "torch"] if ARGS.only is None else [ARGS.only]
    results, diffs = [], []
    for i, seed in enumerate(seeds):
        order = names if i % 2 == 0 else names[::-1]
        res, diff = one_seed(sv, tv, enc, seed, order)
        results += res
        diffs.append(diff)
    info = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
            "python": platform.python_version(), "numpy": np.__version__, "torch": torch.__version__,
            "bptt": bptt.__version__, "machine": platform.machine(), "processor": platform.processor(),
            "cpus": os.cpu_count(), "args": vars(ARGS), "train_pairs": len(enc["train"][0]),
            "initial_logit_diffs": diffs}
    print()
    for r in results:
        if r["reached"]:
            rs = r["reached"]
            head = f"reached {ARGS.target:.0%} at step {rs['step']} after {rs['train_s']:.1f}s"
        else:
            head = f"did NOT reach {ARGS.target:.0%} in {r['train_s']:.0f}s ({r['steps']} steps)"
        print(f"seed {r['seed']} {r['name']:>5}: {head}; {r['ms_per_step']:.1f} ms/step; evaluation "
              f"{r['eval_s']:.1f}s; test exact match {r['test_exact_match']:.4f}; load average "
              f"{r['loadavg_start']:.2f} -> {r['loadavg_end']:.2f}")
    if ARGS.markdown:
        tgt = f"{ARGS.target:.0%}"
        print(f"\n| framework | seed | steps to >= {tgt} | training time to >= {tgt} | ms/step | "
              "test exact match |")
        print("|---|---:|---:|---:|---:|---:|")
        for r in results:
            st = r["reached"]["step"] if r["reached"] else f"> {r['steps']}"
            tt = f"{r['reached']['train_s']:.1f} s" if r["reached"] else f"> {r['train_s']:.0f} s"
            print(f"| {r['name']} | {r['seed']} | {st} | {tt} | {r['ms_per_step']:.1f} | "
                  f"{r['test_exact_match']:.4f} |")
        for name in names:
            rs = [r for r in results if r["name"] == name]
            ok = [r for r in rs if r["reached"]]
            print(f"| **{name} median** | | {_median([r['reached']['step'] for r in ok]):.0f} | "
                  f"{_median([r['reached']['train_s'] for r in ok]):.1f} s | "
                  f"{_median([r['ms_per_step'] for r in rs]):.1f} | "
                  f"{_median([r['test_exact_match'] for r in rs]):.4f} |")
    if ARGS.json:
        with open(ARGS.json, "w", encoding="utf-8") as fh:
            json.dump({"info": info, "results": results}, fh, indent=2)


if __name__ == "__main__":
    sys.exit(main())

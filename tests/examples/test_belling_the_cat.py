"""Seed 000's belling-the-cat experiment (``bptt.examples.belling_the_cat``) vs an independent torch run."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bptt.examples import belling_the_cat as btc

MODULE = "bptt.examples.belling_the_cat"
LINE = re.compile(r"^step (\d+) loss (-?\d+\.\d{10})$")


# ---------------------------------------------------------------------------------------------- reference
def _torch_lstm(V: int, num_layers: int, bidirectional: bool):
    """torch.nn.LSTM, float64: weights 0.1, bias_ih 0.1 (+1.0 on the forget block: forget_bias), bias_hh 0."""
    m = torch.nn.LSTM(V, 5, num_layers=num_layers, bidirectional=bidirectional, dtype=torch.float64)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.startswith("weight"):
                p.fill_(0.1)
            elif name.startswith("bias_ih"):
                p.fill_(0.1)
                p[5:10] += 1.0  # torch gate order i, f, g, o: rows 5..9 are the forget gate
            else:
                p.zero_()
    return m


def torch_losses(variant: str, steps: int) -> list[float]:
    """The experiment re-implemented with torch autograd (offset schedule included), independent of bptt."""
    tokens = btc.DEFAULT_TEXT.lower().split()
    vocab = sorted(set(tokens))
    codes = [vocab.index(w) for w in tokens]
    V = len(vocab)
    assert V == 10
    nd = 2 if variant in ("bi", "bimulti") else 1
    if variant == "bimulti":
        lstms = [_torch_lstm(V, 2, False), _torch_lstm(V, 2, False)]  # TF: two independent 2-layer stacks
    else:
        lstms = [_torch_lstm(V, 2 if variant == "multi" else 1, variant == "bi")]
    dense = torch.nn.Linear(5 * nd, V, dtype=torch.float64)
    with torch.no_grad():
        dense.weight.copy_(torch.tensor(np.vstack([btc.KERNEL] * nd).T))
        dense.bias.copy_(torch.tensor(btc.BIAS))
    # TensorFlow's cell has one bias: bias_ih is it, bias_hh stays a constant 0 (not trained)
    params = [p for m in [*lstms, dense] for n, p in m.named_parameters() if not n.startswith("bias_hh")]
    fill = 1.0 if variant == "initstate" else 0.0

    def state(m):
        shape = (m.num_layers * (2 if m.bidirectional else 1), 1, 5)
        return (torch.full(shape, fill, dtype=torch.float64), torch.full(shape, fill, dtype=torch.float64))

    rs = np.random.RandomState(42)
    offset = 2
    losses = []
    for _ in range(steps):
        if offset > len(tokens) - 4:
            offset = rs.randint(0, 4)
        x = torch.zeros(3, 1, V, dtype=torch.float64)
        for t in range(3):
            x[t, 0, codes[offset + t]] = 1.0
        target = torch.tensor([codes[offset + 3]])
        out, _ = lstms[0](x, state(lstms[0]))
        if variant == "bimulti":
            out_bw, _ = lstms[1](x.flip(0), state(lstms[1]))
            feature = torch.cat([out[-1], out_bw.flip(0)[-1]], dim=-1)
        else:
            feature = out[-1]
        loss = torch.nn.functional.cross_entropy(dense(feature), target)
        for m in [*lstms, dense]:
            m.zero_grad(set_to_none=True)
        loss.backward()
        with torch.no_grad():
            for p in params:
                p -= 0.001 * p.grad
        losses.append(loss.item())
        offset += 4
    return losses


# ---------------------------------------------------------------------------------------------- tests
def test_uni_first_step_matches_tensorflow() -> None:
    assert abs(btc.run("uni", steps=1)[0] - 1.6343186800) <= 1e-8


@pytest.mark.parametrize("variant", btc.VARIANTS)
def test_first_losses_match_torch(variant: str) -> None:
    ours = btc.run(variant, steps=5)
    ref = torch_losses(variant, 5)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10)


def test_bimulti_is_not_pytorch_interleaved_stacking() -> None:
    """PyTorch's LSTM(num_layers=2, bidirectional=True) is a different network from TF's bimulti."""
    tokens = btc.DEFAULT_TEXT.split()
    vocab = sorted(set(tokens))
    x = torch.zeros(3, 1, len(vocab), dtype=torch.float64)
    for t, w in enumerate(tokens[2:5]):
        x[t, 0, vocab.index(w)] = 1.0
    interleaved, _ = _torch_lstm(len(vocab), 2, True)(x)
    dense = np.vstack([btc.KERNEL] * 2).T
    logits = interleaved[-1].detach().numpy() @ dense.T + btc.BIAS
    target = vocab.index(tokens[5])
    loss = float(np.log(np.exp(logits).sum()) - logits[0, target])
    assert abs(loss - btc.run("bimulti", steps=1)[0]) > 1e-4


@pytest.mark.parametrize("variant", btc.VARIANTS)
def test_all_variants_run_200_steps_finite(variant: str) -> None:
    losses = btc.run(variant, steps=200)
    assert len(losses) == 200
    assert all(math.isfinite(v) for v in losses)


def test_uni_loss_goes_down() -> None:
    losses = btc.run("uni", steps=200)
    offsets = btc.offset_schedule(len(btc.DEFAULT_TEXT.split()), 200)
    windows = sorted(set(offsets))
    assert windows == list(range(8))  # every window of the 11-word text is visited
    first = [losses[offsets.index(o)] for o in windows]
    last = [losses[len(offsets) - 1 - offsets[::-1].index(o)] for o in windows]
    assert np.mean(last) < np.mean(first) - 0.1  # each window's last visit vs its first, averaged
    assert np.mean(losses[-50:]) < np.mean(losses[:50])


def test_offset_schedule() -> None:
    assert btc.offset_schedule(11, 8) == [2, 6, 2, 6, 3, 7, 0, 4]
    for n in range(4, 8):  # short texts: every window fits
        assert all(0 <= o <= n - 4 for o in btc.offset_schedule(n, 100))


def test_other_text_and_vocab_size() -> None:
    text = "the cat sat on the mat and the dog sat on the log today"
    losses = btc.run("bi", steps=20, text=text)
    assert len(losses) == 20 and all(math.isfinite(v) for v in losses)
    assert btc.run("uni", steps=30, text="a b c d") == btc.run("uni", steps=30, text="A  b\nc d\n")
    assert btc.run("uni", steps=3, text=btc.DEFAULT_TEXT.upper()) == btc.run("uni", steps=3)


def test_run_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="variant"):
        btc.run("sideways", steps=1)
    with pytest.raises(ValueError, match="at least 4 words"):
        btc.run("uni", steps=1, text="one two three")
    with pytest.raises(ValueError, match="empty"):
        btc.run("uni", steps=1, text="  \n")
    assert btc.run("uni", steps=0) == []


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", MODULE, *args], capture_output=True, text=True, timeout=60)


def test_cli_prints_one_line_per_step() -> None:
    res = _cli("--variant", "bimulti", "--steps", "7")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 7
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    assert [int(m.group(1)) for m in matches] == list(range(1, 8))
    ours = btc.run("bimulti", steps=7)
    assert [m.group(2) for m in matches] == [f"{v:.10f}" for v in ours]


def test_cli_uni_first_line(tmp_path: Path) -> None:
    res = _cli("--variant", "uni", "--steps", "1")
    assert res.returncode == 0 and res.stderr == ""
    m = LINE.match(res.stdout.strip())
    assert m and abs(float(m.group(2)) - 1.6343186800) <= 1e-8
    path = tmp_path / "fable.txt"
    path.write_text(btc.DEFAULT_TEXT + "\n", encoding="utf-8")
    res2 = _cli("--variant", "uni", "--steps", "1", "--text", str(path))
    assert res2.returncode == 0 and res2.stdout == res.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        (b"", "empty"),
        (b"  \n\t", "empty"),
        (b"only three words", "at least 4 words"),
        (b"\xff\xfe bad bytes here", "UTF-8"),
    ],
)
def test_cli_text_errors(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "text.txt"
    if content is not None:
        path.write_bytes(content)
    res = _cli("--variant", "uni", "--steps", "3", "--text", str(path))
    assert res.returncode != 0
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr
    assert message in lines[0]

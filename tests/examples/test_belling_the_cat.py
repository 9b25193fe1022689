"""Seed 000's belling-the-cat experiment (``bptt.examples.belling_the_cat``): TensorFlow's first step, schedules,
finite losses, the command line. The comparison with an independent torch run lives in
test_belling_the_cat_torch.py.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bptt.examples import belling_the_cat as btc

MODULE = "bptt.examples.belling_the_cat"
LINE = re.compile(r"^step (\d+) loss (-?\d+\.\d{10})$")


# ---------------------------------------------------------------------------------------------- tests
def test_uni_first_step_matches_tensorflow() -> None:
    assert abs(btc.run("uni", steps=1)[0] - 1.6343186800) <= 1e-8


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

"""The README's main job, run as written: it trains to the loss the README states and its sample is made of
words (the newcomer's first contact with bptt; issue: "the main job ends with gibberish").

The command is read from the README's first ``bash`` block (the install step is the test environment's own),
so the README and this test cannot drift apart. "Words": of the sample's letter runs of three or more, the
fraction that occur as words in the training corpus. The README's sample scores about 0.77; the former
defaults (2 x 256 LSTM, Adam 2e-3, 500 steps) score 0.27 at the same temperature, and an untrained model ~0.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from bptt.data.default_corpus import default_corpus_text
from cases.cli import run_bptt

README = Path(__file__).resolve().parents[2] / "README.md"
pytestmark = pytest.mark.slow


def main_job() -> list[list[str]]:
    """The ``bptt`` commands of the README's first bash block, each as its argument list without ``bptt``."""
    block = re.search(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert block, "the README has no bash block"
    commands = [shlex.split(part) for part in block.group(1).strip().split("&&")]
    return [argv[1:] for argv in commands if argv[0] == "bptt"]


def word_fraction(text: str, corpus: str) -> tuple[float, int]:
    words = set(re.findall(r"[A-Za-z]{3,}", corpus))
    runs = re.findall(r"[A-Za-z]{3,}", text)
    return sum(run in words for run in runs) / max(len(runs), 1), len(runs)


def test_the_readme_main_job_prints_words_at_the_stated_loss(tmp_path):
    train, sample = main_job()
    assert train[0] == "train" and sample[0] == "sample", (train, sample)
    stated = re.search(r"validation loss of\s+([0-9.]+) nats/token", README.read_text(encoding="utf-8"))
    assert stated, "the README does not state the main job's validation loss"

    trained = run_bptt(*train, cwd=tmp_path, timeout=900)
    assert trained.returncode == 0, trained.stderr
    final = re.search(r"final validation loss: ([0-9.]+) nats/token", trained.stdout)
    assert final, trained.stdout[-500:]
    assert float(final.group(1)) <= float(stated.group(1)) + 0.02  # float32 BLAS differs a little across CPUs

    sampled = run_bptt(*sample, cwd=tmp_path)
    assert sampled.returncode == 0, sampled.stderr
    fraction, count = word_fraction(sampled.stdout, default_corpus_text())
    assert count >= 15, sampled.stdout
    assert fraction >= 0.6, (fraction, sampled.stdout)

"""``bptt gradcheck``: one line per entry of bptt.gradcheck.catalog (both tiers, the layer-norm LSTM, attention),
the failures counted, exit code 1 when one fails."""

from __future__ import annotations

import contextlib
import io
import re

import numpy as np

from bptt import cli
from bptt.gradcheck import catalog

SMALL = ["--steps", "2", "--batch", "1", "--input-size", "2", "--hidden-size", "3"]


def gradcheck(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(["gradcheck", *args])
    return rc, out.getvalue(), err.getvalue()


def test_every_catalog_entry_is_checked():
    rc, out, err = gradcheck(*SMALL)
    assert rc == 0 and err == ""
    lines = out.splitlines()
    names = [entry.name for entry in catalog.CATALOG]
    width = max(map(len, names)) + 2
    assert len(lines) == len(names) + 1 and lines[-1] == f"{len(names)} passed, 0 failed"
    for name, line in zip(names, lines, strict=False):
        assert re.fullmatch(re.escape(name.ljust(width)) + r" ok     worst relative error \d\.\d\de-\d\d", line), line
    for needle in ("reference lstm (peepholes, projection, reverse, lengths)", "ln_lstm (layer norm)",
                   "reference ln_lstm (layer norm)", "attention bahdanau (normed)", "reference gru",
                   "reference cross_entropy"):
        assert any(line.startswith(needle + " ") for line in lines), needle


def test_a_failing_backward_is_reported_with_exit_code_1(monkeypatch):
    cases = catalog.cases

    def broken(rng, *sizes):
        out = cases(rng, *sizes)
        case = out[0]  # linear, with its backward's gradients doubled
        bad = catalog.CatalogEntry(case.name, case.op.module, case.op.forward,
                                   lambda dy, cache: tuple(2 * np.asarray(g) for g in case.op.backward(dy, cache)),
                                   case.op.arguments, case.op.names)
        return [case._replace(op=bad)] + out[1:3]

    monkeypatch.setattr(catalog, "cases", broken)
    rc, out, _ = gradcheck(*SMALL)
    assert rc == 1
    lines = out.splitlines()
    assert lines[0].startswith("linear") and " FAILED " in lines[0]
    assert lines[1].split() == ["argument", "max", "abs", "err", "max", "rel", "err", "checked"]  # its report
    assert [line.split()[0] for line in lines[2:5]] == ["x", "W", "b"] and lines[5].strip() == "FAILED: x, W, b"
    assert lines[-1] == "2 passed, 1 failed"


def test_help_says_what_is_checked(capsys):
    with contextlib.suppress(SystemExit):
        cli.main(["gradcheck", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for needle in ("bptt.functional.reference", "layer-norm LSTM", "attention", "bptt.gradcheck.catalog"):
        assert needle in text, needle

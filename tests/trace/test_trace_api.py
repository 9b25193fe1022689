"""bptt.trace as a user meets it: the Steps API, names and lookups with clear errors, naming modules, ``.npz``
round trip, the text loggers, the callable package, the table of cell kinds, and tracing off costing one check
(the fused ops run, the reference never does)."""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest

import bptt
import bptt.trace as trace_pkg
from bptt import functional as F
from bptt import nn
from bptt.functional import reference as R
from bptt.trace import TraceError
from bptt.trace.names import KINDS, CellKind, kind_of, register
from cases.trace import make, run_traced
from helpers import assert_close, seeded_rng


def test_steps_api_shapes_norms_and_names():
    rng = seeded_rng("trace api")
    m = make("lstm", 4, 5, 1, False, rng)
    tr, _ = run_traced(m, T=3, B=2, rng=rng)
    bw = tr["lstm"].backward
    assert bw.names == list(R.lstm.StepGrads._fields[:-2])  # the reference's names; no dW_hr, dW_peep: none
    assert bw.names[:9] == ["dy", "dh_next_in", "dc_next_in", "dh", "dr", "do", "da_o", "dc", "dg"]
    assert tr["lstm"].forward.names == list(R.lstm.StepCache._fields)
    assert bw[2]["dc"].shape == (2, 5) and tr["lstm"].backward[2]["dc"] is not None
    assert bw.shapes["dz"] == (2, 9) and bw.shapes["dW_ih"] == (20, 4) and bw.shapes["db"] == (20,)
    assert_close(bw.norms("dh"), np.linalg.norm(bw["dh"].reshape(3, -1), axis=1), 1e-14, "norms")
    assert set(bw.norms()) == set(bw.names)
    step = bw[-1]
    assert step.t == 2 and "dc" in step and len(list(step)) == len(bw.names)
    assert_close(step["dc"], bw["dc"][2], 0, "step")
    assert [s.t for s in bw] == [0, 1, 2]
    assert bw.order == (2, 1, 0) and tr["lstm"].forward.order == (0, 1, 2)
    assert tr["lstm"][0].seed_name("dg") == "dCprojt" and tr["lstm"][0].seed_name("dz") == "dHX"
    assert "dc" in tr.summary() and "dCt" in tr.summary()
    with pytest.raises(TraceError, match=r"step 3 is out of range .* T=3 .*valid: 0\.\.2"):
        bw[3]
    with pytest.raises(TraceError, match="no quantity named 'dq'"):
        bw["dq"]
    with pytest.raises(TraceError, match="no module named 'gru' was traced \\(traced: lstm\\)"):
        tr["gru"]
    with pytest.raises(TraceError, match=r"layer 1 does not exist: the LSTM has 1 layer \(valid: 0\)"):
        tr["lstm"][1]
    with pytest.raises(TraceError, match="the LSTM is not bidirectional"):
        tr["lstm"][0, "reverse"]
    with pytest.raises(TraceError, match="direction must be 'forward' or 'reverse'"):
        tr["lstm"][0, "sideways"]
    assert tr[m] is tr["lstm"] and tr["lstm", 0, "forward"] is tr["lstm"][0]


def test_model_names_keep_last_and_several_modules():
    rng = seeded_rng("trace names")
    from bptt.examples.belling_the_cat import BellingTheCat

    model = BellingTheCat("bimulti", 10)
    x = np.zeros((3, 1, 10))
    x[[0, 1, 2], 0, [1, 4, 7]] = 1
    with bptt.trace(model, keep="last") as tr:
        for _ in range(3):
            model.zero_grad()
            logits = model(x)
            model.backward(rng.standard_normal(logits.shape))
    assert tr.names == ["lstm", "lstm_bw"]
    assert len(tr["lstm"].calls) == 1 and tr["lstm"].num_layers == 2
    for name, mod in (("lstm", model.lstm), ("lstm_bw", model.lstm_bw)):
        for lt in tr[name].layers():
            for pname, steps in lt.param_grad_steps().items():
                assert_close(steps.sum(0), dict(mod.named_parameters())[pname].grad, 1e-10, pname)
    with bptt.trace() as tr2:
        a, b = nn.GRU(2, 3, rng=0), nn.GRU(2, 3, rng=1)
        a(np.ones((2, 1, 2), np.float32))
        b(np.ones((2, 1, 2), np.float32))
        a(np.ones((4, 1, 2), np.float32))
    assert tr2.names == ["gru", "gru_1"] and len(tr2["gru"].calls) == 2 and tr2["gru"].layer(call=-1).T == 4
    assert tr2["gru"].forward["h"].dtype == np.float32  # the reference keeps the module's dtype


def test_npz_round_trip(tmp_path):
    rng = seeded_rng("trace npz")
    m = make("lstm", 3, 4, 2, True, rng)
    tr, _ = run_traced(m, T=4, B=2, rng=rng, lengths=np.array([4, 3]))
    path = tr.save(tmp_path / "run.npz")
    back = bptt.trace.load(path)
    assert back.names == tr.names
    for a, b in zip(tr.layers(), back.layers(), strict=True):
        assert (a.kind, a.layer, a.direction, a.T, a.B, a.meta, a.roles) == \
            (b.kind, b.layer, b.direction, b.T, b.B, b.meta, b.roles)
        assert np.array_equal(a.active, b.active)
        for group in ("forward", "backward"):
            sa, sb = getattr(a, group), getattr(b, group)
            assert sa.names == sb.names
            for n in sa.names:
                assert np.array_equal(sa[n], sb[n]), (group, n)
        for d1, d2 in ((a.params, b.params), (a.grads, b.grads), (a.final, b.final)):
            assert d1.keys() == d2.keys() and all(np.array_equal(d1[k], d2[k]) for k in d1)
        assert b.backward[1]["dc"].shape == (2, 4) and b.seed_name("dc") == "dCt"
    small = tr.save(tmp_path / "small.npz", weight_grads=False)
    assert "dW_ih" not in bptt.trace.load(small)["lstm"].backward and "dc" in bptt.trace.load(small)["lstm"].backward
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(Exception):  # noqa: B017 - numpy's own error for a corrupt file
        bptt.trace.load(tmp_path / "bad.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(2))
    with pytest.raises(ValueError, match="not a bptt trace file"):
        bptt.trace.load(tmp_path / "other.npz")
    np.savez(tmp_path / "old.npz", __meta__=np.array('{"format": "bptt.trace", "version": 1, "modules": []}'))
    with pytest.raises(ValueError, match=r"another version of bptt.trace \(file version 1, this one reads 2\)"):
        bptt.trace.load(tmp_path / "old.npz")


def test_debug_logging_prints_the_seed_names():
    rng = seeded_rng("trace log")
    m = make("lstm", 3, 5, 1, False, rng)
    x = rng.standard_normal((3, 1, 3))
    buf = io.StringIO()
    with bptt.trace.debug_logging(forward=True, backward=True, stream=buf) as tr:
        out, _ = m(x)
        m.backward(np.ones_like(out))
    text = buf.getvalue()
    for needle in ("bptt.trace.forward:", "bptt.trace.backward:", "Cproj (g)", "dHt (dh)", "dOt (do)",
                   "dCt (dc)", "dCprojt (dg)", "dFt (df)", "dIt (di)", "dHX (dz)", "dC_next (dc_next)",
                   "dh_next", "lstm layer 0 forward t=2", "shape (1, 5)"):
        assert needle in text, needle
    # the backward pass is printed from the last step back, as the seed's figures go
    assert text.index("forward t=2 dHt") < text.index("forward t=0 dHt")
    assert tr.modules == {}  # a logging-only trace keeps nothing
    assert bptt.trace.active() is None
    buf2 = io.StringIO()
    with bptt.trace.debug_logging(forward=False, backward=True, stream=buf2):
        out, _ = m(x)
        m.backward(np.ones_like(out))
    assert "bptt.trace.forward" not in buf2.getvalue() and "dCt (dc)" in buf2.getvalue()
    assert logging.getLogger("bptt.trace.backward").level == logging.NOTSET


def test_logging_through_standard_logging_config(caplog):
    m = make("gru", 2, 3, 1, False, seeded_rng("trace caplog"))
    with caplog.at_level(logging.DEBUG, logger="bptt.trace.backward"), bptt.trace():
        out, _ = m(np.ones((2, 1, 2)))
        m.backward(np.ones_like(out))
    msgs = [r.getMessage() for r in caplog.records if r.name == "bptt.trace.backward"]
    assert any("dHt (dh)" in s for s in msgs) and any(" dn " in s for s in msgs)
    assert not any(r.name == "bptt.trace.forward" for r in caplog.records)


def _spy(monkeypatch, modules, seen: list) -> None:
    for mod in modules:
        for fn in ("forward", "backward"):
            orig = getattr(mod, fn)

            def spy(*a, _orig=orig, _name=f"{mod.__name__}.{fn}", **k):
                seen.append((_name, k.get("record")))
                return _orig(*a, **k)

            monkeypatch.setattr(mod, fn, spy)


def test_tracing_off_runs_the_fused_ops_and_tracing_on_the_reference(monkeypatch):
    """Off: the fused ops run with record=None and the reference never runs. On: only the reference runs."""
    assert bptt.trace.active() is None
    seen: list = []
    _spy(monkeypatch, (F.lstm, F.gru, F.rnn, F.ln_lstm, R.lstm, R.gru, R.rnn, R.ln_lstm), seen)
    rng = seeded_rng("trace off")
    for kind, fast, ref in (("lstm", "lstm", "lstm"), ("gru", "gru", "gru"), ("rnn", "rnn", "rnn"),
                            ("lnlstm", "ln_lstm", "ln_lstm")):
        m = make(kind, 3, 4, 2, True, rng)
        x = rng.standard_normal((4, 2, 3))
        seen.clear()
        out, _ = m(x)
        m.backward(np.ones_like(out))
        assert {n for n, _ in seen} == {f"bptt.functional.{fast}.forward", f"bptt.functional.{fast}.backward"}
        assert len(seen) == 2 * 2 * 2 and all(r is None for _, r in seen), "tracing off must pass record=None"
        seen.clear()
        with bptt.trace():
            out2, _ = m(x)
            m.backward(np.ones_like(out2))
        ref_name = f"bptt.functional.reference.{ref}"
        assert {n for n, _ in seen} == {f"{ref_name}.forward", f"{ref_name}.backward"}
        assert all(r is not None for _, r in seen)
        assert_close(out2, out, 1e-12, f"{kind} traced output")
    assert bptt.trace.active() is None
    with bptt.trace() as outer:
        with bptt.trace() as inner:
            assert bptt.trace.active() is inner
        assert bptt.trace.active() is outer
    assert bptt.trace.active() is None


def test_the_package_is_callable_and_keeps_its_attributes():
    assert isinstance(bptt.trace(), bptt.trace.Trace) and bptt.trace is trace_pkg
    assert bptt.trace(keep="last").keep == "last"
    for name in trace_pkg.__all__:
        assert getattr(bptt.trace, name) is not None, name
    from bptt.trace import SEED_NAMES, load

    assert load is bptt.trace.load and SEED_NAMES["lstm"]["dg"] == "dCprojt"


def test_cell_kinds_table():
    """Every traced name is a field of the kind's reference; the table rejects clashes."""
    assert {k.name for k in KINDS.values()} >= {"lstm", "lnlstm", "gru", "rnn", "mingru", "minlstm"}
    for kind in KINDS.values():
        fields = set(kind.reference.StepGrads._fields) | set(kind.reference.StepCache._fields)
        assert set(kind.seed_names) <= fields, kind.name
        assert set(kind.log_forward) <= set(kind.reference.StepCache._fields), kind.name
        assert set(kind.log_backward) <= set(kind.reference.StepGrads._fields), kind.name
        assert {f for f, _ in kind.weight_steps.values()} <= set(kind.reference.StepGrads._fields), kind.name
        assert set(kind.flags.values()) <= set(kind.reference.SequenceCache._fields), kind.name
    assert kind_of("RNN_RELU").name == "rnn" and kind_of("LNLSTM").label == "LayerNormLSTM"
    with pytest.raises(ValueError, match="no cell kind is registered for layers of mode 'NoSuchCell'"):
        kind_of("NoSuchCell")
    with pytest.raises(ValueError, match="'lstm' is already registered"):
        register(CellKind("lstm", "LSTM", ("X",), R.lstm))
    with pytest.raises(ValueError, match="mode 'GRU' already belongs to the cell kind 'gru'"):
        register(CellKind("gru2", "GRU", ("GRU",), R.gru))


def test_bad_keep():
    with pytest.raises(ValueError, match="keep must be one of all, last, none"):
        bptt.trace(keep="some")

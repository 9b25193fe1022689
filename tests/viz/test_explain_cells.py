"""``bptt explain --checkpoint`` on language models of the cells beyond the LSTM family: a tiny minGRU and sLSTM
run trained by ``bptt.training`` get a page that names the cell and has that cell's own panels, with the traced
values; a cell the page does not draw is refused with one line naming the cells it draws."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

import bptt
from bptt import cli
from bptt.viz import explain as E

#: the panels each new kind's page has after dHt, in order (the reference's order)
PANELS = {
    "mingru": ["dAt", "dH_next", "dZt", "dHtilde", "dxt"],
    "slstm": ["dOt", "dCt", "dNt", "dCprojt", "dIt", "dFt", "dMt", "dLogIt", "dLogFt", "dHX", "dC_next"],
}
LABEL = {"mingru": "minGRU", "slstm": "sLSTM"}


def explain_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(["explain", *map(str, args)])
    return rc, out.getvalue(), err.getvalue()


def page_data(html: str) -> dict:
    m = re.search(r'<script type="application/json" id="bptt-data">(.*?)</script>', html, re.S)
    assert m, "the page embeds its data"
    return json.loads(m.group(1).replace("<\\/", "</"))


def panel(html: str, pid: str) -> str:
    return html.split(f'id="{pid}"')[1].split("</section>")[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Tiny word-level language models, 2 layers, trained for 3 steps, one per cell."""
    from bptt.training.lm import TrainConfig, train

    d = tmp_path_factory.mktemp("cells")
    words = "the cat sat on a mat while the dog ran to the big red ball".split()
    rng = np.random.default_rng(0)
    (d / "corpus.txt").write_text(" ".join(rng.choice(words, 300)), encoding="utf-8")
    out = {}
    for model in ("mingru", "slstm", "minlstm"):
        cfg = TrainConfig(corpus=str(d / "corpus.txt"), level="word", model=model, hidden_size=6, num_layers=2,
                          embedding_dim=4, seq_length=6, batch_size=4, steps=3, eval_every=3, sample_every=1000,
                          log_every=3, val_fraction=0.1)
        train(cfg, d / model)
        out[model] = d / model
    return out


@pytest.mark.parametrize("kind", ["mingru", "slstm"])
def test_checkpoint_page_names_the_cell_and_has_its_panels(tmp_path, runs, kind):
    out, npz = tmp_path / f"{kind}.html", tmp_path / f"{kind}.npz"
    rc, stdout, err = explain_cli("--checkpoint", runs[kind], "--out", out, "--length", "5", "--layer", "1",
                                  "--npz", npz)
    assert (rc, err) == (0, "") and f"wrote {out}" in stdout
    html = out.read_text(encoding="utf-8")
    assert f"Shown: <b>{LABEL[kind]} (module rnn), layer 1, forward direction, batch element 0</b>" in html
    assert f"{LABEL[kind]} language model: forward and backward" in html
    ids = [f"panel-{p}" for p in ["dHt", *PANELS[kind]]]
    assert re.findall(r'<section class="panel[^"]*" id="([^"]+)"', html) == (
        ["panel-forward-summary", "panel-flow-diagram", "panel-head", *ids, "panel-chain"])
    assert E.panel_ids(kind) == ["panel-forward-summary", "panel-flow-diagram", "panel-head", *ids, "panel-chain"]
    reference = {"mingru": "min_gru", "slstm": "slstm"}[kind]
    for pid in ids:
        sec = panel(html, pid)
        assert f"bptt/functional/reference/{reference}.py" in sec and re.search(r'<pre data-found="[1-9]', sec)
    # the values drawn are the traced ones, for the cell's own quantities
    lt = bptt.trace.load(npz)["rnn"][1]
    assert lt.kind == kind
    data = page_data(html)
    assert data["T"] == 5 and data["t"] == 4
    own = {"mingru": ("bw:da", "bw:dz", "bw:dh_tilde", "bw:dk_h", "fw:h_tilde"),
           "slstm": ("bw:dn", "bw:dm", "bw:dlog_f", "bw:da_f", "bw:dm_next", "fw:m", "fw:n")}[kind]
    for key in own:
        steps = lt.forward if key.startswith("fw:") else lt.backward
        np.testing.assert_allclose(data["values"][key], steps[key[3:]][:, 0, : E.CAP], rtol=1e-5, atol=1e-7)


def test_mingru_page_shows_weights_of_x_only(tmp_path, runs):
    """minGRU's gates read x_t only: its weight matrix and the per-step weight gradient have no h columns, and
    the gradient to step t-1 is dh ⊙ (1 − z), with no weight matrix."""
    out = tmp_path / "m.html"
    assert explain_cli("--checkpoint", runs["mingru"], "--out", out, "--length", "4")[0] == 0
    html = out.read_text(encoding="utf-8")
    summary = panel(html, "panel-forward-summary")
    assert "W_ih 12×4" in summary and "k<tspan" in summary and "h<tspan" in summary  # 2H x D; k_t; h_{t-1}
    dx = panel(html, "panel-dxt")
    assert "dW<tspan" in dx and "dk<tspan" in dx and "ᵀ x<tspan" in dx
    assert ">h<tspan" not in dx.split("this step&#x27;s share")[1], "no h_{t-1} columns in minGRU's dW"
    assert "<h2>dh_next back through time <span" in panel(html, "panel-chain")  # no cell state to carry
    nxt = panel(html, "panel-dH_next")
    assert "dh<sub>next</sub> = dh<sub>t</sub> ⊙ a<sub>t</sub> = dh<sub>t</sub> ⊙ (1 − z<sub>t</sub>)" in nxt
    assert "dh_next = dh * a" in nxt  # the reference's own line


def test_slstm_page_shows_the_stabiliser(tmp_path, runs):
    out = tmp_path / "s.html"
    assert explain_cli("--checkpoint", runs["slstm"], "--out", out, "--length", "4")[0] == 0
    html = out.read_text(encoding="utf-8")
    flow = panel(html, "panel-flow-diagram")
    for key in ("fw:m_prev", "fw:m", "fw:n_prev", "fw:n", "fw:h_tilde"):
        assert f'data-q="{key}"' in flow, key
    assert "max(log f + m<tspan" in flow
    assert "<h2>dh_next and dc_next back through time <span" in panel(html, "panel-chain")
    dm = panel(html, "panel-dMt")
    assert "dm = dm_next_in - di * i - df * f" in dm
    logf = panel(html, "panel-dLogFt")
    assert "forget_wins = log_f + m_prev &gt;= log_i" in logf and "⊙ (1 − σ(f̃))" in logf
    assert "[W_ih, R] 24×10" in panel(html, "panel-forward-summary")  # 4H x (D + H), R block-diagonal


def test_a_cell_the_page_does_not_draw_is_one_clear_line(tmp_path, runs):
    out = tmp_path / "n.html"
    rc, stdout, err = explain_cli("--checkpoint", runs["minlstm"], "--out", out)
    assert (rc, stdout) == (2, "") and err.count("\n") == 1
    assert err == (f"bptt explain: error: --checkpoint {runs['minlstm']}: its cell is minlstm, which bptt explain "
                   "cannot draw yet (it draws lstm, lnlstm, gru, rnn, mingru, slstm)\n")
    assert not out.exists()


def test_slstm_exponential_forget_gate_has_its_own_equation():
    rng = np.random.default_rng(2)
    pages = {}
    for forget_gate in ("sigmoid", "exp"):
        m = bptt.nn.SLSTM(3, 4, num_heads=2, forget_gate=forget_gate, dtype=np.float64, rng=0)
        with bptt.trace() as tr:
            out, _ = m(rng.standard_normal((3, 2, 3)))
            m.backward(rng.standard_normal(out.shape))
        pages[forget_gate] = E.render(E.Run(tr))
    for forget_gate, html in pages.items():
        eq = re.search(r'<p class="eq">(.*?)</p>', panel(html, "panel-dLogFt")).group(1)
        assert ("⊙ (1 − σ(f̃))" in eq) == (forget_gate == "sigmoid"), eq
        summary = re.search(r'<p class="eq">(.*?)</p>', panel(html, "panel-forward-summary")).group(1)
        assert ("log f = log σ(f̃)" if forget_gate == "sigmoid" else "log f = f̃;") in summary
        assert ('class="nodel" x="320.0" y="305.0" text-anchor="middle">exp<' in panel(html, "panel-flow-diagram")) \
            == (forget_gate == "exp")

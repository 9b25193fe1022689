"""The explain page as a student meets it, checked on the generated SVG: the flow diagram stays readable for any
hidden size (strips never run into each other or into a node, wires never cross a label, a long layer shows
"…"), the dense head always shows the target row and says which rows it shows, the header and the errors name
the cell, no raw ``_{...}`` braces reach the reader, the per-step weight gradient has axis labels, and a step the
loss does not read says so."""

from __future__ import annotations

import html as html_lib
import json
import re

import numpy as np
import pytest

import bptt
from bptt import nn
from bptt.cli import explain as explain_cmd
from bptt.viz import explain as E

#: every kind the page draws, built as an untrained layer (the tests below are parametrised over E.VIEWS)
MAKE = {"lstm": nn.LSTM, "lnlstm": nn.LayerNormLSTM, "gru": nn.GRU, "rnn": nn.RNN, "mingru": nn.MinGRU,
        "slstm": nn.SLSTM}
CHAR_W = 6.6  # width of a character of the diagram's 11-12 px labels (DejaVu Sans), generous


def traced(kind: str, H: int, T: int = 4, B: int = 2):
    make = MAKE[kind]
    m = make(3, H, dtype=np.float64, rng=0)
    rng = np.random.default_rng(0)
    with bptt.trace() as tr:
        out, _ = m(rng.standard_normal((T, B, 3)))
        m.backward(rng.standard_normal(out.shape))
    return tr


def panel(html: str, pid: str) -> str:
    return html.split(f'id="{pid}"')[1].split("</section>")[0]


def boxes(svg: str) -> dict[str, list[tuple[float, float, float, float]]]:
    """Bounding boxes (x0, y0, x1, y1) of the flow diagram's strips (one per quantity), nodes and labels, and its
    wire segments."""
    strips: dict[str, list[float]] = {}
    for x, y, w, h, key in re.findall(r'<rect class="c" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" '
                                      r'height="([\d.]+)"[^>]*data-q="([^"]+)"', svg):
        x, y, w, h = map(float, (x, y, w, h))
        b = strips.setdefault(key, [x, y, x + w, y + h])
        b[:] = [min(b[0], x), min(b[1], y), max(b[2], x + w), max(b[3], y + h)]
    nodes = [(float(x), float(y), float(x) + float(w), float(y) + float(h)) for x, y, w, h in
             re.findall(r'<rect class="(?:gate|state|cat)" x="([-\d.]+)" y="([-\d.]+)" width="([\d.]+)" '
                        r'height="([\d.]+)"', svg)]
    nodes += [(float(cx) - 15, float(cy) - 15, float(cx) + 15, float(cy) + 15)
              for cx, cy in re.findall(r'<circle class="op" cx="([-\d.]+)" cy="([-\d.]+)"', svg)]
    labels = []
    for x, y, anchor, inner in re.findall(r'<text class="sub" x="([\d.]+)" y="([\d.]+)" text-anchor="(\w+)"'
                                          r'[^>]*>(.*?)</text>', svg):
        n = len(html_lib.unescape(re.sub(r"<[^>]+>", "", inner)).replace("\u200b", ""))
        w, x, y = n * CHAR_W, float(x), float(y)
        x0 = x if anchor == "start" else (x - w / 2 if anchor == "middle" else x - w)
        labels.append((x0, y - 10, x0 + w, y + 3))
    wires = []
    for d in re.findall(r'<path class="wire" d="([^"]+)"', svg):
        pts = [tuple(map(float, p.split(","))) for p in re.findall(r"[-\d.]+,[-\d.]+", d)]
        wires += list(zip(pts[:-1], pts[1:]))
    return {"strips": [tuple(b) for b in strips.values()], "nodes": nodes, "labels": labels, "wires": wires}


def overlap(a, b, pad: float = 1.0) -> bool:
    return a[0] < b[2] - pad and b[0] < a[2] - pad and a[1] < b[3] - pad and b[1] < a[3] - pad


def crosses(seg, box) -> bool:
    """Whether a straight wire segment passes through the inside of a box (sampled densely)."""
    (x1, y1), (x2, y2) = seg
    for s in np.linspace(0, 1, 200):
        x, y = x1 + s * (x2 - x1), y1 + s * (y2 - y1)
        if box[0] + 1 < x < box[2] - 1 and box[1] + 1 < y < box[3] - 1:
            return True
    return False


@pytest.mark.parametrize("kind", list(E.VIEWS))
@pytest.mark.parametrize("H", [5, 256])
def test_flow_diagram_stays_readable_for_any_hidden_size(kind, H):
    html = E.render(E.Run(traced(kind, H)))
    svg = panel(html, "panel-flow-diagram")
    b = boxes(svg)
    assert len(b["strips"]) >= 3 and len(b["nodes"]) >= 5
    for i, s in enumerate(b["strips"]):
        for other in b["strips"][i + 1:]:
            assert not overlap(s, other), f"{kind} H={H}: two strips run into each other {s} {other}"
        for node in b["nodes"]:
            assert not overlap(s, node), f"{kind} H={H}: a strip runs into a node {s} {node}"
        for lab in b["labels"]:
            assert not overlap(s, lab), f"{kind} H={H}: a strip runs into a label {s} {lab}"
        for seg in b["wires"]:
            assert not crosses(seg, s), f"{kind} H={H}: a wire runs through the strip at {s}: {seg}"
    for lab in b["labels"]:
        for node in b["nodes"]:
            assert not overlap(lab, node), f"{kind} H={H}: a label sits on a node {lab} {node}"
        for seg in b["wires"]:
            assert not crosses(seg, lab), f"{kind} H={H}: a wire crosses the label at {lab}: {seg}"
    assert all(s[2] - s[0] <= 8 * 11 for s in b["strips"])
    more = svg.count('class="more"')
    assert (more == len(b["strips"])) if H > 8 else (more == 0), "a visible … exactly where units are left out"
    text = "the first 8 of its 256 units; … marks the rest" if H > 8 else f"all {H} units"
    assert text in svg


def test_the_head_always_shows_the_target_row_and_says_which_rows():
    """V = 40 > 24 rows: the target is the least probable token at every step, and is still shown, marked."""
    tr = traced("lstm", 6, T=3, B=1)
    h = tr["lstm"][0].forward["h"]
    V = 40
    rng = np.random.default_rng(1)
    W = rng.standard_normal((V, 6))
    logits = h @ W.T
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    target = np.zeros_like(probs)
    worst = probs.argmin(-1)[:, 0]
    target[np.arange(3), 0, worst] = 1.0
    head = {"weight": W, "bias": np.zeros(V), "logits": logits, "probs": probs, "target": target,
            "dlogits": (probs - target) / 3, "labels": [f"w{i}" for i in range(V)], "loss_steps": [0, 1, 2]}
    html = E.render(E.Run(tr, head=head))
    data = re.search(r'id="bptt-data">(.*?)</script>', html, re.S).group(1)
    d = json.loads(data.replace("<\\/", "</"))
    for t in range(3):
        labels = d["labels"]["head:labels"][t]
        assert len(labels) == E.CAP and f"w{worst[t]} ◀" in labels
        k = labels.index(f"w{worst[t]} ◀")
        assert d["values"]["head:target"][t][k] == 1.0 and sum(d["values"]["head:target"][t]) == 1.0
        order = np.argsort(-probs[t, 0], kind="stable")[: E.CAP - 1]
        assert labels[: E.CAP - 1] == [f"w{i}" for i in order]
    sec = " ".join(panel(html, "panel-head").split())
    assert "Rows: at each step the 24 most probable of the V = 40 tokens, the target (◀) always among them" in sec


def test_every_drawn_kind_is_tested_here():
    assert set(MAKE) == set(E.VIEWS) == {"lstm", "lnlstm", "gru", "rnn", "mingru", "slstm"}


def test_header_and_errors_name_the_cell(tmp_path):
    html = E.render(explain_cmd.seed_run())
    assert "Shown: <b>LSTM (module lstm), layer 0, forward direction, batch element 0</b>" in html
    with pytest.raises(E.ExplainError, match=r"--layer 3 does not exist: the GRU \(module gru\) has 1 layer"):
        E.render(E.Run(traced("gru", 4)), layer=3)


@pytest.mark.parametrize("kind", list(E.VIEWS))
def test_no_raw_subscript_braces_reach_the_reader(kind):
    html = E.render(E.Run(traced(kind, 5)))
    body = html.split("<main>")[1].split("</main>")[0]
    visible = re.sub(r"<[^>]+>", "", re.sub(r'<aside class="src">.*?</aside>', "", body, flags=re.S))
    assert "_{" not in visible and "^{" not in visible and "{t" not in visible, re.findall(r".{20}[_^]\{.{10}",
                                                                                         visible)[:3]


def test_weight_gradient_has_axis_labels_and_says_why_columns_are_zero():
    run = explain_cmd.seed_run()  # one-hot inputs, h_{t-1} = 0 at t = 0
    html = E.render(run, step=0)
    sec = panel(html, "panel-dHX")
    assert "this step&#x27;s share of the weight gradient" in sec
    for block in ("i", "f", "g", "o"):
        assert f'text-anchor="end">{block}</text>' in sec, block
    assert 'class="rule"' in sec and "x<tspan" in sec and "h<tspan" in sec
    assert "9 of the 10 x columns shown are zero because the input is zero there (one-hot)" in sec
    assert "the h columns are zero because the previous hidden state is 0 at this step" in sec
    assert "colours scaled per step" in sec
    assert re.search(r'"bw:dW":\[[\d.e+-]+(,[\d.e+-]+)+\]', html), "the dW colours are scaled per step"


def test_a_step_the_loss_does_not_read_says_so():
    run = explain_cmd.seed_run()  # the loss reads only the last of the 3 steps
    html = E.render(run, step=0)
    sec = panel(html, "panel-head")
    assert "all zero at t = 0: the loss does not read this step" in sec
    assert re.search(r'"head:why":\[\["all zero at t = 0[^"]*"\],\["all zero at t = 1[^"]*"\],\[""\]\]', html)

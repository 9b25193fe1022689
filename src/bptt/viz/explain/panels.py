"""The panels every page has, drawn from a :class:`~.spec.KindView` and a recorded layer: the forward summary
with weights (seed figure 1), the flow diagram (figure 2), the dense head's gradients (figures 8–11), one panel
per backward quantity with the reference's own source lines (figures 12–31), the chain back through time
(figure 7) and the gradient-flow pictures."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from .run import Run
from .source import quote, source_file
from .spec import NEXT, T_, KindView, PanelSpec
from .svg import Svg, esc, label_html, number
from .widgets import CAP, CAP_M, STRIP, PageData, Sampled, sample_blocks

__all__ = ["backward_panel", "chain_panel", "flow_diagram", "flow_images_panel", "forward_summary", "head_panel",
           "section"]


def section(pid: str, title: str, seed: str, body: str, cls: str = "") -> str:
    return f'<section class="panel {cls}" id="{pid}" data-seed="{esc(seed)}"><h2>{title}</h2>{body}</section>'


def weight_sampling(view: KindView, lt: Any) -> Sampled:
    """The rows (a few of every gate block) and columns (a few of x_t's and of h_{t-1}'s) the page shows of the
    kind's weight matrix and of its per-step gradient."""
    W, _ = view.weights(lt)
    D, P = lt.forward["x"].shape[2], lt.forward["h_prev"].shape[2]
    groups = (("x_{t}", D), ("h_{t−1}", P)) if view.recurrent_weights else (("x_{t}", D),)
    return sample_blocks(W.shape[0], view.gate_blocks, groups)


def forward_summary(page: PageData, run: Run, view: KindView, lt: Any, b: int, head: dict | None) -> str:
    fw = lt.forward
    svg = Svg()
    x0, y0 = 10, 40
    D = fw["x"].shape[2]
    P = fw["h_prev"].shape[2]
    labels_x = run.input_labels[:CAP] if (run.input_labels and lt.layer == 0) else None
    # row 1: inputs -> weights -> pre-activations -> gates
    w, h1 = page.vector(svg, "fw:x", None, x0, y0, label="x_{t}", row_labels=labels_x, total=D, cw=52)
    xx = x0 + w + 18
    w2, h2 = page.vector(svg, "fw:h_prev", None, xx, y0, label="h_{t−1}", total=P, cw=52)
    xx += w2 + 16
    svg.arrow(xx, y0 + 40, xx + 26, y0 + 40, curve=False)
    xx += 46
    W, wname = view.weights(lt)
    sampled = weight_sampling(view, lt)
    mw, mh = page.blocked_matrix(svg, None, W[sampled.rows][:, sampled.cols], sampled, xx, y0 - 12,
                                 label=f"{wname} {W.shape[0]}×{W.shape[1]}", cw=9, ch=9)
    xx += mw + 16
    svg.arrow(xx, y0 + 40, xx + 26, y0 + 40, curve=False)
    xx += 40
    hrow = max(h1, h2, mh)
    pre = view.pre_activation
    if pre in fw:
        aw, ah = page.vector(svg, f"fw:{pre}", None, xx, y0, label=f"{pre}_{{t}} (pre-activation)",
                             total=fw[pre].shape[2], cw=56, ch=15)
        hrow = max(hrow, ah)
        xx += aw + 16
        svg.arrow(xx, y0 + 40, xx + 26, y0 + 40, curve=False)
        xx += 40
    for key, lab in view.gates:
        gw, gh = page.vector(svg, key, None, xx, y0, label=lab, total=fw[key[3:]].shape[2], cw=56)
        hrow = max(hrow, gh)
        xx += gw + 12
    # row 2: states -> head
    y1 = y0 + hrow + 60
    xx = x0
    for key, lab in view.states:
        sw, _ = page.vector(svg, key, None, xx, y1, label=lab, total=fw[key[3:]].shape[2], cw=56)
        xx += sw + 14
    if head is not None:
        xx += 6
        svg.arrow(xx, y1 + 40, xx + 26, y1 + 40, curve=False)
        xx += 44
        V = head["logits"].shape[-1]
        Wy = np.asarray(head["weight"])
        hw, _ = page.matrix(svg, None, Wy[:CAP_M, :CAP_M], xx, y1, label=f"W_{{y}} {Wy.shape[0]}×{Wy.shape[1]}",
                            cw=11, ch=11, full_shape=Wy.shape)
        xx += hw + 16
        svg.arrow(xx, y1 + 40, xx + 26, y1 + 40, curve=False)
        xx += 40
        lw, lh = page.vector(svg, "head:logits", None, xx, y1, label="pred (logits)", cw=58)
        if V > page.values["head:logits"].shape[1]:
            svg.text(xx, y1 + lh + 13, f"rows: the {page.values['head:logits'].shape[1]} most probable of V = {V} "
                     "at this step, the target (◀) among them", "more")
        xx += lw + 12
        pw, _ = page.vector(svg, "head:probs", None, xx, y1, label="softmax", cw=58)
        page.row_labels(svg, xx + pw + 6, y1, "head:labels")
    body = (
        '<p class="eq">' + view.forward_equations(lt) + "</p>"
        f'<p class="shape">Values at <span class="tcur">t = {page.t}</span>, batch element {b}; every vector is '
        f'drawn as a column, as in the seed{" (&quot;(5X1) in this example&quot;)" if run.seed_example else ""}. '
        f'Colours: blue negative, red positive, scaled per quantity over all steps.</p>'
        f'<div class="scroll">{svg.render(label="forward summary with weights")}</div>'
    )
    return section("panel-forward-summary", "Forward propagation: summary with weights "
                   '<span class="seedref">(seed figure 1)</span>', "figure-1", body)


def flow_diagram(page: PageData, view: KindView, lt: Any, b: int) -> str:
    svg = Svg()
    eq = view.flow(page, svg, lt)
    H = lt.forward["h"].shape[2]
    shown = f"the first {STRIP} of its {H} units; … marks the rest" if H > STRIP else f"all {H} units"
    body = (f'<p class="eq">{label_html(eq)}</p><p class="shape">The cell at <span class="tcur">t = {page.t}</span>, '
            f'batch element {b}: the strip beside each node holds its values ({shown}).</p>'
            f'<div class="scroll">{svg.render(label="flow diagram of one cell")}</div>')
    return section("panel-flow-diagram", 'Forward propagation: one cell as a flow diagram '
                   '<span class="seedref">(seed figure 2)</span>', "figure-2", body)


def head_panel(page: PageData, lt: Any, head: dict) -> str:
    svg = Svg()
    V = head["logits"].shape[-1]
    n = page.values["head:probs"].shape[1]
    P = lt.forward["h"].shape[2]
    y0, ch = 40, 19
    x = 10
    for key, label, cw in (("head:probs", "softmax p", 58), ("head:target", "target y", 58),
                           ("head:dlogits", "dpred = DBy", 66)):
        w, _ = page.vector(svg, key, None, x, y0, label=label, cw=cw, ch=ch)
        x += w + 12
    page.row_labels(svg, x - 6, y0, "head:labels", ch=ch)
    x += 7 * max((len(s) for s in head["labels"]), default=4) + 30
    m = min(P, CAP_M)
    mw, _ = page.matrix(svg, "head:dWy", np.zeros((n, m)), x, y0, label="DWy = dpred hᵀ", cw=14, ch=ch)
    if P > m:
        svg.text(x, y0 + n * ch + 12, f"columns: the first {m} of h's {P} units", "more")
    dl = page.values["head:dlogits"]
    page.step_text(svg, x, y0 + n * ch + 26, "head:why",
                   ["" if np.any(dl[t]) else f"all zero at t = {t}: the loss does not read this step"
                    for t in range(page.T)], "more")
    x += max(mw, 330) + 24
    page.vector(svg, "head:dy", None, x, y0, label="dy_{t} = W_{y}ᵀ dpred", total=P, cw=66)
    steps = head.get("loss_steps", [])
    note = ("the loss reads only the last step here (the seed's window), so dpred, DWy and dy_t are zero "
            "elsewhere" if len(steps) == 1 else "the loss is the mean over all steps")
    rows = (f"all V = {V} tokens, the target marked ◀" if V <= CAP else
            f"at each step the {n} most probable of the V = {V} tokens, the target (◀) always among them")
    body = (f'<p class="eq">dpred = (softmax(pred) − y) / N, DBy = Σ dpred, DWy = Σ dpred h<sub>t</sub>'
            f'<sup>⊤</sup>, dy{T_} = W<sub>y</sub><sup>⊤</sup> dpred</p>'
            f'<p class="shape">The feed-forward layer on top ("step 1" of the seed, its figures 8–11), at '
            f'<span class="tcur">t = {page.t}</span>; {note}. Only gradients are computed here; the optimizer '
            f'updates the weights once, at the end. Rows: {rows}.</p>'
            f'<div class="scroll">{svg.render(label="dense layer gradients")}</div>')
    return section("panel-head", 'Step 1: the feed-forward layer <span class="seedref">(DBy, DWy)</span>',
                   "figure-8", body)


def source_aside(view: KindView, spec: PanelSpec) -> str:
    """The reference's own lines that assign the panel's quantities (located with ast, see :mod:`.source`)."""
    lines = quote(view.reference, view.function, spec.quote)
    code = []
    for k, line in enumerate(lines):
        if k and line.lineno > lines[k - 1].lineno + 1:
            code.append('<span class="gap">⋮</span>')
        pad = " " * line.indent
        comment = f'<span class="cm">{pad}# {esc(line.comment)}</span>\n' if line.comment else ""
        code.append(f'{comment}<span class="ln">{line.lineno}</span>{pad}{esc(line.code)}')
    return (f'<aside class="src"><div class="srchead">the textbook: <code>{source_file(view.reference)}</code>, '
            f'<code>{view.function}</code></div><pre data-found="{len(lines)}">{"".join(c + chr(10) for c in code)}'
            f'</pre></aside>')


def backward_panel(page: PageData, run: Run, view: KindView, lt: Any, spec: PanelSpec, b: int) -> str:
    svg = Svg()
    y0 = 40
    x = 10
    tops: list[tuple[float, float]] = []
    hmax = 0.0
    for key, label in spec.inputs:
        if key == "param:W":
            W, _ = view.weights(lt)
            sampled = weight_sampling(view, lt)
            w, h = page.blocked_matrix(svg, None, W[sampled.rows][:, sampled.cols], sampled, x, y0 - 12,
                                       label=label, cw=9, ch=9)
        elif key.startswith("param:"):
            W = lt.param(key[6:])
            w, h = page.matrix(svg, None, W[:CAP_M, :CAP_M], x, y0, label=label, cw=8, ch=8, full_shape=W.shape)
        else:
            steps = lt.forward if key.startswith("fw:") else lt.backward
            w, h = page.vector(svg, key, None, x, y0, label=label, total=steps[key[3:]].shape[2])
        tops.append((x + w / 2, y0 + h))
        hmax = max(hmax, h)
        x += max(w, 7.0 * len(label)) + 30
    width_in = x - 30
    bx, by = max(width_in / 2, 60), y0 + hmax + 42
    svg.add(f'<circle class="op" cx="{bx:.1f}" cy="{by:.1f}" r="17"/>', bx + 17, by + 17)
    svg.text(bx, by + 5, spec.op, "opl", "middle")
    for tx, ty in tops:
        svg.arrow(tx, ty + 4, bx, by - 19)
    ry = by + 62
    gap = 140.0
    total_w = 62.0 * len(spec.results) + gap * (len(spec.results) - 1)
    rx = max(10.0, bx - total_w / 2)
    for key, label in spec.results:
        rw, rh = page.vector(svg, key, None, rx, ry, label=label, total=lt.backward[key[3:]].shape[2], hl=True)
        svg.arrow(bx, by + 19, page.center, ry - 22)
        if spec.second and key == spec.results[0][0]:
            skey, slabel, sop = spec.second
            sx = rx + rw + 120
            svg.arrow(rx + rw + 8, ry + 20, sx - 8, ry + 20, curve=False)
            svg.text((rx + rw + sx) / 2, ry + 12, sop, "opt", "middle")
            page.vector(svg, skey, None, sx, ry, label=slabel, total=lt.backward[skey[3:]].shape[2])
        rx += 62.0 + gap
    if spec.weight:
        sampled = weight_sampling(view, lt)
        rows, cols = sampled.full
        wy = svg.h + 34
        _, mh = page.blocked_matrix(svg, "bw:dW", None, sampled, 10, wy, cw=14, ch=11,
                                    label=f"this step's share of the weight gradient, dW_{{t}} = {view.weight_grad} "
                                          f"({rows}×{cols}, summed over the batch; Σ over t = dW)")
        maxes = np.abs(page.values["bw:dW"]).max(axis=1, initial=0.0)
        page.step_text(svg, 10, wy + mh + 12, "bw:dW:max",
                       [f"colours scaled per step: the largest entry shown at t = {k} is {number(m)}"
                        for k, m in enumerate(maxes)])
        page.step_text(svg, 10, wy + mh + 28, "bw:dW:why", _zero_columns(lt, sampled))
    arr = lt.backward[spec.q] if spec.q in lt.backward else None
    shape = tuple(arr.shape[1:]) if arr is not None else ()
    col = f"({shape[-1]}X1)" if shape else ""
    title = (f'<span class="seedname">{spec.seed}</span> <span class="bpttname">bptt: '
             f'<code>{esc(spec.q)}</code></span>')
    body = (
        f'<div class="pbody"><div class="pfig"><p class="eq">{spec.equation(lt)}</p>'
        f'<p class="shape">Shape {shape} = (B, {shape[-1] if shape else "?"}); at batch element {b}: '
        f'<b>{col}</b>{" in this example, as in the seed" if run.seed_example else ""}. Values at '
        f'<span class="tcur">t = {page.t}</span>.</p>'
        f'<div class="scroll">{svg.render(label=spec.seed)}</div>'
        f'<p class="note">{label_html(spec.note)}</p></div>{source_aside(view, spec)}</div>'
    )
    return section(f"panel-{spec.seed}", title, spec.seed, body, "bw")


def _zero_columns(lt: Any, sampled: Sampled) -> list[str]:
    """Per step, why whole columns of dW_t = da_tᵀ z_t are zero: z_t = [x, h_prev] (or x alone, for a cell whose
    gates read x_t only) is zero there over the whole batch. (Plain text: the step switch replaces it.)"""
    x, hp = lt.forward["x"], lt.forward["h_prev"]
    nx = sampled.col_groups[0][1]
    nh = sampled.col_groups[1][1] if len(sampled.col_groups) > 1 else 0
    out = []
    for t in range(lt.T):
        zero_x = int((~x[t, :, :nx].any(axis=0)).sum())
        parts = []
        if zero_x:
            parts.append(f"{zero_x} of the {nx} x columns shown are zero because the input is zero there"
                         + (" (one-hot)" if zero_x == nx - 1 else ""))
        zero_h = int((~hp[t, :, :nh].any(axis=0)).sum())
        if nh and zero_h == nh:
            parts.append("the h columns are zero because the previous hidden state is 0 at this step")
        elif nh and zero_h:
            parts.append(f"{zero_h} of the {nh} h columns shown are zero because the previous hidden state is "
                         "zero there")
        out.append("; ".join(parts) + ("." if parts else ""))
    return out


def _per_seq_norm(a: np.ndarray, b: int) -> np.ndarray:
    v = np.asarray(a[:, b], dtype=np.float64)
    return np.sqrt((v * v).sum(axis=-1))


def chain_panel(page: PageData, run: Run, lt: Any, b: int) -> str:
    bw = lt.backward
    T = lt.T
    has_c = "dc" in bw
    dh_n = _per_seq_norm(bw["dh"], b)
    dc_n = _per_seq_norm(bw["dc"], b) if has_c else None
    hn_out = _per_seq_norm(bw["dh_next"], b)
    cn_out = _per_seq_norm(bw["dc_next"], b) if has_c else None
    svg = Svg()
    bwid = 118 if T <= 12 else max(40, 1400 / T)
    gap = 92 if T <= 8 else (40 if T <= 12 else 14)
    y0 = 30
    order = list(lt.backward_order)
    for t in range(T):  # boxes in time order; arrows follow the backward pass
        x = 10 + t * (bwid + gap)
        tok = f" · {run.tokens[t]}" if (run.tokens and t < len(run.tokens) and T <= 12) else ""
        svg.add(f'<rect class="stepbox{" cur" if t == page.t else ""}" data-step="{t}" x="{x:.1f}" y="{y0}" '
                f'width="{bwid:.1f}" height="86" rx="6"/>', x + bwid, y0 + 86)
        svg.text(x + bwid / 2, y0 + 16, f"t = {t}{tok}", "boxl", "middle")
        if T <= 12:
            svg.text(x + 8, y0 + 40, f"‖dh‖ {number(dh_n[t])}", "small")
            if has_c:
                svg.text(x + 8, y0 + 58, f"‖dc‖ {number(dc_n[t])}", "small")
            svg.text(x + 8, y0 + 76, f"visit #{order.index(t) + 1}", "small")
    for k in range(len(order) - 1):
        a, c = order[k], order[k + 1]
        xa = 10 + a * (bwid + gap) + (0 if c < a else bwid)
        xc = 10 + c * (bwid + gap) + (bwid if c < a else 0)
        svg.arrow(xa, y0 + 30, xc, y0 + 30, "arw carry", curve=False)
        if has_c:
            svg.arrow(xa, y0 + 62, xc, y0 + 62, "arw carryc", curve=False)
        if gap >= 80:  # the carried gradients' norms on the arrows
            mid = (xa + xc) / 2
            svg.text(mid, y0 + 24, f"dh_next {number(hn_out[a])}", "tiny", "middle")
            if has_c:
                svg.text(mid, y0 + 56, f"dc_next {number(cn_out[a])}", "tiny", "middle")
    if T <= 12:
        svg.text(10, y0 + 110, "arrows: dh_next (top) and dc_next (bottom) carried to the step visited next"
                 if has_c else "arrows: dh_next carried to the step visited next", "small")
    cy, ch = y0 + 150, 130  # the norm curves
    cw = max(T * (bwid + gap) - gap, 300)
    svg.add(f'<rect class="plot" x="10" y="{cy}" width="{cw:.1f}" height="{ch}"/>', 10 + cw, cy + ch)
    series = [("‖dL/dh_t‖", dh_n, "#b2182b")] + ([("‖dL/dc_t‖", dc_n, "#2166ac")] if has_c else [])
    vmax = max(float(np.max(s)) for _, s, _ in series) or 1.0
    for idx, (lab, s, colr) in enumerate(series):
        pts = [(10 + t * (bwid + gap) + bwid / 2, cy + ch - 8 - (ch - 16) * float(s[t]) / vmax) for t in range(T)]
        d = "M" + " L".join(f"{px:.1f},{py:.1f}" for px, py in pts)
        svg.add(f'<path d="{d}" fill="none" stroke="{colr}" stroke-width="2"/>')
        for px, py in pts:
            svg.add(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colr}"/>')
        svg.text(18, cy + 16 + 15 * idx, lab, "small", extra=f' style="fill:{colr}"')
    svg.text(10, cy + ch + 16, f"max {number(vmax)}; batch element {b}", "small")
    body = (f'<p class="eq">dh{T_} = dy{T_} + dh{NEXT}(t+1)' + (f", dc{T_} = dc{NEXT}(t+1) + …" if has_c else "")
            + f'</p><p class="shape">The backward pass visits the steps in the order {" → ".join(map(str, order))}, '
            f'carrying dh_next{" and dc_next" if has_c else ""} from each step to the next one it visits (the seed: '
            f'"repeat for remaining time steps"). Below: the gradient norms per step, the vanishing-gradient '
            f'picture of this run.</p><div class="scroll">{svg.render(label="chain through time")}</div>')
    carried = "dh_next and dc_next" if has_c else "dh_next"
    return section("panel-chain", f"{carried} back through time "
                   '<span class="seedref">(seed figure 7)</span>', "figure-7", body)


def flow_images_panel(images: dict[str, bytes]) -> str:
    imgs = "".join(
        f'<figure><img alt="{esc(name)}" src="data:image/png;base64,{base64.b64encode(png).decode()}"/>'
        f"<figcaption>{esc(name)}</figcaption></figure>" for name, png in images.items())
    body = ('<p class="shape">‖dL/dh_t‖ and ‖dL/dc_t‖ over t for the recurrent cells of '
            '<code>bptt.examples.gradient_flow</code> on the same data with the loss at the last step (first '
            'picture), and the per-gate gradient norms over training (second); see <code>bptt.viz.flow</code>.</p>'
            + f'<div class="flowimgs">{imgs}</div>')
    return section("panel-gradient-flow", "Gradient flow: the recurrent cells compared", "flow", body)

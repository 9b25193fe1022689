"""Page assembly: :func:`render` checks what is asked for, binds the recorded values of every time step, draws
the panels of the layer's cell kind and fills the template with the style and the script (package data in
``static/``)."""

from __future__ import annotations

import json
from importlib import resources
from string import Template
from typing import Any

import numpy as np

from ...trace import TraceError
from . import panels
from .kinds import view as kind_view
from .run import ExplainError, Run
from .spec import KindView
from .svg import esc
from .widgets import CAP, CAP_M, PageData

__all__ = ["panel_ids", "render", "static_text"]


def static_text(name: str) -> str:
    """One of the page's static files (``explain.css``, ``explain.js``, ``page.html``)."""
    return resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def panel_ids(kind: str, head: bool = True, flow: bool = False) -> list[str]:
    """The ids of the panels a page for ``kind`` has, in order."""
    return [pid for pid, _ in _toc(kind_view(kind), head, flow)]


def _toc(view: KindView, head: bool, flow: Any) -> list[tuple[str, str]]:
    out = [("panel-forward-summary", "Forward summary"), ("panel-flow-diagram", "Flow diagram")]
    if head:
        out.append(("panel-head", "Step 1: dense"))
    out += [(f"panel-{p.seed}", p.seed) for p in view.panels]
    out.append(("panel-chain", "Back through time"))
    if flow:
        out.append(("panel-gradient-flow", "Gradient flow"))
    return out


def render(run: Run, *, step: int | None = None, layer: int = 0, direction: int | str = "forward",
           batch_index: int = 0, flow_images: dict[str, bytes] | None = None) -> str:
    """The HTML page for one layer, direction, batch element and (initially shown) time step of ``run``."""
    tr = run.trace
    name = run.module or next(iter(tr.names), None)
    if name is None or name not in tr:
        raise ExplainError(f"the trace holds no recurrent module {name!r} (traced: {', '.join(tr.names) or 'none'})")
    mt = tr[name]
    lt = _layer(mt, layer, direction)
    if lt.backward is None:
        raise ExplainError(f"{name} layer {layer}: no backward pass was recorded")
    view = kind_view(lt.kind)
    T, B = lt.T, lt.B
    t = _check_index(step, T, "--step", "the sequence has T={n} time step{s}", default=lt.backward_order[0])
    b = _check_index(batch_index, B, "--batch-index", "the batch has B={n} sequence{s}", default=0)
    page = PageData(T, t)
    head = run.head if (run.head is not None and lt.layer == mt.num_layers - 1) else None
    _bind_all(page, view, lt, b, head)
    sections = [panels.forward_summary(page, run, view, lt, b, head), panels.flow_diagram(page, view, lt, b)]
    if head is not None:
        sections.append(panels.head_panel(page, lt, head))
    sections += [panels.backward_panel(page, run, view, lt, spec, b) for spec in view.panels]
    sections.append(panels.chain_panel(page, run, lt, b))
    if flow_images:
        sections.append(panels.flow_images_panel(flow_images))
    page.expected = len(sections)
    data = json.dumps(page.script_data(), separators=(",", ":"))
    where = (f"{view.label} (module {name}), layer {lt.layer}, {'reverse' if lt.direction else 'forward'} "
             f"direction, batch element {b}")
    steps_nav = "".join(
        f'<button type="button" class="stepbtn{" cur" if k == t else ""}" data-step="{k}">t = {k}'
        f'{(" · " + esc(run.tokens[k])) if run.tokens and k < len(run.tokens) else ""}</button>'
        for k in range(T))
    toc = "".join(f'<a href="#{pid}">{esc(label)}</a>' for pid, label in _toc(view, head is not None, flow_images))
    return Template(static_text("page.html")).substitute(
        title=esc(f"{run.title} — t = {t}"), css=static_text("explain.css"), h1=esc(run.title),
        desc=run.description, where=esc(where), T=T, steps=steps_nav, toc=toc, sections="\n".join(sections),
        data=data.replace("</", "<\\/"), script=static_text("explain.js"),
        order=" → ".join(str(k) for k in lt.backward_order),
    )


def _layer(mt: Any, layer: Any, direction: Any) -> Any:
    what = f"the {mt.label} (module {mt.name})"
    if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < mt.num_layers:
        valid = "0" if mt.num_layers == 1 else f"0..{mt.num_layers - 1}"
        raise ExplainError(f"--layer {layer} does not exist: {what} has {mt.num_layers} "
                           f"layer{'s' if mt.num_layers != 1 else ''} (valid: {valid})")
    d = {"forward": 0, "reverse": 1}.get(direction, direction) if isinstance(direction, str) else direction
    if d not in (0, 1) or isinstance(d, bool):
        raise ExplainError(f"--direction must be 'forward' or 'reverse', got {direction!r}")
    if d >= mt.num_directions:
        raise ExplainError(f"--direction reverse does not exist: {what} is not bidirectional (valid: forward)")
    try:
        return mt.layer(int(layer), int(d))
    except TraceError as exc:
        raise ExplainError(str(exc)) from None


def _check_index(value: Any, n: int, flag: str, what: str, default: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ExplainError(f"{flag} must be an integer, got {value!r}")
    if not -n <= value < n:
        valid = "0" if n == 1 else f"0..{n - 1}"
        raise ExplainError(f"{flag} {value} is out of range: {what.format(n=n, s='' if n == 1 else 's')} "
                           f"(valid: {valid})")
    return int(value) % n


def _bind_all(page: PageData, view: KindView, lt: Any, b: int, head: dict | None) -> None:
    """Every per-step value the page shows, for batch element ``b`` (vectors capped to CAP units)."""
    weight_steps = set(lt.cell.weight_step_names)
    for prefix, steps in (("fw", lt.forward), ("bw", lt.backward)):
        for n in steps.names:
            a = steps[n]
            if a.ndim == 3 and n not in weight_steps:
                page.bind(f"{prefix}:{n}", a[:, b, :CAP], units=a.shape[2])
    sampled = panels.weight_sampling(view, lt)
    page.bind("bw:dW", view.weight_steps(lt)[:, sampled.rows][:, :, sampled.cols], per_step_scale=True)
    if head is None:
        return
    _bind_head(page, lt, b, head)


def _bind_head(page: PageData, lt: Any, b: int, head: dict) -> None:
    """The dense head's rows: all V tokens, or the CAP most probable at each step with the target always among
    them (it replaces the last one when it is not), marked ◀."""
    T = page.T
    probs, target = np.asarray(head["probs"])[:, b, :], np.asarray(head["target"])[:, b, :]
    V = probs.shape[-1]
    if V <= CAP:
        rows = np.tile(np.arange(V), (T, 1))
    else:
        rows = np.argsort(-probs, axis=-1, kind="stable")[:, :CAP]
        for t in range(T):
            tgt = int(np.argmax(target[t]))
            if target[t].any() and tgt not in rows[t]:
                rows[t, -1] = tgt
    for k in ("logits", "probs", "target", "dlogits"):
        page.bind(f"head:{k}", np.take_along_axis(np.asarray(head[k])[:, b, :], rows, axis=-1))
    labels = list(head["labels"])
    page.labels["head:labels"] = [[labels[i] + (" ◀" if target[t, i] else "") for i in rows[t]] for t in range(T)]
    h = lt.forward["h"][:, b, :]
    P = h.shape[1]
    dl = np.asarray(head["dlogits"])[:, b, :]
    dl_rows = np.take_along_axis(dl, rows, axis=-1)
    page.bind("head:dWy", dl_rows[:, :, None] * h[:, None, :CAP_M], units=P)
    off = lt.direction * P  # a bidirectional head reads [h_fw; h_bw]: this direction's columns
    page.bind("head:dy", (dl @ np.asarray(head["weight"]))[:, off : off + P][:, :CAP], units=P)

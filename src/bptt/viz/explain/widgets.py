"""Data-bound drawings of the explain page. :class:`PageData` holds every per-step value the page embeds (the
step buttons switch among them without regenerating the page) and draws the widgets bound to them: a column
of cells (the seed's ``(5X1)`` vectors), a heat map, a strip of cells beside a node, per-step labels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from .svg import Svg, color, esc, number, plain_length

__all__ = ["CAP", "CAP_M", "STRIP", "STRIP_WIDTH", "PageData", "Sampled", "sample_blocks"]

CAP = 24  # at most this many cells of a vector are drawn (the rest are summarised)
CAP_M = 24  # matrices: at most CAP_M x CAP_M cells
STRIP = 8  # the flow diagram's strips show at most this many units ...
STRIP_WIDTH = STRIP * 11 + 12  # ... and are at most this wide (with the "…")


class Sampled(NamedTuple):
    """Which rows and columns of a block-structured matrix (gate blocks of rows, [x, h] groups of columns) a
    heat map shows: the first few of every block and group, so every block stays visible whatever H."""

    rows: np.ndarray  # indices of the rows shown
    cols: np.ndarray  # indices of the columns shown
    row_blocks: tuple[tuple[str, int, int], ...]  # (label, rows shown, rows in the block)
    col_groups: tuple[tuple[str, int, int], ...]  # (label, columns shown, columns in the group)

    @property
    def full(self) -> tuple[int, int]:
        return sum(n for _, _, n in self.row_blocks), sum(n for _, _, n in self.col_groups)


def sample_blocks(n_rows: int, blocks: Sequence[str], groups: Sequence[tuple[str, int]]) -> Sampled:
    """The first ``CAP_M // len(blocks)`` rows of each of the equal row ``blocks`` and the first
    ``CAP_M // len(groups)`` columns of each column group ``(label, width)``."""
    per_block, per_group = max(1, CAP_M // len(blocks)), max(1, CAP_M // len(groups))
    H = n_rows // len(blocks)
    rows, row_blocks = [], []
    for k, name in enumerate(blocks):
        n = min(H, per_block)
        rows += range(k * H, k * H + n)
        row_blocks.append((name, n, H))
    cols, col_groups, start = [], [], 0
    for name, width in groups:
        n = min(width, per_group)
        cols += range(start, start + n)
        col_groups.append((name, n, width))
        start += width
    return Sampled(np.array(rows), np.array(cols), tuple(row_blocks), tuple(col_groups))


def _round(v: float) -> float:
    return float(f"{v:.6g}")


class PageData:
    """The per-step values of one page (``(T, n)`` arrays by key) and the widgets drawn from them."""

    def __init__(self, T: int, t: int) -> None:
        self.T = T
        self.t = t  #: the step shown first
        self.values: dict[str, np.ndarray] = {}  # key -> (T, n) float64 (capped)
        self.labels: dict[str, list[list[str]]] = {}  # key -> per step list of labels
        self.scales: dict[str, Any] = {}  # key -> one scale, or a list of one per step
        self.units: dict[str, int] = {}  # key -> how many units the quantity has (before capping)
        self.center = 0.0  # x of the last vector's cells (where arrows into it point)
        self.expected = 0  # number of panels (for the page's self-test)

    def bind(self, key: str, per_step: np.ndarray, per_step_scale: bool = False, units: int | None = None
             ) -> np.ndarray:
        """Register ``per_step`` ``(T, ...)`` (already capped; ``units`` is the uncapped size) under ``key``;
        returns it flattened ``(T, n)``. Colours are scaled over all steps, or per step with ``per_step_scale``."""
        if units is not None:
            self.units[key] = units
        if key not in self.values:
            a = np.asarray(per_step, dtype=np.float64).reshape(self.T, -1)
            a = np.where(np.isfinite(a), a, 0.0)
            self.values[key] = a
            if per_step_scale:
                self.scales[key] = [float(v) for v in np.abs(a).max(axis=1, initial=0.0)]
            else:
                self.scales[key] = float(np.abs(a).max(initial=0.0))
        return self.values[key]

    def scale(self, key: str, t: int | None = None) -> float:
        s = self.scales[key]
        return s[self.t if t is None else t] if isinstance(s, list) else s

    def vector(self, svg: Svg, key: str | None, values: Any, x: float, y: float, *, label: str = "",
               row_labels: list[str] | None = None, total: int | None = None, cw: float = 62, ch: float = 19,
               scale: float | None = None, text: bool = True, hl: bool = False) -> tuple[float, float]:
        """A column of cells; ``key`` binds it to the step switch. Returns its size."""
        if key is not None:
            cur = self.values[key][self.t]
            scale = self.scale(key)
        else:
            cur = np.asarray(values, dtype=np.float64).reshape(-1)
            scale = float(np.abs(cur).max(initial=0.0)) if scale is None else scale
        n = cur.size
        rl_w = 7.0 * max(len(s) for s in row_labels[:n]) + 6 if row_labels else 0.0
        lw = 7.0 * plain_length(label)
        x += max(0.0, (lw - rl_w - cw) / 2)  # centre the cells under a wide label
        if label:
            svg.text(x + rl_w + cw / 2, y - 7, label, "vlbl", "middle")
        for k in range(n):
            v = float(cur[k])
            attrs = f' data-q="{key}" data-i="{k}"' if key is not None else ""
            yy = y + k * ch
            svg.add(f'<rect class="c" x="{x + rl_w:.1f}" y="{yy:.1f}" width="{cw}" height="{ch}" '
                    f'fill="{color(v, scale)}"{attrs}/>', x + rl_w + cw, yy + ch)
            if text:
                svg.add(f'<text class="v" x="{x + rl_w + cw / 2:.1f}" y="{yy + ch / 2 + 4:.1f}" '
                        f'text-anchor="middle"{attrs}>{number(v)}</text>')
            if row_labels and k < len(row_labels):
                svg.add(f'<text class="rl" x="{x + rl_w - 4:.1f}" y="{yy + ch / 2 + 4:.1f}" '
                        f'text-anchor="end">{esc(row_labels[k])}</text>')
        h = n * ch
        self.center = x + rl_w + cw / 2
        if hl:
            svg.add(f'<rect class="hl" x="{x + rl_w - 3:.1f}" y="{y - 3:.1f}" width="{cw + 6:.1f}" '
                    f'height="{h + 6:.1f}" rx="3"/>')
        total = n if total is None else total
        if total > n:
            svg.text(x + rl_w + cw / 2, y + h + 13, f"… +{total - n}", "more", "middle")
            h += 16
        return max(rl_w + cw, lw), h

    def matrix(self, svg: Svg, key: str | None, M: np.ndarray, x: float, y: float, *, label: str = "",
               cw: float = 12, ch: float = 9, full_shape: tuple[int, ...] | None = None, text: bool = False,
               scale: float | None = None) -> tuple[float, float]:
        """A heat map of a matrix (capped to CAP_M x CAP_M cells); bound to the step switch when ``key`` is set."""
        M = np.asarray(M, dtype=np.float64)
        r, c = M.shape
        if key is not None:
            cur = self.values[key][self.t].reshape(r, c)
            scale = self.scale(key)
        else:
            cur = M
            scale = float(np.abs(M).max(initial=0.0)) if scale is None else scale
        if label:
            svg.text(x, y - 7, label, "vlbl")
        for i in range(r):
            for j in range(c):
                v = float(cur[i, j])
                attrs = f' data-q="{key}" data-i="{i * c + j}"' if key is not None else ""
                svg.add(f'<rect class="m" x="{x + j * cw:.1f}" y="{y + i * ch:.1f}" width="{cw}" height="{ch}" '
                        f'fill="{color(v, scale)}"{attrs}><title>{number(v)}</title></rect>',
                        x + (j + 1) * cw, y + (i + 1) * ch)
                if text:
                    svg.add(f'<text class="mv" x="{x + j * cw + cw / 2:.1f}" y="{y + i * ch + ch / 2 + 3:.1f}" '
                            f'text-anchor="middle"{attrs}>{number(v)}</text>')
        h = r * ch
        if full_shape is not None and tuple(full_shape) != (r, c):
            svg.text(x, y + h + 12, f"showing {r}×{c} of {full_shape[0]}×{full_shape[1]}", "more")
            h += 15
        return max(c * cw, 7.2 * plain_length(label)), h

    def blocked_matrix(self, svg: Svg, key: str | None, M: np.ndarray | None, sampled: Sampled, x: float, y: float,
                       *, label: str = "", cw: float = 11, ch: float = 9) -> tuple[float, float]:
        """A heat map of the sampled rows and columns of a block-structured matrix, with the row blocks named on
        the left, the column groups on top and a rule between blocks (bound to the step switch with ``key``,
        else the values of ``M``, already sampled)."""
        r, c = len(sampled.rows), len(sampled.cols)
        lab_w = 7.0 * max(plain_length(name) for name, _, _ in sampled.row_blocks) + 8
        x0 = x + lab_w
        if label:
            svg.text(x, y, label, "vlbl")
            y += 14
        gx = x0
        for name, n, total in sampled.col_groups:
            text = name if n == total else f"{name} ({n} of {total})"
            svg.text(gx + 1, y + 8, text, "rl")
            gx += n * cw
        y += 14
        if key is None:
            self.matrix(svg, None, np.asarray(M).reshape(r, c), x0, y, cw=cw, ch=ch)
        else:
            self.matrix(svg, key, np.zeros((r, c)), x0, y, cw=cw, ch=ch)
        ry = y
        for k, (name, n, total) in enumerate(sampled.row_blocks):
            svg.text(x0 - 5, ry + n * ch / 2 + 4, name if n == total else f"{name} ⋮", "rl", "end")
            if k:
                svg.add(f'<line class="rule" x1="{x0 - 3:.1f}" y1="{ry:.1f}" x2="{x0 + c * cw + 3:.1f}" '
                        f'y2="{ry:.1f}"/>')
            ry += n * ch
        gx = x0
        for k, (_, n, _) in enumerate(sampled.col_groups):
            if k:
                svg.add(f'<line class="rule" x1="{gx:.1f}" y1="{y - 3:.1f}" x2="{gx:.1f}" y2="{ry + 3:.1f}"/>')
            gx += n * cw
        return lab_w + max(c * cw, 7.2 * plain_length(label)), ry - y + (28 if label else 14)

    def strip(self, svg: Svg, key: str, x: float, y: float, cw: float = 11, ch: float = 11) -> float:
        """A horizontal strip of the first :data:`STRIP` units of ``key`` (the values beside a node of the flow
        diagram), followed by a visible "…" when the layer has more; its width (at most ``STRIP_WIDTH``)."""
        vals = self.values[key][self.t]
        scale = self.scale(key)
        n = min(vals.size, STRIP)
        for k in range(n):
            svg.add(f'<rect class="c" x="{x + k * cw:.1f}" y="{y:.1f}" width="{cw}" height="{ch}" '
                    f'fill="{color(float(vals[k]), scale)}" data-q="{key}" data-i="{k}"><title>{number(vals[k])}'
                    f'</title></rect>', x + (k + 1) * cw, y + ch)
        w = n * cw
        if self.units.get(key, n) > n:
            svg.text(x + w + 2, y + ch - 1, "…", "more")
            w += 12
        return w

    def row_labels(self, svg: Svg, x: float, y: float, key: str, ch: float = 19) -> None:
        """Per-step labels beside a vector's rows (they follow the step switch)."""
        labs = self.labels.get(key)
        if not labs:
            return
        for k, s in enumerate(labs[self.t][:CAP]):
            svg.add(f'<text class="rl" x="{x:.1f}" y="{y + k * ch + ch / 2 + 4:.1f}" data-l="{key}" '
                    f'data-i="{k}">{esc(s)}</text>', x + 7 * len(s), y + (k + 1) * ch)

    def step_text(self, svg: Svg, x: float, y: float, key: str, texts: Sequence[str], cls: str = "small",
                  anchor: str = "start") -> None:
        """A text that changes with the step switch: ``texts[t]`` at step ``t``."""
        self.labels[key] = [[s] for s in texts]
        s = texts[self.t]
        svg.add(f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" data-l="{key}" data-i="0">'
                f'{esc(s)}</text>', x + 7 * max(map(len, texts), default=0), y + 4)

    def script_data(self) -> dict[str, Any]:
        """What the page's script reads (JSON)."""
        return {"T": self.T, "t": self.t, "expected": self.expected,
                "values": {k: [[_round(v) for v in row] for row in a] for k, a in self.values.items()},
                "scales": self.scales, "labels": self.labels}

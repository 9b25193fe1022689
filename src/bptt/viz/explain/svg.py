"""Drawing primitives of the explain page: the number format, the diverging colour scale, escaping, labels with
subscripts, and :class:`Svg`, a small SVG builder that tracks its extent. No data binding here (see
:mod:`.widgets`)."""

from __future__ import annotations

import html
import math
import re
from typing import Any

__all__ = ["DEFS", "Svg", "color", "esc", "label_html", "label_svg", "number"]

#: The arrow head every arrow of the page uses.
DEFS = ('<defs><marker id="ah" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>')

_SUB = re.compile(r"_\{([^{}]*)\}")


def number(v: float) -> str:
    """The page's number format (the script formats the same way): 4 decimals, or 3 significant digits in
    scientific notation outside ``[1e-3, 1e4)``."""
    v = float(v)
    if v == 0.0 or not math.isfinite(v):
        return "0" if v == 0.0 else str(v)
    a = abs(v)
    if 1e-3 <= a < 1e4:
        return f"{v:.4f}"
    m, e = f"{v:.2e}".split("e")
    return f"{m}e{int(e)}" if int(e) < 0 else f"{m}e+{int(e)}"


def color(v: float, scale: float) -> str:
    """Diverging colour: blue (negative), white (0), red (positive), saturated at ``|v| = scale``."""
    if not scale or not math.isfinite(v):
        return "#ffffff"
    t = max(-1.0, min(1.0, v / scale))
    r1, g1, b1 = (214, 96, 77) if t >= 0 else (67, 147, 195)
    a = abs(t)
    r, g, b = (round(255 + (c - 255) * a) for c in (r1, g1, b1))
    return f"#{r:02x}{g:02x}{b:02x}"


def esc(s: Any) -> str:
    """HTML/SVG-escaped text."""
    return html.escape(str(s), quote=True)


def label_html(s: str) -> str:
    """A label for HTML: escaped, with ``x_{t−1}`` written as a subscript."""
    return _SUB.sub(lambda m: f"<sub>{m.group(1)}</sub>", esc(s))


def label_svg(s: str) -> str:
    """A label for SVG ``<text>``: escaped, with ``x_{t−1}`` written as a lowered, smaller ``<tspan>``."""
    return _SUB.sub(lambda m: f'<tspan class="subs" dy="3">{m.group(1)}</tspan><tspan dy="-3">\u200b</tspan>',
                    esc(s))


def plain_length(s: str) -> int:
    """How many characters a label shows (its subscript braces do not count)."""
    return len(_SUB.sub(lambda m: m.group(1), s))


class Svg:
    """A tiny SVG builder that tracks its extent (``w`` x ``h``)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.w = 0.0
        self.h = 0.0

    def add(self, s: str, x2: float = 0, y2: float = 0) -> None:
        """Append markup that reaches to ``(x2, y2)``."""
        self.parts.append(s)
        self.w = max(self.w, x2)
        self.h = max(self.h, y2)

    def text(self, x: float, y: float, s: str, cls: str = "lbl", anchor: str = "start", extra: str = "",
             char_w: float = 7.2) -> float:
        """A label (``_{...}`` becomes a subscript); returns its estimated width."""
        w = char_w * plain_length(s)
        right = x + (w if anchor == "start" else (w / 2 if anchor == "middle" else 0))
        self.add(f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{label_svg(s)}</text>',
                 right, y + 5)
        return w

    def arrow(self, x1: float, y1: float, x2: float, y2: float, cls: str = "arw", curve: bool = True) -> None:
        """An arrow from ``(x1, y1)`` to ``(x2, y2)``, a vertical S-curve unless ``curve=False``."""
        if curve:
            my = (y1 + y2) / 2
            d = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{my:.1f} {x2:.1f},{my:.1f} {x2:.1f},{y2:.1f}"
        else:
            d = f"M{x1:.1f},{y1:.1f} L{x2:.1f},{y2:.1f}"
        self.add(f'<path class="{cls}" d="{d}" marker-end="url(#ah)"/>', max(x1, x2), max(y1, y2))

    def polyline(self, pts: list[tuple[float, float]], arrow: bool = True, cls: str = "wire") -> None:
        """A wire through ``pts``, with an arrow head at the end unless ``arrow=False``."""
        d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        marker = ' marker-end="url(#ah)"' if arrow else ""
        self.add(f'<path class="{cls}" d="{d}"{marker}/>', max(p[0] for p in pts), max(p[1] for p in pts))

    def node(self, x: float, y: float, label: str, shape: str = "box", sub: str = "") -> float:
        """A node of a flow diagram centred at ``(x, y)``: an operator circle (``shape="op"``) or a rounded box
        of CSS class ``shape`` (``gate``, ``state``, ``cat``); ``sub`` is written above it. Returns its width."""
        if shape == "op":
            self.add(f'<circle class="op" cx="{x}" cy="{y}" r="15"/>', x + 15, y + 15)
            self.text(x, y + (5 if len(label) == 1 else 4), label, "opl" if len(label) == 1 else "opt", "middle")
            w = 30.0
        else:
            w = max(46.0, 8 * plain_length(label) + 14)
            self.add(f'<rect class="{shape}" x="{x - w / 2}" y="{y - 16}" width="{w}" height="32" rx="6"/>',
                     x + w / 2, y + 16)
            self.text(x, y + 5, label, "nodel", "middle")
        if sub:
            self.text(x, y - 22, sub, "sub", "middle")
        return w

    def render(self, cls: str = "fig", pad: float = 12, label: str = "") -> str:
        """The ``<svg>`` element."""
        w, h = math.ceil(self.w + pad), math.ceil(self.h + pad)
        return (f'<svg class="{cls}" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
                f'viewBox="0 0 {w} {h}" role="img" aria-label="{esc(label)}">{DEFS}{"".join(self.parts)}</svg>')

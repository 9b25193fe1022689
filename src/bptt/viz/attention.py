"""Attention heatmaps of one translation (``bptt translate attention``): one row per output token, one column
per source token, each cell the weight the decoder gave that source token (rows sum to 1).

:func:`attention_html` needs nothing; :func:`attention_png` needs matplotlib (``ImportError`` without it).
"""

from __future__ import annotations

import html
import io

import numpy as np

__all__ = ["attention_html", "attention_png"]


def _show(tok: str, level: str) -> str:
    return "\u2423" if level == "char" and tok == " " else tok


def attention_html(src: list[str], out: list[str], weights: np.ndarray, level: str) -> str:
    """A self-contained HTML page with the heatmap as a table (``weights``: ``(len(out), len(src))``)."""
    rows = []
    head = "".join(f"<th>{html.escape(_show(s, level))}</th>" for s in src)
    rows.append(f"<tr><th></th>{head}</tr>")
    for i, t in enumerate(out):
        cells = "".join(f'<td style="background: rgba(31, 119, 180, {float(weights[i, j]):.3f})" '
                        f'title="{float(weights[i, j]):.4f}">{float(weights[i, j]):.2f}</td>' for j in range(len(src)))
        rows.append(f"<tr><th>{html.escape(_show(t, level))}</th>{cells}</tr>")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>bptt attention</title><style>"
            "table{border-collapse:collapse;font-family:monospace}td,th{border:1px solid #ddd;padding:3px 5px;"
            "text-align:center;font-size:12px}</style></head><body>\n<p>Attention weights: one row per output "
            "token, one column per source token (rows sum to 1).</p>\n<table>\n" + "\n".join(rows)
            + "\n</table>\n</body></html>\n")


def attention_png(src: list[str], out: list[str], weights: np.ndarray, level: str) -> bytes:
    """The heatmap as PNG bytes (needs matplotlib)."""
    import matplotlib  # noqa: PLC0415 - optional extra

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(max(4.0, 0.35 * len(src) + 1.5), max(3.0, 0.35 * len(out) + 1.2)))
    try:
        ax.imshow(weights, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(src)), [_show(s, level) for s in src], rotation=90 if level == "word" else 0)
        ax.set_yticks(range(len(out)), [_show(t, level) for t in out])
        ax.set_xlabel("source")
        ax.set_ylabel("output")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=120)
    finally:
        plt.close(fig)
    return buf.getvalue()

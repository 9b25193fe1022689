"""The cell kinds the explain page draws: one :class:`~.spec.KindView` per kind, from its ``panels_<kind>``
module. Adding a cell kind to the page is a new ``panels_<kind>.py`` and one entry here (the kind must be in
bptt.trace's table of cell kinds, :mod:`bptt.trace.names`, whose reference module its panels quote)."""

from __future__ import annotations

from . import panels_gru, panels_lnlstm, panels_lstm, panels_mingru, panels_rnn, panels_slstm
from .run import ExplainError
from .spec import KindView

__all__ = ["VIEWS", "view"]

VIEWS: dict[str, KindView] = {v.kind: v for v in (panels_lstm.VIEW, panels_lnlstm.VIEW, panels_gru.VIEW,
                                                  panels_rnn.VIEW, panels_mingru.VIEW, panels_slstm.VIEW)}


def view(kind: str) -> KindView:
    """The page's view of a cell kind."""
    v = VIEWS.get(kind)
    if v is None:
        raise ExplainError(f"bptt explain cannot draw a {kind!r} layer yet (it draws {', '.join(VIEWS)}); see "
                           "bptt.viz.explain.kinds")
    return v

r"""``bptt explain``'s page: seed 000's figures, regenerated from a recorded pass as one self-contained HTML page.

The page (inline SVG, CSS and a few lines of script; no network, opens offline) shows, for one recurrent layer,
direction, batch element and time step ``t`` of a real forward and backward pass recorded with
:mod:`bptt.trace` (which runs the textbook tier, :mod:`bptt.functional.reference`):

1. the forward summary with weights (the seed's figure 1): ``x_t``, ``h_{t-1}``, the weight matrices, the
   gate pre-activations, the gates, ``c_t``, ``h_t`` and the dense head on top;
2. the flow diagram of one cell (figure 2), with the live values beside every node;
3. the feed-forward layer's gradients (the seed's "step 1": dpred, DBy, DWy);
4. one panel per backward quantity in the seed's order, titled with the seed's name beside bptt's (dHt = ``dh``,
   dOt = ``do``, dCt = ``dc``, dCprojt = ``dg``, dFt = ``df``, dIt = ``di``, dHX = ``dz``, dC_next =
   ``dc_next``; GRU, RNN, minGRU and sLSTM have their own), each with its equation, its shape, its values at step ``t``,
   arrows from the tensors it depends on and, beside it, the reference's own lines that assign it (found by
   parsing ``step_backward`` with :mod:`ast`, see :mod:`.source`);
5. the chain of ``dh_next`` / ``dc_next`` back through time, with ``||dL/dh_t||`` and ``||dL/dc_t||``;
6. optionally the gradient-flow pictures of :mod:`bptt.viz.flow`.

Every value on the page is embedded for every time step, so the step buttons at the top switch ``t`` without
regenerating the page. The page draws; it never trains or loads anything: the runs of ``bptt explain`` are built
by :mod:`bptt.cli.explain`, and :func:`render` takes any :class:`~bptt.trace.Trace` wrapped in a :class:`Run`.

Modules: :mod:`.page` (assembly), :mod:`.panels` (the panels every page has), ``panels_lstm``,
``panels_lnlstm``, ``panels_gru``, ``panels_rnn``, ``panels_mingru``, ``panels_slstm`` (each cell kind's panel
specs and flow diagram),
:mod:`.kinds` (their list), :mod:`.spec` (the spec types), :mod:`.source` (quoting the reference),
:mod:`.widgets` (data-bound drawings), :mod:`.svg` (primitives); ``static/`` holds the style, the script and the
HTML template.
"""

from __future__ import annotations

from .kinds import VIEWS
from .page import panel_ids, render
from .run import ExplainError, Run
from .source import quote
from .svg import number
from .widgets import CAP, CAP_M

__all__ = ["CAP", "CAP_M", "ExplainError", "Run", "VIEWS", "number", "panel_ids", "quote", "render"]

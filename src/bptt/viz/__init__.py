"""Pictures of a trace: :mod:`bptt.viz.explain` (one self-contained HTML page regenerating seed 000's
figures from a live model, no dependencies) and :mod:`bptt.viz.flow` (gradient-flow plots; needs matplotlib).

Nothing below :mod:`bptt.trace` knows about these modules.
"""

from __future__ import annotations

__all__ = ["explain", "flow"]

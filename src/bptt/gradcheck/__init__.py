r"""Finite-difference gradient checking, and the catalog of every hand-derived backward pass it applies to.

- :mod:`bptt.gradcheck.checker`: :func:`check_function` (a functional ``forward``/``backward`` pair),
  :func:`check_module` (an :class:`bptt.nn.Module`), :func:`numerical_gradient` (central differences in
  float64), :class:`GradcheckReport` and :class:`GradcheckError`.
- :mod:`bptt.gradcheck.catalog`: :data:`~bptt.gradcheck.catalog.CATALOG`, one entry per hand-derived op and
  option set, fast tier and textbook tier (:mod:`bptt.functional.reference`), with small float64 argument
  makers; ``bptt gradcheck`` iterates it.

>>> import numpy as np, bptt
>>> from bptt.functional import tanh
>>> report = bptt.check_function(tanh.forward, tanh.backward, [np.linspace(-2, 2, 5)])
>>> report.ok
True
"""

from . import catalog
from .catalog import CATALOG, CatalogEntry, Sizes
from .checker import GradcheckError, GradcheckReport, check_function, check_module, numerical_gradient

__all__ = [
    "CATALOG",
    "CatalogEntry",
    "GradcheckError",
    "GradcheckReport",
    "Sizes",
    "catalog",
    "check_function",
    "check_module",
    "numerical_gradient",
]

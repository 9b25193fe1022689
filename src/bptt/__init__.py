"""bptt: recurrent neural networks from first principles in NumPy.

Every forward and backward pass is derived by hand (see :mod:`bptt.functional`), wrapped in a PyTorch-like
module API (:mod:`bptt.nn`), trained with optimizers whose update rules match ``torch.optim``
(:mod:`bptt.optim`), and checked against finite differences (:mod:`bptt.gradcheck`) and PyTorch autograd
(the test suite).
"""

from __future__ import annotations

__version__ = "0.1.0"

from . import data, functional, models, nn, optim, trace  # noqa: E402
from .gradcheck import GradcheckError, GradcheckReport, check_function, check_module, numerical_gradient  # noqa: E402,I001

__all__ = [
    "__version__",
    "data",
    "functional",
    "models",
    "nn",
    "optim",
    "trace",
    "GradcheckError",
    "GradcheckReport",
    "check_function",
    "check_module",
    "numerical_gradient",
]

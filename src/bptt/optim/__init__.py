"""Optimizers whose update rules match ``torch.optim`` (single-tensor implementations), in NumPy.

Each optimizer takes ``model.parameters()`` (or a list of parameter-group dicts), updates every parameter in
place from its ``.grad`` on ``step()``, and supports ``zero_grad``, ``state_dict`` / ``load_state_dict`` and
mutable ``param_groups[i]["lr"]``::

    opt = bptt.optim.Adam(model.parameters(), lr=1e-3)
    opt.zero_grad(); ...backward...; opt.step()
"""

from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop"]

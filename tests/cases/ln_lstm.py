"""Cases shared by tests/nn/test_ln_lstm*.py.
"""

from __future__ import annotations

import numpy as np

from bptt import nn
from helpers import distinct_uniform


def module(D, H, num_layers, bidirectional, layer_norm, forget_bias, rng, **kw):
    m = nn.LayerNormLSTM(D, H, num_layers=num_layers, bidirectional=bidirectional, layer_norm=layer_norm,
                         forget_bias=forget_bias, dtype=np.float64, rng=0, **kw)
    for name, p in m.named_parameters():
        if "_gamma" in name:
            p.data[...] = rng.uniform(0.5, 1.5, p.shape) * rng.choice([-1.0, 1.0], p.shape)
        elif "_beta" in name:
            p.data[...] = distinct_uniform(rng, p.shape, -0.5, 0.5)
        else:
            p.data[...] = distinct_uniform(rng, p.shape, -0.7, 0.7)
    return m

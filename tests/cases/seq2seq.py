"""Cases shared by tests/models/test_seq2seq*.py: vocabulary sizes, random batches and parameters.
"""

from __future__ import annotations

from bptt.data.parallel import (
    make_batch,
)
from helpers import distinct_uniform

VS, VT = 11, 9


def randomize(model, rng):
    for _, p in model.named_parameters():
        p.data[...] = distinct_uniform(rng, p.shape)


def batch(rng, src_lens=(5, 2, 4, 1), tgt_lens=(3, 1, 4, 2)):
    srcs = [rng.integers(4, VS, n) for n in src_lens]
    tgts = [rng.integers(4, VT, n) for n in tgt_lens]
    return make_batch(srcs, tgts)

"""NumPy re-implementations of the TensorFlow / Keras cells (independent of the library) and small bptt.nn
builders, shared by tests/interop/test_interop*.py.
"""

from __future__ import annotations

import numpy as np

from bptt import nn

TOL = 1e-12
D, H, T, B = 3, 4, 5, 2


# ----------------------------------------------------------------------------------------- references
def sigmoid(a: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-a))


def tf_basic_lstm(x, kernel, bias, forget_bias, h0, c0):
    """TF1 BasicLSTMCell / LSTMCell / LayerNormBasicLSTMCell(layer_norm=False), unrolled over x (T, B, D)."""
    h, c, ys = h0, c0, []
    for t in range(x.shape[0]):
        i, j, f, o = np.split(np.concatenate([x[t], h], axis=1) @ kernel + bias, 4, axis=1)
        c = c * sigmoid(f + forget_bias) + sigmoid(i) * np.tanh(j)
        h = np.tanh(c) * sigmoid(o)
        ys.append(h)
    return np.stack(ys), h, c


def keras_lstm(x, kernel, recurrent_kernel, bias, h0, c0):
    """Keras LSTM (no run-time forget bias); ``bias`` may be None (use_bias=False)."""
    h, c, ys = h0, c0, []
    for t in range(x.shape[0]):
        z = x[t] @ kernel + h @ recurrent_kernel + (0.0 if bias is None else bias)
        i, f, c_, o = np.split(z, 4, axis=1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(c_)
        h = sigmoid(o) * np.tanh(c)
        ys.append(h)
    return np.stack(ys), h, c


def keras_gru(x, kernel, recurrent_kernel, bias, h0):
    """Keras GRU(reset_after=True); ``bias`` (2, 3H) or None."""
    h, ys = h0, []
    b = np.zeros((2, kernel.shape[1])) if bias is None else bias
    for t in range(x.shape[0]):
        xz, xr, xh = np.split(x[t] @ kernel + b[0], 3, axis=1)
        hz, hr, hh = np.split(h @ recurrent_kernel + b[1], 3, axis=1)
        z = sigmoid(xz + hz)
        r = sigmoid(xr + hr)
        hh_ = np.tanh(xh + r * hh)
        h = z * h + (1 - z) * hh_
        ys.append(h)
    return np.stack(ys), h


# ----------------------------------------------------------------------------------------- builders
def rand_state(module: nn.Module, seed: int, scale: float = 0.5) -> dict[str, np.ndarray]:
    """Random normal weights and clearly non-zero biases for ``module`` (float64)."""
    rng = np.random.default_rng(seed)
    return {k: scale * rng.standard_normal(v.shape) for k, v in module.state_dict().items()}


def lstm(seed=0, D=D, H=H, forget_bias=0.0, **kw):
    m = nn.LSTM(D, H, forget_bias=forget_bias, dtype=np.float64, rng=seed, **kw)
    m.load_state_dict(rand_state(m, seed))
    return m


def gru(seed=0, D=D, H=H, **kw):
    m = nn.GRU(D, H, dtype=np.float64, rng=seed, **kw)
    m.load_state_dict(rand_state(m, seed))
    return m


def inputs(seed=1, n=1, H=H, D=D):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((T, B, D))
    return x, 0.5 * rng.standard_normal((n, B, H)), rng.standard_normal((n, B, H))


def close(a, b, tol=TOL):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    err = float(np.max(np.abs(a - b)))
    assert err <= tol, f"max abs difference {err:.3e} > {tol:g}"


def tf_lstm_cell(x, kernel, bias, forget_bias, h0, c0, w_i=None, w_f=None, w_o=None, projection=None):
    """TF1 ``LSTMCell(use_peepholes=..., num_proj=...)``, unrolled over x (T, B, D): i and f peek at c_{t-1},
    o at c_t; the output m = o * tanh(c) is projected by ``projection`` (H, P) when given."""
    h, c, ys = h0, c0, []
    peep = w_i is not None
    for t in range(x.shape[0]):
        i, j, f, o = np.split(np.concatenate([x[t], h], axis=1) @ kernel + bias, 4, axis=1)
        if peep:
            c = sigmoid(f + forget_bias + w_f * c) * c + sigmoid(i + w_i * c) * np.tanh(j)
            h = sigmoid(o + w_o * c) * np.tanh(c)
        else:
            c = sigmoid(f + forget_bias) * c + sigmoid(i) * np.tanh(j)
            h = sigmoid(o) * np.tanh(c)
        if projection is not None:
            h = h @ projection
        ys.append(h)
    return np.stack(ys), h, c


def numeric_grads(f, arrays: dict, eps: float = 1e-6) -> dict:
    """Central finite differences of the scalar ``f(**arrays)`` with respect to every array (float64)."""
    out = {}
    for name, a in arrays.items():
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + eps
            up = f(**arrays)
            a[idx] = old - eps
            down = f(**arrays)
            a[idx] = old
            g[idx] = (up - down) / (2 * eps)
        out[name] = g
    return out

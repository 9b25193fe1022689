r"""Attention mechanisms of TensorFlow's ``tf.contrib.seq2seq`` (Luong and Bahdanau), forward and backward.

Shapes are batch-major, as in TensorFlow: the memory (the encoder's outputs) ``m`` is ``(B, S, D_m)``, a
query ``q`` (the decoder cell's output) ``(B, H_q)``, the keys ``k`` ``(B, S, U)`` with ``U`` the
mechanism's ``num_units``; ``mask`` ``(B, S)`` is True at the positions ``s < length_b``.

**Memory.** Positions past each source length are zeroed (TensorFlow's ``_prepare_memory``) and the memory
layer (a dense layer without bias) turns the values into keys, once per batch:

.. math::  \bar m_s = m_s\,[s < \ell], \qquad k_s = W_m \bar m_s \quad (\text{Luong ``dot'': } k_s = \bar m_s)

**Scores** of query :math:`q` against every key (one number per source position):

.. math::

    \text{Luong:}\quad & e_s = g\, q^\top k_s
        \qquad (g \text{ a learned scalar with } \texttt{scale=True}, \text{ else } g = 1)\\
    \text{Bahdanau:}\quad & e_s = v^\top \tanh(W_q q + k_s)\\
    \text{normed Bahdanau:}\quad & e_s = \hat v^\top \tanh(W_q q + k_s + b), \quad
        \hat v = g\, v / \lVert v \rVert \quad (\text{weight normalisation})

**Alignments** are the softmax over the source positions, with the positions past the length masked to
:math:`-\infty` (so their probability is exactly 0), and the **context** is their average of the values:

.. math::  a_s = \frac{[s < \ell]\, e^{e_s - \max e}}{\sum_{s' < \ell} e^{e_{s'} - \max e}}, \qquad
           c = \sum_s a_s \bar m_s

**Attention layer** (TensorFlow's ``attention_layer``, no bias; Luong's paper adds the tanh):

.. math::  \alpha = W_c\,[h; c] \quad (\text{or } \tanh(W_c [h; c]))

**Backward.** With upstream :math:`dc`, :math:`da` (the alignments may feed a loss too):

.. math::

    da_s &\mathrel{+}= dc^\top \bar m_s, \qquad d\bar m_s = a_s\, dc\\
    de_s &= a_s \big(da_s - \textstyle\sum_{s'} a_{s'} da_{s'}\big) \quad (0 \text{ at masked positions})\\
    \text{Luong:}\quad dq &= g \textstyle\sum_s de_s k_s, \quad dk_s = g\, de_s\, q, \quad
        dg = \textstyle\sum_s de_s\, q^\top k_s\\
    \text{Bahdanau:}\quad dz_s &= de_s\, \hat v \odot (1 - \tanh^2 z_s) \;\; (z_s = W_q q + k_s + b), \quad
        dk_s = dz_s, \quad d(W_q q) = \textstyle\sum_s dz_s, \quad db = \textstyle\sum_{b,s} dz_s\\
        d\hat v &= \textstyle\sum_{b,s} de_s \tanh z_s, \quad
        dg = d\hat v^\top v / \lVert v \rVert, \quad
        dv = \frac{g}{\lVert v \rVert}\Big(d\hat v - \frac{(d\hat v^\top v)\, v}{\lVert v \rVert^2}\Big)

and the memory layer gives :math:`dW_m = \sum_{b,s} dk_s \bar m_s^\top`,
:math:`d m_s = [s < \ell]\,(d\bar m_s + W_m^\top dk_s)`.

The primitives (``memory_*``, ``luong_score_*``, ``bahdanau_score_*``, ``masked_softmax_*``,
``context_*``, ``attention_layer_*``) are what the decoder loop of :class:`bptt.nn.AttentionWrapper` calls
step by step (keys computed once per batch). ``luong_forward`` / ``bahdanau_forward`` compose a whole
mechanism for one query, from the raw memory to ``(context, alignments)``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class MemoryCache(NamedTuple):
    values: np.ndarray  # (B, S, D_m) the masked memory
    mask: np.ndarray  # (B, S)
    W_m: np.ndarray | None  # the memory layer (None: keys are the values)


class LuongScoreCache(NamedTuple):
    query: np.ndarray  # (B, U)
    keys: np.ndarray  # (B, S, U)
    g: np.ndarray | None  # 0-d scale (None: unscaled)
    raw: np.ndarray  # (B, S) q^T k_s before the scale


class BahdanauScoreCache(NamedTuple):
    tanh_z: np.ndarray  # (B, S, U) tanh(p + k_s (+ b))
    v: np.ndarray  # (U,)
    v_hat: np.ndarray  # (U,) g v / |v| (normed form) or v
    g: np.ndarray | None  # 0-d gain of the normed form
    norm: np.ndarray | None  # |v| (normed form)
    has_bias: bool


class MaskedSoftmaxCache(NamedTuple):
    alignments: np.ndarray  # (B, S)


class ContextCache(NamedTuple):
    alignments: np.ndarray  # (B, S)
    values: np.ndarray  # (B, S, D_m)


class AttentionLayerCache(NamedTuple):
    hc: np.ndarray  # (B, H + D_m) the concatenation [h; c]
    W_c: np.ndarray
    alpha: np.ndarray | None  # the output when it went through tanh (None: linear)
    h_size: int  # H, where hc splits


class QueryProjectionCache(NamedTuple):
    query: np.ndarray  # (B, H_q)
    W_q: np.ndarray  # (U, H_q)


class AttendCache(NamedTuple):
    score: str  # "luong" or "bahdanau"
    score_cache: LuongScoreCache | BahdanauScoreCache
    query_projection: QueryProjectionCache | None  # Bahdanau only
    softmax: MaskedSoftmaxCache
    context: ContextCache


class MechanismCache(NamedTuple):
    memory: MemoryCache
    attend: AttendCache

# ---------------------------------------------------------------------------------------------- memory


def memory_mask(lengths: np.ndarray | None, B: int, S: int) -> np.ndarray:
    """``(B, S)`` boolean mask, True at ``s < lengths[b]`` (all True when ``lengths`` is None)."""
    if lengths is None:
        return np.ones((B, S), dtype=bool)
    return np.arange(S)[None, :] < np.asarray(lengths)[:, None]


def memory_forward(
    memory: np.ndarray, mask: np.ndarray, W_m: np.ndarray | None
) -> tuple[tuple[np.ndarray, np.ndarray], MemoryCache]:
    r"""Return ``(values, keys)``: :math:`\bar m = m \odot \text{mask}` and :math:`k = \bar m W_m^\top`
    (``keys is values`` when ``W_m`` is None, Luong's ``dot`` score)."""
    values = memory * mask[:, :, None]
    keys = values if W_m is None else np.matmul(values, W_m.T)
    return (values, keys), MemoryCache(values, mask, W_m)


def memory_backward(
    dvalues: np.ndarray, dkeys: np.ndarray | None, cache: MemoryCache
) -> tuple[np.ndarray, np.ndarray | None]:
    """Return ``(dmemory, dW_m)`` from the gradients of the values and keys (``dkeys`` None: zero)."""
    values, mask, W_m = cache
    dvbar = dvalues.copy()
    dW_m = None
    if dkeys is not None:
        if W_m is None:
            dvbar += dkeys
        else:
            U, D = W_m.shape
            dvbar += np.matmul(dkeys, W_m)
            dW_m = np.matmul(dkeys.reshape(-1, U).T, values.reshape(-1, D))
    elif W_m is not None:
        dW_m = np.zeros_like(W_m)
    dvbar *= mask[:, :, None]
    return dvbar, dW_m


# ---------------------------------------------------------------------------------------------- scores


def luong_score_forward(
    query: np.ndarray, keys: np.ndarray, g: np.ndarray | None = None
) -> tuple[np.ndarray, LuongScoreCache]:
    r"""Return :math:`e_s = g\,q^\top k_s` of shape ``(B, S)`` (``g`` a 0-d array, or None for 1)."""
    raw = np.matmul(keys, query[:, :, None])[:, :, 0]
    score = raw if g is None else raw * g
    return score, LuongScoreCache(query, keys, g, raw)


def luong_score_backward(
    de: np.ndarray, cache: LuongScoreCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Return ``(dquery, dkeys, dg)`` (``dg`` None without a scale)."""
    query, keys, g, raw = cache
    draw = de if g is None else de * g
    dquery = np.matmul(draw[:, None, :], keys)[:, 0, :]
    dkeys = draw[:, :, None] * query[:, None, :]
    dg = None if g is None else np.asarray(np.vdot(de, raw), dtype=de.dtype)
    return dquery, dkeys, dg


def bahdanau_score_forward(
    processed_query: np.ndarray,
    keys: np.ndarray,
    v: np.ndarray,
    g: np.ndarray | None = None,
    b: np.ndarray | None = None,
) -> tuple[np.ndarray, BahdanauScoreCache]:
    r"""Return :math:`e_s = \hat v^\top \tanh(p + k_s (+ b))` with :math:`p = W_q q` the processed query
    ``(B, U)``; with ``g`` (normed form) :math:`\hat v = g\,v/\lVert v\rVert`, else :math:`\hat v = v`."""
    z = keys + processed_query[:, None, :]
    if b is not None:
        z += b
    np.tanh(z, out=z)  # z now holds tanh(z)
    if g is None:
        v_hat, norm = v, None
    else:
        norm = np.sqrt(np.dot(v, v))
        v_hat = v * (g / norm)
    score = np.matmul(z, v_hat)
    return score, BahdanauScoreCache(z, v, v_hat, g, norm, b is not None)


def bahdanau_score_backward(
    de: np.ndarray, cache: BahdanauScoreCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Return ``(dprocessed_query, dkeys, dv, dg, db)`` (``dg``, ``db`` None for the plain form)."""
    th, v, v_hat, g, norm, has_b = cache
    B, S, U = th.shape
    dv_hat = np.matmul(de.reshape(1, B * S), th.reshape(B * S, U))[0]
    dz = de[:, :, None] * v_hat
    dz *= 1.0 - th * th
    dpq = dz.sum(axis=1)
    db = dz.sum(axis=(0, 1)) if has_b else None
    if g is None:
        return dpq, dz, dv_hat, None, db
    proj = np.dot(dv_hat, v)
    dg = np.asarray(proj / norm, dtype=de.dtype)
    dv = (g / norm) * (dv_hat - (proj / (norm * norm)) * v)
    return dpq, dz, dv, dg, db


# ------------------------------------------------------------------------------------------- softmax, context


def masked_softmax_forward(score: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, MaskedSoftmaxCache]:
    """Softmax over the last axis with masked positions at ``-inf`` (probability exactly 0).

    Every row must keep at least one position (lengths >= 1)."""
    z = np.where(mask, score, -np.inf)
    z -= z.max(axis=-1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=-1, keepdims=True)
    return z, MaskedSoftmaxCache(z)


def masked_softmax_backward(da: np.ndarray, cache: MaskedSoftmaxCache) -> np.ndarray:
    """Return ``de = a * (da - sum(a * da))`` (exactly 0 where ``a`` is)."""
    (a,) = cache
    return a * (da - (a * da).sum(axis=-1, keepdims=True))


def context_forward(alignments: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, ContextCache]:
    r"""Return :math:`c = \sum_s a_s \bar m_s` of shape ``(B, D_m)``."""
    return np.matmul(alignments[:, None, :], values)[:, 0, :], ContextCache(alignments, values)


def context_backward(dcontext: np.ndarray, cache: ContextCache) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(dalignments, dvalues)``."""
    a, values = cache
    da = np.matmul(values, dcontext[:, :, None])[:, :, 0]
    dvalues = a[:, :, None] * dcontext[:, None, :]
    return da, dvalues


def attention_layer_forward(
    h: np.ndarray, context: np.ndarray, W_c: np.ndarray, use_tanh: bool = False
) -> tuple[np.ndarray, AttentionLayerCache]:
    r"""Return :math:`\alpha = W_c [h; c]` (``tanh`` of it with ``use_tanh``), shape ``(B, A)``."""
    hc = np.concatenate([h, context], axis=-1)
    alpha = np.matmul(hc, W_c.T)
    if use_tanh:
        np.tanh(alpha, out=alpha)
    return alpha, AttentionLayerCache(hc, W_c, alpha if use_tanh else None, h.shape[-1])


def attention_layer_backward(
    dalpha: np.ndarray, cache: AttentionLayerCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(dh, dcontext, dW_c)``."""
    hc, W_c, alpha, H = cache
    dpre = dalpha if alpha is None else dalpha * (1.0 - alpha * alpha)
    dhc = np.matmul(dpre, W_c)
    dW_c = np.matmul(dpre.reshape(-1, W_c.shape[0]).T, hc.reshape(-1, hc.shape[-1]))
    return dhc[..., :H], dhc[..., H:], dW_c


# ---------------------------------------------------------------------------------------------- one step


def attend_forward(
    query: np.ndarray,
    values: np.ndarray,
    keys: np.ndarray,
    mask: np.ndarray,
    score: str,
    *,
    W_q: np.ndarray | None = None,
    v: np.ndarray | None = None,
    g: np.ndarray | None = None,
    b: np.ndarray | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], AttendCache]:
    """One query against prepared memory: ``((context, alignments), cache)``.

    ``score`` is ``"luong"`` (uses ``g``) or ``"bahdanau"`` (uses ``W_q``, ``v`` and, normed, ``g``, ``b``).
    """
    if score == "luong":
        e, score_cache = luong_score_forward(query, keys, g)
        pq_cache = None
    else:
        pq = np.matmul(query, W_q.T)
        e, score_cache = bahdanau_score_forward(pq, keys, v, g, b)
        pq_cache = QueryProjectionCache(query, W_q)
    a, sm_cache = masked_softmax_forward(e, mask)
    c, ctx_cache = context_forward(a, values)
    return (c, a), AttendCache(score, score_cache, pq_cache, sm_cache, ctx_cache)


def attend_backward(
    dcontext: np.ndarray, dalignments: np.ndarray | None, cache: AttendCache
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray | None]]:
    """Return ``(dquery, dvalues, dkeys, dparams)``; ``dparams`` maps ``W_q``, ``v``, ``g``, ``b`` to their
    gradients (None when the score has no such parameter)."""
    score, score_cache, pq_cache, sm_cache, ctx_cache = cache
    da, dvalues = context_backward(dcontext, ctx_cache)
    if dalignments is not None:
        da = da + dalignments
    de = masked_softmax_backward(da, sm_cache)
    if score == "luong":
        dquery, dkeys, dg = luong_score_backward(de, score_cache)
        return dquery, dvalues, dkeys, {"W_q": None, "v": None, "g": dg, "b": None}
    dpq, dkeys, dv, dg, db = bahdanau_score_backward(de, score_cache)
    query, W_q = pq_cache
    dquery = np.matmul(dpq, W_q)
    dW_q = np.matmul(dpq.T, query)
    return dquery, dvalues, dkeys, {"W_q": dW_q, "v": dv, "g": dg, "b": db}


# ------------------------------------------------------------------------------------------- whole mechanisms


def luong_forward(
    query: np.ndarray,
    memory: np.ndarray,
    lengths: np.ndarray | None = None,
    W_m: np.ndarray | None = None,
    g: np.ndarray | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], MechanismCache]:
    """Luong attention of ``query`` ``(B, U)`` over ``memory`` ``(B, S, D_m)``: ``((context, alignments),
    cache)``. ``W_m`` ``(U, D_m)`` is the memory layer (None: the ``dot`` score, ``D_m == U``); ``g`` a 0-d
    scale (None: unscaled)."""
    B, S, _ = memory.shape
    mask = memory_mask(lengths, B, S)
    (values, keys), mem_cache = memory_forward(memory, mask, W_m)
    out, att_cache = attend_forward(query, values, keys, mask, "luong", g=g)
    return out, MechanismCache(mem_cache, att_cache)


def luong_backward(
    dout: tuple[np.ndarray, np.ndarray | None], cache: MechanismCache
) -> tuple[np.ndarray, np.ndarray, None, np.ndarray | None, np.ndarray | None]:
    """Return ``(dquery, dmemory, None, dW_m, dg)`` (the ``None`` stands for the integer lengths)."""
    dcontext, dalignments = dout
    mem_cache, att_cache = cache
    dquery, dvalues, dkeys, dp = attend_backward(dcontext, dalignments, att_cache)
    dmemory, dW_m = memory_backward(dvalues, dkeys, mem_cache)
    return dquery, dmemory, None, dW_m, dp["g"]


def bahdanau_forward(
    query: np.ndarray,
    memory: np.ndarray,
    lengths: np.ndarray | None,
    W_m: np.ndarray,
    W_q: np.ndarray,
    v: np.ndarray,
    g: np.ndarray | None = None,
    b: np.ndarray | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], MechanismCache]:
    """Bahdanau attention (normed when ``g`` and ``b`` are given) of ``query`` ``(B, H_q)`` over ``memory``
    ``(B, S, D_m)``; ``W_m`` ``(U, D_m)``, ``W_q`` ``(U, H_q)``, ``v`` and ``b`` ``(U,)``, ``g`` 0-d."""
    B, S, _ = memory.shape
    mask = memory_mask(lengths, B, S)
    (values, keys), mem_cache = memory_forward(memory, mask, W_m)
    out, att_cache = attend_forward(query, values, keys, mask, "bahdanau", W_q=W_q, v=v, g=g, b=b)
    return out, MechanismCache(mem_cache, att_cache)


def bahdanau_backward(
    dout: tuple[np.ndarray, np.ndarray | None], cache: MechanismCache
) -> tuple[np.ndarray, np.ndarray, None, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None,
           np.ndarray | None]:
    """Return ``(dquery, dmemory, None, dW_m, dW_q, dv, dg, db)``."""
    dcontext, dalignments = dout
    mem_cache, att_cache = cache
    dquery, dvalues, dkeys, dp = attend_backward(dcontext, dalignments, att_cache)
    dmemory, dW_m = memory_backward(dvalues, dkeys, mem_cache)
    return dquery, dmemory, None, dW_m, dp["W_q"], dp["v"], dp["g"], dp["b"]

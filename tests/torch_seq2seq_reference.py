"""An independent torch-autograd implementation of the attention mechanisms, the attention wrapper and the
whole seq2seq model, written from TensorFlow's ``tf.contrib.seq2seq`` / TensorFlow NMT semantics (not from
bptt's code). Parameters are torch leaves keyed by bptt's parameter names; everything is float64.

Recurrent layers run step by step with packed-sequence semantics for ``lengths``: at ``t >= length`` a
sequence keeps its state and outputs zeros, so the reverse direction starts at each sequence's own last
element.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as TF


# ---------------------------------------------------------------------------------------------- cells
def lstm_step(x, h, c, P, sfx):
    a = x @ P[f"weight_ih{sfx}"].T + P[f"bias_ih{sfx}"] + h @ P[f"weight_hh{sfx}"].T + P[f"bias_hh{sfx}"]
    i, f, g, o = a.chunk(4, dim=1)
    c2 = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c2), c2


def gru_step(x, h, c, P, sfx):
    gi = x @ P[f"weight_ih{sfx}"].T + P[f"bias_ih{sfx}"]
    gh = h @ P[f"weight_hh{sfx}"].T + P[f"bias_hh{sfx}"]
    ir, iz, in_ = gi.chunk(3, dim=1)
    hr, hz, hn = gh.chunk(3, dim=1)
    r = torch.sigmoid(ir + hr)
    z = torch.sigmoid(iz + hz)
    n = torch.tanh(in_ + r * hn)
    return (1 - z) * n + z * h, None


def _ln(v, gamma, beta):
    mean = v.mean(dim=-1, keepdim=True)
    var = ((v - mean) ** 2).mean(dim=-1, keepdim=True)
    return (v - mean) / torch.sqrt(var + 1e-12) * gamma + beta


def lnlstm_step(x, h, c, P, sfx, forget_bias=1.0):
    """TensorFlow 1's LayerNormBasicLSTMCell (layer_norm=True): kernel (D+H, 4H), blocks i, j, f, o."""
    a = torch.cat([x, h], dim=1) @ P[f"kernel{sfx}"]
    i, j, f, o = a.chunk(4, dim=1)
    i = _ln(i, P[f"input_gamma{sfx}"], P[f"input_beta{sfx}"])
    j = _ln(j, P[f"transform_gamma{sfx}"], P[f"transform_beta{sfx}"])
    f = _ln(f, P[f"forget_gamma{sfx}"], P[f"forget_beta{sfx}"])
    o = _ln(o, P[f"output_gamma{sfx}"], P[f"output_beta{sfx}"])
    c2 = c * torch.sigmoid(f + forget_bias) + torch.sigmoid(i) * torch.tanh(j)
    c2 = _ln(c2, P[f"state_gamma{sfx}"], P[f"state_beta{sfx}"])
    return torch.tanh(c2) * torch.sigmoid(o), c2


STEPS = {"lstm": lstm_step, "gru": gru_step, "lnlstm": lnlstm_step}


def has_c(cell):
    return cell != "gru"


def run_layer(cell, x, h, c, P, sfx, lengths=None, reverse=False):
    """One direction of one layer over ``x`` ``(T, B, D)``; returns ``(y (T, B, H), h_n, c_n)``."""
    T = x.shape[0]
    step = STEPS[cell]
    outs = [None] * T
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        h2, c2 = step(x[t], h, c, P, sfx)
        if lengths is None:
            h, c = h2, c2
            outs[t] = h2
        else:
            act = (t < lengths)[:, None]
            h = torch.where(act, h2, h)
            if c2 is not None:
                c = torch.where(act, c2, c)
            outs[t] = torch.where(act, h2, torch.zeros_like(h2))
    return torch.stack(outs), h, c


def run_stack(cell, x, P, prefix, L, bidirectional, lengths=None, h0=None, c0=None):
    """PyTorch-style stacked (optionally bidirectional) layer; ``h_n`` ordered l0, l0_reverse, l1, ..."""
    nd = 2 if bidirectional else 1
    B = x.shape[1]
    if f"{prefix}weight_hh_l0" in P:
        H = P[f"{prefix}weight_hh_l0"].shape[1]
    else:
        H = P[f"{prefix}kernel_l0"].shape[1] // 4
    hs, cs = [], []
    inp = x
    for layer in range(L):
        outs = []
        for d in range(nd):
            idx = layer * nd + d
            h = torch.zeros(B, H, dtype=x.dtype) if h0 is None else h0[idx]
            c = (torch.zeros(B, H, dtype=x.dtype) if c0 is None else c0[idx]) if has_c(cell) else None
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            PP = {k[len(prefix):]: v for k, v in P.items() if k.startswith(prefix)}
            y, h, c = run_layer(cell, inp, h, c, PP, sfx, lengths, reverse=d == 1)
            outs.append(y)
            hs.append(h)
            cs.append(c)
        inp = torch.cat(outs, dim=2) if nd == 2 else outs[0]
    return inp, torch.stack(hs), (torch.stack(cs) if has_c(cell) else None)


# ---------------------------------------------------------------------------------------------- attention
def memory_mask(lengths, B, S):
    if lengths is None:
        return torch.ones(B, S, dtype=torch.bool)
    return torch.arange(S)[None, :] < lengths[:, None]


def prepare(memory, lengths, W_m):
    """TF's _prepare_memory: zero the memory past each length; keys = memory_layer(values)."""
    B, S, _ = memory.shape
    mask = memory_mask(lengths, B, S)
    values = memory * mask[:, :, None].to(memory.dtype)
    keys = values if W_m is None else values @ W_m.T
    return values, keys, mask


def score(kind, query, keys, P, prefix):
    """Luong: g * q.k ; Bahdanau: v . tanh(W_q q + k) ; normed: (g v/|v|) . tanh(W_q q + k + b)."""
    if kind == "luong":
        e = torch.einsum("bu,bsu->bs", query, keys)
        g = P.get(f"{prefix}attention_g")
        return e if g is None else g * e
    pq = query @ P[f"{prefix}query_layer.weight"].T
    v = P[f"{prefix}attention_v"]
    g = P.get(f"{prefix}attention_g")
    z = keys + pq[:, None, :]
    if g is not None:
        v = g * v / torch.sqrt((v * v).sum())
        z = z + P[f"{prefix}attention_b"]
    return (torch.tanh(z) * v).sum(-1)


def attend(kind, query, values, keys, mask, P, prefix):
    e = score(kind, query, keys, P, prefix).masked_fill(~mask, -math.inf)
    a = torch.softmax(e, dim=-1)
    return torch.einsum("bs,bsd->bd", a, values), a


def mechanism(kind, query, memory, lengths, P, prefix=""):
    values, keys, mask = prepare(memory, lengths, P.get(f"{prefix}memory_layer.weight"))
    return attend(kind, query, values, keys, mask, P, prefix)


def wrapper(cell, kind, inputs, memory, lengths, P, prefix, L, h0, c0, att0, *, attention_layer=True,
            attention_tanh=False, output_attention=True):
    """TF's AttentionWrapper around a MultiRNNCell: input feeding, attention layer, alignment history."""
    mp = f"{prefix}attention_mechanism."
    values, keys, mask = prepare(memory, lengths, P.get(f"{mp}memory_layer.weight"))
    cp = f"{prefix}cell."
    PP = {k[len(cp):]: v for k, v in P.items() if k.startswith(cp)}
    hs = [h0[layer] for layer in range(L)]
    cs = [c0[layer] for layer in range(L)] if has_c(cell) else [None] * L
    att = att0
    outs, aligns = [], []
    for t in range(inputs.shape[0]):
        inp = torch.cat([inputs[t], att], dim=1)
        for layer in range(L):
            hs[layer], cs[layer] = STEPS[cell](inp, hs[layer], cs[layer], PP, f"_l{layer}")
            inp = hs[layer]
        q = inp
        ctx, a = attend(kind, q, values, keys, mask, P, mp)
        if attention_layer:
            att = torch.cat([q, ctx], dim=1) @ P[f"{prefix}attention_layer.weight"].T
            if attention_tanh:
                att = torch.tanh(att)
        else:
            att = ctx
        outs.append(att if output_attention else q)
        aligns.append(a)
    return (torch.stack(outs), torch.stack(hs), (torch.stack(cs) if has_c(cell) else None), att,
            torch.stack(aligns))


# ---------------------------------------------------------------------------------------------- model
def seq2seq_loss(cfg, P, src, src_lengths, tgt_in, tgt_out):
    """Logits and mean cross-entropy (padding ignored) of bptt's Seq2Seq, from its config."""
    cell, L, H = cfg["cell"], cfg["num_layers"], cfg["hidden_size"]
    bi = cfg["encoder"] == "bi"
    x = TF.embedding(src, P["src_embedding.weight"], padding_idx=0)
    out, h_n, c_n = run_stack(cell, x, P, "encoder.", L, bi, src_lengths)
    if bi:
        def bridge(s, name):
            cat = torch.cat([s[0::2], s[1::2]], dim=2)  # (L, B, [fw; bw])
            return cat @ P[f"{name}.weight"].T + P[f"{name}.bias"]
        h0 = bridge(h_n, "bridge_h")
        c0 = bridge(c_n, "bridge_c") if has_c(cell) else None
    else:
        h0, c0 = h_n, c_n
    y = TF.embedding(tgt_in, P["tgt_embedding.weight"], padding_idx=0)
    if cfg["attention"] == "none":
        outputs, _, _ = run_stack(cell, y, P, "decoder.", L, False, None, h0, c0)
    else:
        kind = "luong" if "luong" in cfg["attention"] else "bahdanau"
        memory = out.transpose(0, 1)
        B = src.shape[1]
        att0 = torch.zeros(B, H, dtype=out.dtype)
        outputs = wrapper(cell, kind, y, memory, src_lengths, P, "decoder.", L, h0, c0, att0,
                          attention_tanh=cfg["attention_tanh"])[0]
    logits = outputs @ P["output_layer.weight"].T
    loss = TF.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt_out.reshape(-1), ignore_index=0)
    return logits, loss

r"""Sequence-to-sequence translation with attention (TensorFlow NMT's ``standard`` architecture), by hand.

::

    source ids ─ src_embedding ─ encoder (LSTM | GRU | LayerNormLSTM; uni or bidirectional; lengths)
                                   │ outputs = memory (B, S, D_m)          │ final state
                                   │                                       └ bridge (bidirectional only)
    <s> y_1 .. y_{T-1} ─ tgt_embedding ─ AttentionWrapper(decoder cell, mechanism) ─ output_layer ─ logits

* **Encoder.** One whole-sequence call of :class:`~bptt.nn.LSTM` (or GRU / LayerNormLSTM) with
  ``lengths``, so padding never reaches the state. Bidirectional: each direction has ``hidden_size`` units,
  the memory has ``2 * hidden_size`` features.
* **Bridge.** The decoder starts from the encoder's final state (TensorFlow NMT's ``pass_hidden_state``).
  A unidirectional encoder's state is used as is; a bidirectional one has two states per layer, and the
  bridge maps each layer's :math:`[h^{fw}; h^{bw}]` to the decoder's size with a dense layer
  (``bridge_h``, and ``bridge_c`` for the cell state; shared across layers): :math:`h^{dec}_l = W_b
  [h^{fw}_l; h^{bw}_l] + b_b`. (TensorFlow NMT instead gives the encoder half as many bidirectional
  layers and interleaves their states; the dense bridge works for any number of layers.)
* **Decoder.** :class:`~bptt.nn.AttentionWrapper` with input feeding; Luong (``luong``, ``scaled_luong``)
  or Bahdanau (``bahdanau``, ``normed_bahdanau``) attention with ``num_units = hidden_size`` and an
  attention layer of ``hidden_size``; ``attention="none"`` is the plain encoder-decoder (the decoder
  layer runs over the whole target at once).
* **Output.** ``output_layer`` (no bias, as TensorFlow NMT) maps each attention vector to logits.

The loss is the cross-entropy of ``tgt_out`` (``y_1 .. y_T </s>``) averaged over the non-padding tokens
(teacher forcing). Decoding: :meth:`Seq2Seq.greedy` and :meth:`Seq2Seq.beam_search` (TensorFlow's
``BeamSearchDecoder`` with GNMT's length penalty :math:`lp(\ell) = ((5 + \ell)/6)^\alpha`, scores divided
by it for ranking; the scores returned are the plain sums of log-probabilities).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.parallel import EOS, PAD, SOS, pad_batch
from ..nn import GRU, LSTM, Embedding, LayerNormLSTM, Linear, Module, no_grad
from ..nn import checks as C
from ..nn.attention import AttentionWrapper, AttentionWrapperState, BahdanauAttention, LuongAttention
from .lm import recurrent_parameter_count
from .ranking import penalised, penalised_rank, top_k

CELLS = ("lstm", "gru", "lnlstm")
ENCODERS = ("uni", "bi")
ATTENTIONS = ("luong", "scaled_luong", "bahdanau", "normed_bahdanau", "none")


def _make_rnn(cell: str, input_size: int, hidden_size: int, num_layers: int, bidirectional: bool,
              dtype: Any, rng: np.random.Generator) -> Module:
    if cell == "lstm":
        return LSTM(input_size, hidden_size, num_layers, bidirectional=bidirectional, dtype=dtype, rng=rng)
    if cell == "gru":
        return GRU(input_size, hidden_size, num_layers, bidirectional=bidirectional, dtype=dtype, rng=rng)
    return LayerNormLSTM(input_size, hidden_size, num_layers, bidirectional=bidirectional, dtype=dtype,
                         rng=rng)


@dataclass
class Hypotheses:
    """Decoded sequences for a batch: ``tokens[b]`` (ids, without ``</s>``), ``scores[b]`` (sum of the
    log-probabilities of the emitted tokens, ``</s>`` included when emitted), ``alignments[b]``
    (``(steps, S_b)``: one row per emitted token, ``</s>`` included), ``finished[b]`` (``</s>`` emitted),
    and for beam search the length-penalised ``normalized_scores`` used for ranking."""

    tokens: list[list[int]]
    scores: np.ndarray
    alignments: list[np.ndarray | None]
    finished: np.ndarray
    normalized_scores: np.ndarray | None = None


class Seq2Seq(Module):
    """Encoder-decoder with attention; see the module docstring for the architecture.

    ``forward(src, src_lengths, tgt_in) -> logits`` ``(T, B, tgt_vocab_size)`` with time-major int arrays
    ``src`` ``(S, B)`` and ``tgt_in`` ``(T, B)``; ``backward(dlogits)`` adds into every parameter's gradient.
    Ids 0-3 are ``<pad>``, ``<unk>``, ``<s>``, ``</s>`` (:mod:`bptt.data.parallel`).
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        *,
        embedding_size: int = 32,
        hidden_size: int = 64,
        num_layers: int = 1,
        cell: str = "lstm",
        encoder: str = "uni",
        attention: str = "luong",
        attention_tanh: bool = False,
        dtype: Any = np.float32,
        rng: Any = None,
    ) -> None:
        super().__init__()
        where = "Seq2Seq"
        self.src_vocab_size = C.positive_int(src_vocab_size, "src_vocab_size", where)
        self.tgt_vocab_size = C.positive_int(tgt_vocab_size, "tgt_vocab_size", where)
        for name, v in (("src_vocab_size", self.src_vocab_size), ("tgt_vocab_size", self.tgt_vocab_size)):
            if v <= EOS:
                raise ValueError(f"{where}: {name} must be > {EOS} (ids 0-3 are the special tokens), got {v}")
        self.embedding_size = C.positive_int(embedding_size, "embedding_size", where)
        self.hidden_size = C.positive_int(hidden_size, "hidden_size", where)
        self.num_layers = C.positive_int(num_layers, "num_layers", where)
        self.cell = C.choice(cell, CELLS, "cell", where)
        self.encoder_type = C.choice(encoder, ENCODERS, "encoder", where)
        self.attention = C.choice("none" if attention is None else attention, ATTENTIONS, "attention", where)
        self.attention_tanh = C.boolean(attention_tanh, "attention_tanh", where)
        self.dtype = C.as_dtype(dtype, where)
        gen = C.as_rng(rng, where)
        E, H, L = self.embedding_size, self.hidden_size, self.num_layers
        bi = self.encoder_type == "bi"
        self.src_embedding = Embedding(self.src_vocab_size, E, padding_idx=PAD, dtype=self.dtype, rng=gen)
        self.tgt_embedding = Embedding(self.tgt_vocab_size, E, padding_idx=PAD, dtype=self.dtype, rng=gen)
        self.encoder = _make_rnn(self.cell, E, H, L, bi, self.dtype, gen)
        if bi:
            self.bridge_h = Linear(2 * H, H, dtype=self.dtype, rng=gen)
            self.bridge_c = Linear(2 * H, H, dtype=self.dtype, rng=gen) if self.has_cell_state else None
        else:
            self.bridge_h = self.bridge_c = None
        Dm = (2 if bi else 1) * H
        if self.attention == "none":
            self.decoder = _make_rnn(self.cell, E, H, L, False, self.dtype, gen)
        else:
            if self.attention in ("luong", "scaled_luong"):
                mech = LuongAttention(H, Dm, scale=self.attention == "scaled_luong", dtype=self.dtype,
                                      rng=gen)
            else:
                mech = BahdanauAttention(H, Dm, H, normalize=self.attention == "normed_bahdanau",
                                         dtype=self.dtype, rng=gen)
            cell_mod = _make_rnn(self.cell, E + H, H, L, False, self.dtype, gen)
            self.decoder = AttentionWrapper(cell_mod, mech, H, attention_tanh=self.attention_tanh, rng=gen)
        self.output_layer = Linear(H, self.tgt_vocab_size, bias=False, dtype=self.dtype, rng=gen)

    # ------------------------------------------------------------------ description
    @property
    def has_cell_state(self) -> bool:
        return self.cell in ("lstm", "lnlstm")

    @property
    def has_attention(self) -> bool:
        return self.attention != "none"

    @staticmethod
    def parameter_count(config: dict[str, Any]) -> int:
        """Number of parameter values of ``Seq2Seq.from_config(config)`` without building it: the two
        embeddings, the encoder, the bridge (bidirectional encoders), the decoder (its cell reads
        ``[embedding; attention]`` when there is attention), the attention mechanism and layer, and the output
        layer."""
        Vs, Vt = config["src_vocab_size"], config["tgt_vocab_size"]
        E, H, L, cell = config["embedding_size"], config["hidden_size"], config["num_layers"], config["cell"]
        bi = config["encoder"] == "bi"
        attention = config["attention"] or "none"
        Dm = (2 if bi else 1) * H
        total = (Vs + Vt) * E + recurrent_parameter_count(cell, E, H, L, bi) + H * Vt
        if bi:
            total += (2 if cell in ("lstm", "lnlstm") else 1) * (2 * H * H + H)
        if attention == "none":
            return total + recurrent_parameter_count(cell, E, H, L)
        total += recurrent_parameter_count(cell, E + H, H, L) + H * (H + Dm) + H * Dm
        if attention == "scaled_luong":
            total += 1
        elif attention in ("bahdanau", "normed_bahdanau"):
            total += H + H * H + (1 + H if attention == "normed_bahdanau" else 0)
        return total

    def config(self) -> dict[str, Any]:
        return {
            "src_vocab_size": self.src_vocab_size, "tgt_vocab_size": self.tgt_vocab_size,
            "embedding_size": self.embedding_size, "hidden_size": self.hidden_size,
            "num_layers": self.num_layers, "cell": self.cell, "encoder": self.encoder_type,
            "attention": self.attention, "attention_tanh": self.attention_tanh, "dtype": str(self.dtype),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any], rng: Any = 0) -> Seq2Seq:
        c = dict(config)
        return cls(c.pop("src_vocab_size"), c.pop("tgt_vocab_size"), **c, rng=rng)

    # ------------------------------------------------------------------ validation
    def _check_ids(self, ids: Any, name: str, vocab: int, where: str) -> np.ndarray:
        ids = C.as_array(ids, name, where, "a (T, B) integer array")
        if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"{where}: {name} must be a time-major (T, B) integer array, got "
                             f"{C.shape_str(ids.shape)} {ids.dtype}")
        if ids.shape[0] == 0 or ids.shape[1] == 0:
            raise ValueError(f"{where}: {name} must have T >= 1 and B >= 1, got {C.shape_str(ids.shape)}")
        if ids.min() < 0 or ids.max() >= vocab:
            raise ValueError(f"{where}: {name} ids must be in [0, {vocab}), got min {int(ids.min())} and max "
                             f"{int(ids.max())}")
        return ids

    def _check_src(self, src: Any, src_lengths: Any, where: str) -> tuple[np.ndarray, np.ndarray]:
        src = self._check_ids(src, "src", self.src_vocab_size, where)
        S, B = src.shape
        if src_lengths is None:
            return src, np.full(B, S, dtype=np.int64)
        lengths = C.as_array(src_lengths, "src_lengths", where, f"an integer array of shape ({B},)")
        if lengths.shape != (B,) or not np.issubdtype(lengths.dtype, np.integer):
            raise ValueError(f"{where}: src_lengths must be an integer array of shape ({B},), got "
                             f"{C.shape_str(lengths.shape)} {lengths.dtype}")
        if lengths.min() < 1 or lengths.max() > S:
            raise ValueError(f"{where}: src_lengths must be in [1, {S}], got min {int(lengths.min())} and "
                             f"max {int(lengths.max())}")
        return src, lengths.astype(np.int64)

    # ------------------------------------------------------------------ encoder and bridge
    def _encode(self, src: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, Any]:
        """``memory`` ``(B, S, D_m)`` and the decoder's initial cell state."""
        x = self.src_embedding(src)
        out, state = self.encoder(x, None, lengths)
        memory = np.ascontiguousarray(out.transpose(1, 0, 2))
        return memory, self._bridge(state)

    def _bridge(self, state: Any) -> Any:
        if self.bridge_h is None:
            return state
        if self.has_cell_state:
            h, c = state
            return self._bridge_one(self.bridge_h, h), self._bridge_one(self.bridge_c, c)
        return self._bridge_one(self.bridge_h, state)

    def _bridge_one(self, layer: Linear, s: np.ndarray) -> np.ndarray:
        L2, B, H = s.shape  # (l0, l0_reverse, l1, ...) -> (L, B, [fw; bw])
        cat = s.reshape(L2 // 2, 2, B, H).transpose(0, 2, 1, 3).reshape(L2 // 2, B, 2 * H)
        return layer(cat)

    def _bridge_backward(self, dstate: Any) -> Any:
        if self.bridge_h is None:
            return dstate
        if self.has_cell_state:
            dh, dc = dstate
            # LIFO: bridge_c was called after bridge_h, each on its own module: order does not matter
            return self._bridge_one_backward(self.bridge_h, dh), self._bridge_one_backward(self.bridge_c, dc)
        return self._bridge_one_backward(self.bridge_h, dstate)

    def _bridge_one_backward(self, layer: Linear, ds: np.ndarray) -> np.ndarray:
        dcat = layer.backward(ds)
        L, B, H2 = dcat.shape
        H = H2 // 2
        return np.ascontiguousarray(dcat.reshape(L, B, 2, H).transpose(0, 2, 1, 3).reshape(2 * L, B, H))

    # ------------------------------------------------------------------ training
    def forward(self, src: np.ndarray, src_lengths: Any, tgt_in: np.ndarray) -> np.ndarray:
        """Teacher forcing: logits ``(T, B, tgt_vocab_size)`` for the decoder inputs ``tgt_in`` ``(T, B)``.

        The alignments of the call (``(T, B, S)``, None without attention) are kept in
        ``self.last_alignments``."""
        where = "Seq2Seq.forward"
        src, lengths = self._check_src(src, src_lengths, where)
        tgt_in = self._check_ids(tgt_in, "tgt_in", self.tgt_vocab_size, where)
        if tgt_in.shape[1] != src.shape[1]:
            raise ValueError(f"{where}: tgt_in has batch size {tgt_in.shape[1]}, src has {src.shape[1]}")
        memory, state = self._encode(src, lengths)
        y = self.tgt_embedding(tgt_in)
        if self.has_attention:
            outputs, _, alignments = self.decoder(y, memory, lengths, AttentionWrapperState(state, None))
        else:
            outputs, _ = self.decoder(y, state)
            alignments = None
        self.last_alignments = alignments
        logits = self.output_layer(outputs)
        self._save(src.shape)
        return logits

    def backward(self, dlogits: np.ndarray) -> None:
        """Backpropagate ``dlogits`` ``(T, B, tgt_vocab_size)`` into every parameter."""
        self._peek()
        douts = self.output_layer.backward(dlogits)
        self._pop()
        if self.has_attention:
            dy, dmemory, dinit = self.decoder.backward(douts)
            dstate = dinit.cell_state
            denc = np.ascontiguousarray(dmemory.transpose(1, 0, 2))
        else:
            dy, dstate = self.decoder.backward(douts)
            denc = None
        self.tgt_embedding.backward(dy)
        dstate = self._bridge_backward(dstate)
        dx, _ = self.encoder.backward(denc, dstate)
        self.src_embedding.backward(dx)

    # ------------------------------------------------------------------ decoding
    def _start(self, src: np.ndarray, lengths: np.ndarray) -> tuple[Any, Any]:
        memory, state = self._encode(src, lengths)
        if not self.has_attention:
            return state, None
        mem = self.decoder.prepare(memory, lengths)
        B = src.shape[1]
        return AttentionWrapperState(state, np.zeros((B, self.decoder.attention_size), dtype=self.dtype)), mem

    def _step(self, y_prev: np.ndarray, state: Any, mem: Any) -> tuple[np.ndarray, Any, np.ndarray | None]:
        """Log-probabilities ``(N, V)`` of the next token, the next state and the alignments ``(N, S)``.

        ``<pad>`` and ``<s>`` get ``-inf``: they are never targets, so they are never emitted."""
        e = self.tgt_embedding(y_prev)
        if self.has_attention:
            out, state = self.decoder.step(e, state, mem)
            alignments = state.alignments
        else:
            out, state = self.decoder(e[None], state)
            out, alignments = out[0], None
        logits = self.output_layer(out)
        z = logits - logits.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        logp[:, (PAD, SOS)] = -np.inf  # never targets: never emitted (the rest keep their log-probabilities)
        return logp, state, alignments

    @staticmethod
    def _select(state: Any, rows: np.ndarray) -> Any:
        """The state of rows ``rows`` (cell states are ``(L, N, H)``, the attention ``(N, A)``)."""
        if isinstance(state, AttentionWrapperState):
            return AttentionWrapperState(Seq2Seq._select(state.cell_state, rows), state.attention[rows],
                                         None if state.alignments is None else state.alignments[rows])
        if isinstance(state, tuple):
            return tuple(s[:, rows] for s in state)
        return state[:, rows]

    def _limits(self, lengths: np.ndarray, max_length: int | None, where: str, width: int = 1) -> np.ndarray:
        """Per-sequence step limits: ``max_length``, or ``max(10, 2 * length)`` (TensorFlow NMT's twice the
        source length, with a floor). Per sequence, so a result never depends on the rest of the batch. The
        tokens and alignments kept for ``width`` hypotheses per sequence must fit in the memory available."""
        if max_length is None:
            limits = np.maximum(10, 2 * lengths)
        else:
            limits = np.full(lengths.shape, C.positive_int(max_length, "max_length", where), dtype=np.int64)
        steps, S = int(limits.max()), int(lengths.max())
        per_step = len(lengths) * width * (8 + (S * self.dtype.itemsize if self.has_attention else 0))
        C.require_memory(2 * steps * per_step, f"decoding up to {steps:,} tokens", "lower --max-length")
        return limits

    def greedy(self, src: np.ndarray, src_lengths: Any = None, max_length: int | None = None) -> Hypotheses:
        """Greedy decoding of a batch (``src`` ``(S, B)``): the most probable token at every step, until
        each sequence has emitted ``</s>`` or ``max_length`` tokens (default ``max(10, 2 * its length)``)."""
        where = "Seq2Seq.greedy"
        src, lengths = self._check_src(src, src_lengths, where)
        limits = self._limits(lengths, max_length, where)
        B = src.shape[1]
        with no_grad():
            state, mem = self._start(src, lengths)
            y = np.full(B, SOS, dtype=np.int64)
            finished = np.zeros(B, dtype=bool)
            scores = np.zeros(B, dtype=self.dtype)
            toks, aligns = [], []
            for t in range(int(limits.max())):
                stopped = finished | (t >= limits)
                if stopped.all():
                    break
                logp, state, a = self._step(y, state, mem)
                y = logp.argmax(axis=1)
                scores += np.where(stopped, 0.0, logp[np.arange(B), y]).astype(self.dtype)
                toks.append(np.where(stopped, PAD, y))
                aligns.append(a)
                finished = finished | ((y == EOS) & ~stopped)
        return self._collect(np.stack(toks, axis=1), scores, finished, aligns, lengths)

    def _collect(self, toks: np.ndarray, scores: np.ndarray, finished: np.ndarray, aligns: list,
                 lengths: np.ndarray, normalized: np.ndarray | None = None) -> Hypotheses:
        """``toks`` ``(B, steps)``; ``aligns`` a list of per-step ``(B, S)`` arrays (or Nones)."""
        B = toks.shape[0]
        A = None if aligns[0] is None else np.stack(aligns, axis=1)  # (B, steps, S)
        out_toks, out_al = [], []
        for b in range(B):  # per-sequence bookkeeping of the results only (no math)
            row = toks[b]
            ends = np.flatnonzero((row == EOS) | (row == PAD))  # <pad> is never emitted: it is filler
            n = int(ends[0]) if ends.size else len(row)
            out_toks.append([int(t) for t in row[:n]])
            steps = n + 1 if ends.size and row[n] == EOS else n
            out_al.append(None if A is None else A[b, :steps, : int(lengths[b])].copy())
        return Hypotheses(out_toks, scores, out_al, finished, normalized)

    def beam_search(self, src: np.ndarray, src_lengths: Any = None, beam_width: int = 4,
                    length_penalty: float = 0.0, max_length: int | None = None) -> Hypotheses:
        r"""Beam search (TensorFlow's ``BeamSearchDecoder``), batched over ``B * beam_width`` rows.

        Every step extends each live beam by every token, scores the candidates by their summed
        log-probability divided by :math:`lp(\ell) = ((5 + \ell)/6)^{\alpha}` (``alpha = length_penalty``;
        :math:`\ell` counts the tokens before ``</s>``) and keeps the ``beam_width`` best per sequence (ties
        go to the lower beam, then the lower token id). A finished beam can only be extended by ``</s>`` at
        probability 1. Each sequence stops after ``max_length`` tokens (default ``max(10, 2 * its
        length)``). Returns the best hypothesis per sequence; ``scores`` are the sums of the
        log-probabilities, ``normalized_scores`` the length-penalised ones. ``beam_width=1`` is greedy
        decoding.
        """
        where = "Seq2Seq.beam_search"
        if isinstance(beam_width, bool) or not isinstance(beam_width, (int, np.integer)) or beam_width <= 0:
            raise ValueError(f"{where}: beam_width must be a positive int, got {beam_width!r}")
        alpha = C.finite_float(length_penalty, "length_penalty", where)
        if alpha < 0:
            raise ValueError(f"{where}: length_penalty must be >= 0, got {alpha}")
        src, lengths = self._check_src(src, src_lengths, where)
        limits = self._limits(lengths, max_length, where, int(beam_width))
        K = int(beam_width)
        B = src.shape[1]
        V = self.tgt_vocab_size
        with no_grad():
            state, mem = self._start(src, lengths)
            rows0 = np.repeat(np.arange(B), K)
            state = self._select(state, rows0)
            if mem is not None:
                mem = mem.repeat(K)
            y = np.full(B * K, SOS, dtype=np.int64)
            sum_logp = np.full((B, K), -np.inf, dtype=self.dtype)
            sum_logp[:, 0] = 0.0
            finished = np.zeros((B, K), dtype=bool)
            out_len = np.zeros((B, K), dtype=np.int64)
            toks = np.zeros((B, K, 0), dtype=np.int64)
            aligns: list = []  # per step (B, K, S), reordered with the beams
            eos_row = np.full(V, -np.inf, dtype=self.dtype)
            eos_row[EOS] = 0.0
            not_eos = np.arange(V) != EOS
            keep = np.arange(K)[None, :]
            for t in range(int(limits.max())):
                frozen = (t >= limits)[:, None]  # out of steps: the beams stay as they are
                if np.all(finished | frozen):
                    break
                logp, state, a = self._step(y, state, mem)
                logp = logp.reshape(B, K, V)
                logp = np.where(finished[:, :, None], eos_row, logp)
                total = sum_logp[:, :, None] + logp
                new_len = out_len[:, :, None] + ((~finished)[:, :, None] & not_eos)
                score = total if alpha == 0.0 else penalised_rank(total, new_len, alpha)
                top = top_k(score.reshape(B, K * V), K)
                parent, tok = top // V, top % V
                new_sum = np.take_along_axis(total.reshape(B, K * V), top, axis=1)
                new_out_len = np.take_along_axis(new_len.reshape(B, K * V), top, axis=1)
                new_finished = np.take_along_axis(finished, parent, axis=1) | (tok == EOS)
                if frozen.any():
                    parent, tok = np.where(frozen, keep, parent), np.where(frozen, PAD, tok)
                    new_sum = np.where(frozen, sum_logp, new_sum)
                    new_out_len = np.where(frozen, out_len, new_out_len)
                    new_finished = np.where(frozen, finished, new_finished)
                sum_logp, out_len, finished = new_sum, new_out_len, new_finished
                toks = np.concatenate([np.take_along_axis(toks, parent[:, :, None], axis=1), tok[:, :, None]],
                                      axis=2)
                rows = (np.arange(B)[:, None] * K + parent).reshape(-1)
                state = self._select(state, rows)
                if a is not None:
                    aligns = [al[np.arange(B)[:, None], parent] for al in aligns]
                    aligns.append(a[rows].reshape(B, K, -1))
                y = tok.reshape(-1)
            if alpha == 0.0:
                normalized, best = sum_logp, top_k(sum_logp, 1)[:, 0]
            else:
                best = top_k(penalised_rank(sum_logp, out_len, alpha), 1)[:, 0]
                with np.errstate(over="ignore"):
                    normalized = penalised(sum_logp, out_len, alpha).astype(self.dtype)
        bi = np.arange(B)
        al = [None] if not aligns else [s[bi, best] for s in aligns]
        return self._collect(toks[bi, best], sum_logp[bi, best], finished[bi, best], al, lengths,
                             normalized[bi, best])

    def translate(self, sources: list[np.ndarray], *, beam_width: int = 1, length_penalty: float = 0.0,
                  max_length: int | None = None, batch_size: int = 64) -> Hypotheses:
        """Decode a list of source id arrays (any lengths, batched ``batch_size`` at a time, sorted by length
        for less padding); results in the input order."""
        where = "Seq2Seq.translate"
        if isinstance(beam_width, bool) or not isinstance(beam_width, (int, np.integer)) or beam_width <= 0:
            raise ValueError(f"{where}: beam_width must be a positive int, got {beam_width!r}")
        batch_size = C.positive_int(batch_size, "batch_size", where)
        if not sources:
            raise ValueError(f"{where}: no sources to translate")
        for i, s in enumerate(sources):
            if len(s) == 0:
                raise ValueError(f"{where}: source {i} is empty")
        order = np.argsort([len(s) for s in sources], kind="stable")
        results: list[Any] = [None] * len(sources)
        for start in range(0, len(sources), batch_size):
            idx = order[start : start + batch_size]
            src, lengths = pad_batch([np.asarray(sources[i], dtype=np.int64) for i in idx])
            if beam_width == 1:
                hyp = self.greedy(src, lengths, max_length)
            else:
                hyp = self.beam_search(src, lengths, beam_width, length_penalty, max_length)
            for j, i in enumerate(idx):
                results[i] = (hyp.tokens[j], hyp.scores[j], hyp.alignments[j], hyp.finished[j],
                              None if hyp.normalized_scores is None else hyp.normalized_scores[j])
        norm = None if beam_width == 1 else np.array([r[4] for r in results])
        scores = np.array([r[1] for r in results])
        if not np.isfinite(scores).all():
            raise FloatingPointError(f"{where}: the model's scores are not finite (the model is damaged or diverged)")
        return Hypotheses([r[0] for r in results], scores, [r[2] for r in results],
                          np.array([r[3] for r in results]), norm)

    def extra_repr(self) -> str:
        return (f"cell={self.cell!r}, encoder={self.encoder_type!r}, attention={self.attention!r}, "
                f"layers={self.num_layers}, hidden={self.hidden_size}, embedding={self.embedding_size}")

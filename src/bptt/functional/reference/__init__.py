r"""The textbook tier: the same math as :mod:`bptt.functional`, written to be read next to seed 000.

bptt keeps every hand-derived op with a fused fast path in two tiers:

**The fast tier** (:mod:`bptt.functional`) is what training runs: the input projections of all steps in one
matrix product, in-place ufuncs into preallocated buffers, sigmoids evaluated through one pre-scaled
``tanh``, the step-independent factors of the backward pass formed ahead in cache-sized blocks, the weight
gradients as single matrix products over all steps. Fast, and hard to read next to a derivation.

**The reference tier** (this package) is what a student reads and what tracing and ``bptt explain`` show.
One time step is a function (``step_forward`` / ``step_backward``, as in cs231n's ``rnn_step_forward`` /
``rnn_step_backward``), a sequence is a loop over the steps, every equation is one line, the sigmoid is
``1 / (1 + exp(-a))``, and every quantity carries the seed's name: ``dh`` (dHt), ``do`` (dOt), ``dc``
(dCt), ``dg`` (dCprojt), ``df`` (dFt), ``di`` (dIt), ``dz`` (dHX) split into ``dx`` and ``dh_next``, and
``dc_next`` (dC_next). No ``out=`` buffers, no pre-scaling, no blocking: clarity is its only job.

Each reference module takes the **same arguments and returns the same results** (same tuple structure,
shapes and dtypes) as its fast twin, minus the fast op's ``ws`` workspace, so either can stand in for the
other; the tests hold the two equal in float64 to 1e-12 (relative to the largest entry of each array) for
the outputs and every gradient, over every option (``reverse``, ``lengths``, projection, ``forget_bias``,
biases or none, layer norm on or off, recurrent dropout). The reference is itself checked against PyTorch
autograd and finite differences.

=================  ================================================================================
twin               fast path it mirrors
=================  ================================================================================
:mod:`.lstm`       :mod:`bptt.functional.lstm` (PyTorch's LSTM, optional projection ``W_hr``)
:mod:`.gru`        :mod:`bptt.functional.gru`
:mod:`.rnn`        :mod:`bptt.functional.rnn` (``tanh`` or ``relu``)
:mod:`.ln_lstm`    :mod:`bptt.functional.ln_lstm` (TensorFlow's ``LayerNormBasicLSTMCell``, with the
                   layer-norm forward and backward as their own small step functions)
:mod:`.cross_entropy`  :mod:`bptt.functional.cross_entropy`, which fuses softmax and negative
                   log-likelihood into ``p - onehot(y)``; the twin takes the chain rule one link at a time
:mod:`.slstm`      :mod:`bptt.functional.slstm` (xLSTM's sLSTM: exponential gating, normaliser and
                   stabiliser states, block-diagonal heads)
:mod:`.mlstm`      :mod:`bptt.functional.mlstm` (xLSTM's mLSTM, recurrent form: matrix memory per head)
:mod:`.mlstm_parallel`  :mod:`bptt.functional.mlstm_parallel` (the mLSTM's parallel form: one head at a time,
                   the whole sequence as ``(T, T)`` matrices)
:mod:`.scan`       :mod:`bptt.functional.scan`, the linear recurrence ``h_t = a_t h_{t-1} + b_t``: its
                   backward written as the reverse scan it is, one step per function
:mod:`.min_gru`    :mod:`bptt.functional.min_gru` (Feng et al. 2024; ``mode="parallel"`` or ``"sequential"``)
:mod:`.min_lstm`   :mod:`bptt.functional.min_lstm` (Feng et al. 2024)
=================  ================================================================================

**Ops without a twin**, because they are already written one plain equation per line and have no fused
path: ``linear`` (``y = x W^T + b``; ``dx = dy W``, ``dW = dy^T x``, ``db = sum dy``), ``embedding`` (a row
lookup; its backward a scatter-add), ``dropout``, the activations ``sigmoid``, ``tanh``, ``relu``,
``softmax`` and ``log_softmax``, and the attention primitives of :mod:`bptt.functional.attention`
(memory, Luong and Bahdanau scores, masked softmax, context, attention layer: each a separate
forward/backward pair of a few equations, composed step by step by ``attend_forward`` /
``attend_backward``, so the module already reads as its own reference).

**API shared by the recurrent twins** (``lstm``, ``gru``, ``rnn``, ``ln_lstm``), for tools such as tracing
that build on it:

- ``step_forward(x_t, h_prev, [c_prev,] *weights, **options) -> (state, StepCache)`` and
  ``step_backward(dy_t, dh_next_in, [dc_next_in,] step_cache, *weights, **options) -> StepGrads``;
- ``forward(...) -> (outputs, SequenceCache)`` and ``backward(dout, cache, *, need_dx=True, record=None)``,
  both with the fast twin's arguments and results (``backward`` returns the very gradient NamedTuple of the
  fast twin: ``LSTMGrads`` / ``LSTMProjectionGrads``, ``HiddenGrads``, ``LNLSTMGrads``, imported from it,
  the only thing a reference module takes from the fast tier);
- ``StepCache`` and ``StepGrads`` are :class:`typing.NamedTuple` s of per-step ``(B, ·)`` arrays named as in
  the seed; ``SequenceCache.steps[t]`` is the ``StepCache`` of time step ``t`` (time order, also for the
  reverse direction), ``SequenceCache.mask`` the ``(T, B, 1)`` packed-sequence mask;
- ``record``, when given, is called once at the end of ``forward`` as ``record(cache)`` and once at the end
  of ``backward`` as ``record(cache, steps)``, ``steps[t]`` being the ``StepGrads`` of time step ``t``.

The xLSTM twins follow the same API with their own states: ``slstm`` carries ``(h, c, n, m)`` (so
``step_backward`` takes ``dh_next_in, dc_next_in, dn_next_in, dm_next_in``), ``mlstm`` carries ``(C, n, m)``
and no ``h`` (its projections read ``x_t`` only); ``mlstm_parallel`` has no steps: its unit is one head over
the whole sequence (``head_forward`` / ``head_backward``), and ``record(cache, heads)`` receives
``heads[b][k]``.
"""

from . import common, cross_entropy, gru, ln_lstm, lstm, min_gru, min_lstm, mlstm, mlstm_parallel, rnn, scan, slstm

__all__ = ["common", "cross_entropy", "gru", "ln_lstm", "lstm", "min_gru", "min_lstm", "mlstm", "mlstm_parallel", "rnn",
           "scan", "slstm"]

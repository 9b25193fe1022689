"""Runnable examples built on :mod:`bptt` (each is a module run with ``python -m bptt.examples.<name>``).

- :mod:`bptt.examples.program`: how each runs as a program (a closed pipe or Ctrl-C is an exit code, not a
  traceback).
- :mod:`bptt.examples.belling_the_cat`: seed 000's word-level LSTM experiment (Deep-Breathe's
  ``tfwordslstm``): constant weights, plain SGD, the exact per-step losses TensorFlow prints, for a
  unidirectional, initial-state, stacked, bidirectional and stacked-bidirectional LSTM.
"""

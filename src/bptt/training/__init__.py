"""Training: one loop (:mod:`bptt.training.loop`) that language models and translators plug into.

:func:`bptt.training.lm.train` (``bptt train``) and :func:`bptt.training.seq2seq.train` (``bptt translate
train``) each run their task through the same loop; ``config`` declares their settings, ``checkpoint`` the
training state in a checkpoint, ``rundir`` the output directory, ``communicator`` the processes of a run.
"""

from .config import RunConfig
from .lm import TrainConfig
from .loop import Hooks, Interrupted, Result, Schedule, Task, Trainer, TrainingError, run
from .rundir import RunDirectory, RunDirectoryError, RunInUse
from .seq2seq import Seq2SeqConfig

__all__ = ["Hooks", "Interrupted", "Result", "RunConfig", "RunDirectory", "RunDirectoryError", "RunInUse", "Schedule",
           "Seq2SeqConfig", "Task", "TrainConfig", "Trainer", "TrainingError", "run"]

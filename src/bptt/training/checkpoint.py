"""The training state inside a checkpoint: what ``--resume`` needs to continue bit for bit.

The file is :mod:`bptt.models.checkpoint`'s ``.npz`` (parameters, arrays, ``meta.json``). On top of the model
(``param/*``, ``model_config``) a training checkpoint's ``meta`` holds

- ``train_config``: the run's configuration; ``step`` and ``total_steps``;
- ``optimizer``: the optimizer's hyperparameters and scalar state (its array buffers are ``optim/<i>/<name>``);
- ``rng``: the state of every random generator of the model and the task, by name;
- ``window``: the partial logging window (loss sum, steps, tokens) of the interrupted run;
- the task's own entries (vocabularies, batching position, data fingerprints), its arrays under ``array/``.

:data:`SCHEMA` and each task's ``SCHEMA`` name the entries a training checkpoint must have and their JSON
types; :func:`load` refuses a checkpoint without them with one clear message.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..models import checkpoint as ckpt
from ..nn import Module
from .config import RunConfig

__all__ = ["SCHEMA", "TrainingCheckpoint", "generators", "load", "pack_optimizer", "resumed_config",
           "unpack_optimizer"]

SCHEMA: dict[str, type] = {"train_config": dict, "step": int, "optimizer": dict, "rng": dict}
_JSON_TYPE = {dict: "a mapping", int: "an integer", list: "a list", str: "a string"}


class TrainingCheckpoint(NamedTuple):
    """A loaded training checkpoint: ``meta`` (JSON), model ``params``, ``arrays`` (``optim/*``, ``array/*``)."""

    path: Path
    meta: dict[str, Any]
    params: dict[str, np.ndarray]
    arrays: dict[str, np.ndarray]

    @property
    def task_arrays(self) -> dict[str, np.ndarray]:
        """The task's arrays (``array/<name>``), by ``<name>``."""
        return {k[len("array/"):]: v for k, v in self.arrays.items() if k.startswith("array/")}


def load(directory: Path, kind: str, schema: dict[str, type]) -> TrainingCheckpoint:
    """Read the checkpoint in ``directory``; check it holds a ``kind`` run with every entry of :data:`SCHEMA`
    and ``schema`` (the task's). Raises :class:`~bptt.models.checkpoint.CheckpointError`."""
    meta, params, arrays = ckpt.load(directory, kind=kind)
    need = {**SCHEMA, **schema}
    missing = [k for k in need if k not in meta]
    if missing:
        raise ckpt.CheckpointError(f"the checkpoint in {directory} is incomplete (no {', '.join(missing)})")
    for key, typ in need.items():
        if not isinstance(meta[key], typ) or isinstance(meta[key], bool):
            raise ckpt.CheckpointError(f"the checkpoint in {directory} has an invalid configuration ({key} is not "
                                       f"{_JSON_TYPE[typ]})")
    return TrainingCheckpoint(Path(directory), meta, params, arrays)


def resumed_config(checkpoint: TrainingCheckpoint, given: RunConfig) -> Any:
    """The configuration of a resumed run: the checkpoint's, with the schedule (:meth:`RunConfig.schedule`)
    of ``given``. A saved configuration that is not valid is a :class:`~bptt.models.checkpoint.CheckpointError`;
    a bad schedule in ``given`` a ``ValueError``."""
    cls = type(given)
    try:
        saved = cls.from_dict(checkpoint.meta["train_config"])
        saved.validate()
    except (TypeError, ValueError) as exc:
        raise ckpt.CheckpointError(f"the checkpoint in {checkpoint.path} has an invalid configuration ({exc})"
                                   ) from None
    cfg = dataclasses.replace(saved, **{name: getattr(given, name) for name in cls.schedule()})
    cfg.validate()
    return cfg


def generators(module: Module) -> dict[str, np.random.Generator]:
    """Every ``numpy.random.Generator`` held by ``module`` or its children, by dotted attribute name."""
    out = {}
    for mname, m in module.named_modules():
        for attr, value in vars(m).items():
            if isinstance(value, np.random.Generator):
                out[f"{mname}.{attr}" if mname else attr] = value
    return out


def pack_optimizer(state_dict: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """Split an optimizer ``state_dict`` into JSON (returned) and arrays (added to ``arrays``)."""
    state_json: dict[str, dict[str, Any]] = {}
    for idx, st in state_dict["state"].items():
        entry = {}
        for k, v in st.items():
            if isinstance(v, np.ndarray):
                arrays[f"optim/{idx}/{k}"] = v
                entry[k] = {"__array__": f"optim/{idx}/{k}"}
            else:
                entry[k] = v
        state_json[str(idx)] = entry
    return {"state": state_json, "param_groups": state_dict["param_groups"]}


def unpack_optimizer(packed: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    """The optimizer ``state_dict`` of :func:`pack_optimizer`'s JSON and the checkpoint's arrays."""
    state = {}
    for idx, entry in packed["state"].items():
        st = {}
        for k, v in entry.items():
            if isinstance(v, dict) and "__array__" in v:
                key = v["__array__"]
                if key not in arrays:
                    raise ckpt.CheckpointError(f"checkpoint is missing the optimizer array {key!r}")
                st[k] = arrays[key]
            else:
                st[k] = v
        state[int(idx)] = st
    return {"state": state, "param_groups": packed["param_groups"]}

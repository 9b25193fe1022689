"""The training state inside a checkpoint: what ``--resume`` needs to continue bit for bit.

The file is :mod:`bptt.models.checkpoint`'s ``.npz`` (parameters, arrays, ``meta.json``). On top of the model
(``param/*``, ``model_config``) a training checkpoint's ``meta`` holds

- ``train_config``: the run's configuration; ``step`` and ``total_steps``;
- ``optimizer``: the optimizer's hyperparameters and scalar state (its array buffers are ``optim/<i>/<name>``);
- ``rng``: the state of every random generator of the model and the task, by name;
- ``window``: the partial logging window (loss sum, steps, tokens) of the interrupted run;
- the task's own entries (vocabularies, batching position, data fingerprints), its arrays under ``array/``.

:data:`SCHEMA` and each task's ``SCHEMA`` declare the entries a training checkpoint must have and their shape
(:mod:`bptt.models.schema`): :func:`load` refuses a checkpoint whose entry is missing, of the wrong type or
out of range with one message naming the file and the field (``step must be a non-negative integer, got
-5``); :func:`saved_config` checks the saved configuration setting by setting; the loop and the tasks check
what only they can (the model's configuration against the run's, the arrays against the model, the batching
position against the data, every random generator present).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..models import checkpoint as ckpt
from ..models.schema import Anything, Float, Int, ListOf, MapOf, Record, Spec, Str, shown
from ..nn import Module
from .config import RunConfig

__all__ = ["RNG_STATE", "SCHEMA", "SHA256", "TrainingCheckpoint", "check_model_config", "generators", "load",
           "pack_optimizer", "resumed_config", "saved_config", "unpack_optimizer"]

#: a ``numpy.random.PCG64`` state (``bit_generator.state``), the generator of every ``default_rng``
RNG_STATE = Record({"bit_generator": Str(("PCG64",)),
                    "state": Record({"state": Int(0, 2**128 - 1), "inc": Int(0, 2**128 - 1)}),
                    "has_uint32": Int(0, 1), "uinteger": Int(0, 2**32 - 1)})
#: the SHA-256 fingerprint of a data file, 64 lowercase hexadecimal digits
SHA256 = Str(length=64, alphabet="0123456789abcdef", what="a SHA-256 fingerprint (64 hexadecimal digits)")

#: the training entries every training checkpoint holds (the task adds its own: ``Task.SCHEMA``)
SCHEMA: dict[str, Spec | type] = {
    "train_config": MapOf(Anything()),  # checked setting by setting against the run's configuration class
    "step": Int(low=0),
    "total_steps": Int(low=1),
    "optimizer": Record({"state": MapOf(MapOf(Anything())), "param_groups": ListOf(MapOf(Anything()), length=1)}),
    "rng": MapOf(RNG_STATE),
    "window": Record({"loss": Float(), "n": Int(low=0), "tokens": Int(low=0)}),
}


class TrainingCheckpoint(NamedTuple):
    """A loaded training checkpoint: its ``path`` (the file), ``meta`` (JSON), model ``params``, ``arrays``
    (``optim/*``, ``array/*``)."""

    path: Path
    meta: dict[str, Any]
    params: dict[str, np.ndarray]
    arrays: dict[str, np.ndarray]

    @property
    def task_arrays(self) -> dict[str, np.ndarray]:
        """The task's arrays (``array/<name>``), by ``<name>``."""
        return {k[len("array/"):]: v for k, v in self.arrays.items() if k.startswith("array/")}

    def invalid(self, problem: str) -> ckpt.CheckpointError:
        """The error of an entry that does not fit: ``FILE: invalid checkpoint: PROBLEM``."""
        return ckpt.CheckpointError(f"{self.path}: invalid checkpoint: {problem}")


def load(directory: Path, kind: str, schema: dict[str, Spec | type]) -> TrainingCheckpoint:
    """Read the checkpoint in ``directory``; check it holds a ``kind`` run with every entry of :data:`SCHEMA`
    and ``schema`` (the task's), each of the declared shape. Raises
    :class:`~bptt.models.checkpoint.CheckpointError` naming the file and the first entry that does not fit."""
    file = ckpt.resolve(directory)
    meta, params, arrays = ckpt.load(file, kind=kind)
    ckpt.check_meta(meta, Record({**SCHEMA, **schema}, extra=True), file)
    return TrainingCheckpoint(file, meta, params, arrays)


def saved_config(checkpoint: TrainingCheckpoint, cls: type[RunConfig]) -> Any:
    """The run configuration saved in ``checkpoint`` (``train_config``): every setting of ``cls`` present, of
    its type and in its range, no other; a :class:`~bptt.models.checkpoint.CheckpointError` names the first
    that is not."""
    saved = checkpoint.meta["train_config"]
    names = [s.name for s in cls.settings()]
    unknown = sorted(set(saved) - set(names))
    if unknown:
        raise checkpoint.invalid(f"train_config has unexpected entries: {', '.join(unknown)}")
    for s in cls.settings():
        if s.name not in saved:
            raise checkpoint.invalid(f"train_config.{s.name} is missing")
        try:
            s.check(saved[s.name], f"train_config.{s.name}")
        except ValueError as exc:
            raise checkpoint.invalid(str(exc)) from None
    cfg = cls(**saved)
    try:
        cfg.check_relations()
    except ValueError as exc:
        raise checkpoint.invalid(f"train_config: {exc}") from None
    return cfg


def resumed_config(checkpoint: TrainingCheckpoint, given: RunConfig) -> Any:
    """The configuration of a resumed run: the checkpoint's (:func:`saved_config`), with the schedule
    (:meth:`RunConfig.schedule`) of ``given``. A bad schedule in ``given`` is a ``ValueError``."""
    cls = type(given)
    saved = saved_config(checkpoint, cls)
    cfg = dataclasses.replace(saved, **{name: getattr(given, name) for name in cls.schedule()})
    cfg.validate()
    return cfg


def check_model_config(checkpoint: TrainingCheckpoint, expected: dict[str, Any]) -> None:
    """The checkpoint's ``model_config`` is the one its ``train_config`` (and vocabularies) make."""
    saved = checkpoint.meta.get("model_config")
    if not isinstance(saved, dict):
        raise checkpoint.invalid(f"model_config must be a mapping, got {shown(saved)}")
    for key in sorted(set(expected) | set(saved)):
        if key not in saved:
            raise checkpoint.invalid(f"model_config.{key} is missing")
        if key not in expected:
            raise checkpoint.invalid(f"model_config has an unexpected entry: {key}")
        if saved[key] != expected[key] or type(saved[key]) is not type(expected[key]):
            raise checkpoint.invalid(f"model_config.{key} is {shown(saved[key])} but the run's train_config and "
                                     f"vocabulary make {shown(expected[key])}")


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
                    raise ValueError(f"'state' entry {idx}.{k} names the array {key!r}, which the file lacks")
                st[k] = arrays[key]
            else:
                st[k] = v
        state[idx] = st  # the optimizer checks the index (a string of digits)
    return {"state": state, "param_groups": packed["param_groups"]}

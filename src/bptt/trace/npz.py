"""A trace as one ``.npz`` file: every recorded array under ``module/call/layer/direction/group/name`` and a
JSON ``__meta__`` entry describing the modules, calls and layers (format ``bptt.trace``, version 2: the names
are the reference tier's). Read with :func:`read`; the result needs nothing but NumPy."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .layer import LayerTrace, ModuleTrace

__all__ = ["FORMAT", "VERSION", "read", "write"]

FORMAT = "bptt.trace"
VERSION = 2


def write(modules: Mapping[str, ModuleTrace], path: str | Path, *, weight_grads: bool = True) -> Path:
    """Write every recorded array of ``modules`` to ``path``; ``weight_grads=False`` leaves out the per-step
    weight-gradient shares (the largest arrays)."""
    arrays: dict[str, np.ndarray] = {}
    described = []
    for mt in modules.values():
        calls = []
        for c, call in enumerate(mt.calls):
            layers = []
            for (layer, d), lt in call.items():
                pre = f"{mt.name}/{c}/{layer}/{d}"
                entry: dict[str, Any] = {"layer": layer, "direction": d, "meta": lt.meta, "roles": lt.roles,
                                         "kind": lt.kind}
                for group, content in (("forward", lt.forward.materialize()), ("params", lt.params),
                                       ("final", lt.final), ("grads", lt.grads or {})):
                    entry[group] = list(content)
                    for k, v in content.items():
                        arrays[f"{pre}/{group}/{k}"] = v
                if lt.backward is not None:
                    skip = set() if weight_grads else set(lt.cell.weight_step_names)
                    names = [n for n in lt.backward.names if n not in skip]
                    entry["backward"] = names
                    for n in names:
                        arrays[f"{pre}/backward/{n}"] = lt.backward[n]
                else:
                    entry["backward"] = None
                entry["has_grads"] = lt.grads is not None
                if lt.active is not None:
                    arrays[f"{pre}/active"] = lt.active
                layers.append(entry)
            calls.append(layers)
        described.append({"name": mt.name, "kind": mt.kind, "num_layers": mt.num_layers,
                          "num_directions": mt.num_directions, "calls": calls})
    arrays["__meta__"] = np.array(json.dumps({"format": FORMAT, "version": VERSION, "modules": described}))
    path = Path(path)
    with open(path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return path


def read(path: str | Path) -> dict[str, ModuleTrace]:
    """The modules of a file written by :func:`write`, by name."""
    with np.load(Path(path), allow_pickle=False) as z:
        data = {k: z[k] for k in z.files}
    if "__meta__" not in data:
        raise ValueError(f"trace: {path} is not a bptt trace file (no __meta__ entry)")
    meta = json.loads(str(data["__meta__"]))
    if meta.get("format") != FORMAT:
        raise ValueError(f"trace: {path} is not a bptt trace file")
    if meta.get("version") != VERSION:
        raise ValueError(f"trace: {path} was written by another version of bptt.trace (file version "
                         f"{meta.get('version')}, this one reads {VERSION}); record it again")
    modules: dict[str, ModuleTrace] = {}
    for m in meta["modules"]:
        mt = ModuleTrace(m["name"], m["kind"], m["num_layers"], m["num_directions"])
        for c, layers in enumerate(m["calls"]):
            call: dict[tuple[int, int], LayerTrace] = {}
            for e in layers:
                pre = f"{m['name']}/{c}/{e['layer']}/{e['direction']}"

                def group(name: str, names: list[str], pre: str = pre) -> dict[str, np.ndarray]:
                    return {n: data[f"{pre}/{name}/{n}"] for n in names}

                lt = LayerTrace(m["name"], e["kind"], e["layer"], e["direction"], c, e["meta"],
                                group("params", e["params"]), e["roles"], group("forward", e["forward"]),
                                data.get(f"{pre}/active"))
                if e["backward"] is not None:
                    lt.set_backward(group("backward", e["backward"]), group("final", e["final"]),
                                    group("grads", e["grads"]) if e.get("has_grads") else None)
                call[(e["layer"], e["direction"])] = lt
            mt.calls.append(call)
        modules[mt.name] = mt
    return modules

"""Safe, exact checkpoints: one ``.npz`` file, no pickle anywhere, written atomically.

Layout of ``checkpoint.npz`` (loaded with ``numpy.load(..., allow_pickle=False)``, so a hostile file can never
execute code; an object array or a pickle payload is refused):

- ``param/<name>``: every model parameter, PyTorch's names;
- ``optim/<index>/<buffer>``: the optimizer's array buffers (``exp_avg``, ``momentum_buffer``, ...; packed by
  :mod:`bptt.training.checkpoint`, which writes and reads the training state);
- ``array/<name>``: other arrays to restore exactly (the carried recurrent state of truncated BPTT);
- ``meta.json``: a ``uint8`` array holding UTF-8 JSON: format tag and version, the model ``kind`` and
  ``config``, the vocabulary, the training configuration, the step, the optimizer's hyperparameters and
  scalar state, and the states of every random generator (so ``--resume`` is bit-identical).

Writes go to a temporary file in the same directory followed by ``os.replace`` (atomic on POSIX and
Windows), so an interrupted write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "bptt-checkpoint"
VERSION = 1
FILENAME = "checkpoint.npz"


class CheckpointError(ValueError):
    """A checkpoint that is missing, truncated, corrupt, hostile or for another model."""


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def save(path: str | Path, meta: dict[str, Any], params: dict[str, np.ndarray],
         arrays: dict[str, np.ndarray] | None = None) -> Path:
    """Write ``path`` atomically. ``meta`` must be JSON-serialisable (NumPy scalars are converted)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, np.ndarray] = {f"param/{k}": np.ascontiguousarray(v) for k, v in params.items()}
    for k, v in (arrays or {}).items():
        payload[k if k.startswith(("optim/", "array/")) else f"array/{k}"] = np.ascontiguousarray(v)
    full_meta = {"format": FORMAT, "version": VERSION, **meta}
    text = json.dumps(full_meta, default=_json_default, ensure_ascii=False)
    payload["meta.json"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    fd, tmp = tempfile.mkstemp(prefix=".checkpoint-", suffix=".npz.tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def load(path: str | Path, kind: str | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray],
                                                             dict[str, np.ndarray]]:
    """Read a checkpoint: ``(meta, params, arrays)``; raise :class:`CheckpointError` for anything wrong.

    ``path`` may be the file or the directory holding ``checkpoint.npz``. Nothing in the file is ever
    unpickled or executed.
    """
    p = Path(path)
    if p.is_dir():
        p = p / FILENAME
        if not p.exists():
            raise CheckpointError(f"no checkpoint in directory {path} (expected {FILENAME})")
    elif not p.exists():
        raise CheckpointError(f"checkpoint not found: {p}")
    try:
        with np.load(p, allow_pickle=False) as z:
            files = list(z.files)
            data = {k: z[k] for k in files}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise CheckpointError(
                f"{p} is not a bptt checkpoint: it contains pickled data, which is refused (never executed)"
            ) from None
        raise CheckpointError(f"{p} is not a valid bptt checkpoint ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise CheckpointError(f"{p} is truncated or corrupt ({type(exc).__name__}: {exc})") from None
    if "meta.json" not in data:
        raise CheckpointError(f"{p} is not a bptt checkpoint (no meta.json entry)")
    raw = data.pop("meta.json")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"{p} is not a bptt checkpoint (meta.json has the wrong type)")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{p} has a corrupt meta.json ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{p} is not a bptt checkpoint (format tag missing)")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{p} has checkpoint format version {meta.get('version')}, this bptt reads {VERSION}")
    if kind is not None and meta.get("kind") != kind:
        raise CheckpointError(f"{p} holds a {meta.get('kind')!r} model, expected a {kind!r} checkpoint")
    params = {k[len("param/"):]: v for k, v in data.items() if k.startswith("param/")}
    arrays = {k: v for k, v in data.items() if not k.startswith("param/")}
    for k, v in {**params, **arrays}.items():
        if v.dtype == object or not (np.issubdtype(v.dtype, np.number) or v.dtype == np.bool_):
            raise CheckpointError(f"{p}: entry {k!r} has unsupported dtype {v.dtype}")
    return meta, params, arrays


def write_json_atomic(path: str | Path, obj: Any) -> None:
    """Write JSON to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, default=_json_default, ensure_ascii=False)
        fh.write("\n")
    os.replace(tmp, path)

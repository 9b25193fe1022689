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

Writes go through :func:`bptt.data.files.write_atomic` (a temporary file ``.checkpoint-*.npz.tmp`` in the same
directory, then ``os.replace``), so an interrupted write leaves the previous checkpoint intact, and the file
gets the user's umask.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any
from zlib import error as zlib_error

import numpy as np

from ..data.files import json_default, write_atomic
from ..nn.checks import MemoryLimitError, require_memory
from .schema import SchemaError, Spec, shown

FORMAT = "bptt-checkpoint"
VERSION = 1
FILENAME = "checkpoint.npz"


class CheckpointError(ValueError):
    """A checkpoint that is missing, truncated, corrupt, hostile or for another model."""


def save(path: str | Path, meta: dict[str, Any], params: dict[str, np.ndarray],
         arrays: dict[str, np.ndarray] | None = None) -> Path:
    """Write ``path`` atomically. ``meta`` must be JSON-serialisable (NumPy scalars are converted)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, np.ndarray] = {f"param/{k}": np.ascontiguousarray(v) for k, v in params.items()}
    for k, v in (arrays or {}).items():
        payload[k if k.startswith(("optim/", "array/")) else f"array/{k}"] = np.ascontiguousarray(v)
    full_meta = {"format": FORMAT, "version": VERSION, **meta}
    text = json.dumps(full_meta, default=json_default, ensure_ascii=False, allow_nan=False)
    payload["meta.json"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    return write_atomic(path, lambda fh: np.savez(fh, **payload))


#: what each checkpoint kind holds, in words (for messages)
KIND_NAMES = {"language_model": "a language model (bptt train)", "seq2seq": "a translator (bptt translate train)"}
_PICKLE_PROTOCOL = b"\x80"
_NPY_MAGIC = b"\x93NUMPY"


def resolve(path: str | Path) -> Path:
    """The checkpoint file of ``path`` (the file, or the directory holding ``checkpoint.npz``); raise
    :class:`CheckpointError` when there is none."""
    p = Path(path)
    if p.is_dir():
        p = p / FILENAME
        if not p.exists():
            raise CheckpointError(f"no checkpoint in directory {path} (expected {FILENAME})")
    elif not p.exists():
        raise CheckpointError(f"checkpoint not found: {p}")
    if p.is_dir():
        raise CheckpointError(f"{p} is a directory, not a checkpoint file")
    return p


def _read_members(p: Path) -> dict[str, np.ndarray]:
    """Every array of the ``.npz`` file ``p``; :class:`CheckpointError` for anything that is not a zip of
    plain numeric arrays (pickles are recognised and refused, never unpickled)."""
    try:
        with open(p, "rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise CheckpointError(f"cannot read {p}: {exc.strerror or exc}") from None
    if not head:
        raise CheckpointError(f"{p} is empty, not a bptt checkpoint")
    if not zipfile.is_zipfile(p):
        if head.startswith(_PICKLE_PROTOCOL):
            raise CheckpointError(f"{p} is a pickle file, not a bptt checkpoint; it is refused (never unpickled)")
        if head.startswith(_NPY_MAGIC):
            raise CheckpointError(f"{p} is a single .npy array, not a bptt checkpoint (an .npz file)")
        if head.startswith(b"PK"):
            raise CheckpointError(f"{p} is truncated or corrupt (an incomplete zip/npz file)")
        raise CheckpointError(f"{p} is not a bptt checkpoint: it is not a zip (.npz) file")
    try:
        with zipfile.ZipFile(p) as zf:
            declared = sum(info.file_size for info in zf.infolist())
        require_memory(declared, f"reading {p}", "this file is not a checkpoint bptt wrote, or needs a bigger machine")
        with np.load(p, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except MemoryLimitError as exc:
        raise CheckpointError(str(exc)) from None
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise CheckpointError(f"{p} is not a bptt checkpoint: it contains pickled data (an object array), "
                                  "which is refused (never unpickled)") from None
        raise CheckpointError(f"{p} is not a valid bptt checkpoint ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, zlib_error) as exc:
        raise CheckpointError(f"{p} is truncated or corrupt ({type(exc).__name__}: {exc})") from None


def load(path: str | Path, kind: str | None = None) -> tuple[dict[str, Any], dict[str, np.ndarray],
                                                             dict[str, np.ndarray]]:
    """Read a checkpoint: ``(meta, params, arrays)``; raise :class:`CheckpointError` for anything wrong.

    ``path`` may be the file or the directory holding ``checkpoint.npz``. Nothing in the file is ever
    unpickled or executed. Checked here: a zip of numeric arrays, a ``meta.json`` entry holding a JSON object
    with this format's tag, version and the expected ``kind``, and every floating-point array finite (a
    checkpoint is never saved from a diverged run, so NaN or infinity means damage). What the entries mean is
    checked by the readers (:mod:`bptt.models.io`, :mod:`bptt.training.checkpoint`).
    """
    p = resolve(path)
    data = _read_members(p)
    if "meta.json" not in data:
        raise CheckpointError(f"{p} is not a bptt checkpoint (no meta.json entry)")
    raw = data.pop("meta.json")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise CheckpointError(f"{p} is not a bptt checkpoint (meta.json has the wrong type)")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"), parse_constant=_no_constants)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise CheckpointError(f"{p} has a corrupt meta.json ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{p} is not a bptt checkpoint (format tag missing)")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{p} has checkpoint format version {shown(meta.get('version'))}, this bptt reads "
                              f"{VERSION}")
    if kind is not None and meta.get("kind") != kind:
        got = KIND_NAMES.get(meta.get("kind"), f"a checkpoint of kind {shown(meta.get('kind'))}")
        raise CheckpointError(f"{p} holds {got}, not {KIND_NAMES.get(kind, kind)}")
    params = {k[len("param/"):]: v for k, v in data.items() if k.startswith("param/")}
    arrays = {k: v for k, v in data.items() if not k.startswith("param/")}
    for k, v in data.items():
        if v.dtype == object or not (np.issubdtype(v.dtype, np.number) or v.dtype == np.bool_):
            raise CheckpointError(f"{p}: entry {k!r} has unsupported dtype {v.dtype}")
        if np.issubdtype(v.dtype, np.inexact) and not np.isfinite(v).all():
            bad = int(v.size - np.isfinite(v).sum())
            raise CheckpointError(f"{p}: entry {k!r} holds {bad} non-finite value(s) (NaN or infinity); a bptt "
                                  "checkpoint never does: the file is damaged")
    return meta, params, arrays


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def check_meta(meta: Any, spec: Spec, path: str | Path, where: str = "") -> None:
    """Check ``meta`` (or its entry ``where``) against ``spec``; a :class:`CheckpointError` names the file and
    the field: ``runs/a/checkpoint.npz: invalid checkpoint: step must be a non-negative integer, got -5``."""
    try:
        spec.check(meta, where)
    except SchemaError as exc:
        raise CheckpointError(f"{path}: invalid checkpoint: {exc}") from None

"""Writing files the way a careful user expects: complete or not at all, with the user's permissions.

Every file bptt writes goes through :func:`write_atomic`: the content goes to a temporary file in the same
directory (``.NAME-XXXXXXXX.EXT.tmp`` for ``NAME.EXT``, e.g. ``.checkpoint-k2j4x9.npz.tmp``), is flushed to
disk, gets the mode a plain ``open(path, "w")`` would give it (``0o666`` minus the process's umask;
``tempfile.mkstemp`` alone would make it ``0o600``) and then replaces ``path`` with ``os.replace`` (atomic on
POSIX and Windows). An interrupted write leaves the previous file intact and at worst a temporary file,
which :func:`remove_stale_temps` deletes on the next start of a run (see
:class:`bptt.training.rundir.RunDirectory`).

An ``OSError`` raised while writing (a full disk, no permission, a path under a file) always names the file
being written (``exc.filename``), so the command line can say which file and why.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["file_mode", "json_default", "remove_stale_temps", "temp_affixes", "write_atomic", "write_bytes_atomic",
           "write_json_atomic", "write_text_atomic"]


def _umask() -> int:
    """The process's umask, read without changing it where the system tells it (Linux), else by setting and
    restoring it."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The permission bits of a new file: ``0o666`` minus the umask (what ``open(path, "w")`` gives)."""
    return 0o666 & ~_umask()


def temp_affixes(name: str) -> tuple[str, str]:
    """``(prefix, suffix)`` of the temporary files written for ``name``: ``checkpoint.npz`` ->
    ``(".checkpoint-", ".npz.tmp")``; ``.bptt-run`` -> ``(".bptt-run-", ".tmp")``."""
    bare = name.lstrip(".")
    stem, dot, ext = bare.partition(".")
    return f".{stem}-", f"{dot}{ext}.tmp"


def write_atomic(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Write ``path`` atomically: ``write(fh)`` fills a temporary binary file next to it, which then replaces
    ``path``. The file gets :func:`file_mode`. On any failure the temporary file is removed and ``path`` is
    unchanged; an ``OSError`` names ``path``."""
    path = Path(path)
    prefix, suffix = temp_affixes(path.name)
    try:
        fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise _naming(exc, path) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
            if hasattr(os, "fchmod"):
                os.fchmod(fh.fileno(), file_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise _naming(exc, path) from None
        raise
    return path


def _naming(exc: OSError, path: Path) -> OSError:
    """``exc`` with ``filename`` set to ``path`` (the file the user asked for, not the temporary one)."""
    if exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror, str(path))


def write_bytes_atomic(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`write_atomic`)."""
    return write_atomic(path, lambda fh: fh.write(data))


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`write_atomic`)."""
    return write_bytes_atomic(path, text.encode("utf-8"))


def json_default(o: Any) -> Any:
    """JSON for NumPy scalars and tuples (``json.dumps(..., default=json_default)``)."""
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def write_json_atomic(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON to ``path`` atomically (NumPy scalars converted; NaN and infinities are
    refused with ``ValueError``: they are not JSON)."""
    text = json.dumps(obj, indent=2, default=json_default, ensure_ascii=False, allow_nan=False) + "\n"
    return write_text_atomic(path, text)


def remove_stale_temps(directory: str | Path, names: Iterable[str]) -> list[Path]:
    """Delete the temporary files :func:`write_atomic` leaves behind when a process dies while writing one of
    ``names`` in ``directory``; return them. Call it only while no other process can be writing there."""
    directory = Path(directory)
    removed = []
    for name in names:
        prefix, suffix = temp_affixes(name)
        for p in directory.glob(f"{prefix}?*{suffix}"):
            if p.is_file() and not p.is_symlink():
                p.unlink(missing_ok=True)
                removed.append(p)
    return removed

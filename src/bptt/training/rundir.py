"""The run directory: the one object through which training reads and writes its output directory.

A run directory holds ``config.json`` (the run's configuration), ``metrics.jsonl`` (one record per logged
step), ``checkpoint.npz`` (see :mod:`bptt.training.checkpoint`), and two files of its own: ``.bptt-run`` (the
manifest: this directory holds a bptt run of this kind) and ``.bptt.lock`` (the lock of the process running
it). Every file the training loop touches is named and written here.

**Ownership.** bptt writes only into a directory it created, an empty one, or one that already holds a bptt
run of the same kind (its manifest; or, written by an older bptt, a checkpoint of that kind among bptt's own
files only). A fresh run never replaces a saved run (``--resume`` continues it); a directory holding anything
else (a user's own ``config.json``, ...) is refused, naming what it holds, and nothing in it is touched.

**One process per run.** :meth:`RunDirectory.start` takes an OS lock (``fcntl.flock`` on ``.bptt.lock``,
released by the system when the process ends, however it ends) before its first write and checks again,
under the lock, what :meth:`RunDirectory.check` checked: a second process on the same run is refused, and a
resumed run refuses a checkpoint that changed after it was read. Under the lock, temporary files a killed
process left behind (``.checkpoint-*.npz.tmp``, ...) are removed.

Every file is written atomically with the user's umask (:mod:`bptt.data.files`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data.files import remove_stale_temps, temp_affixes, write_json_atomic, write_text_atomic
from ..models import checkpoint as ckpt
from . import checkpoint as training_checkpoint
from .metrics import format_record, parse_record, parse_records

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no OS lock
    fcntl = None  # type: ignore[assignment]

__all__ = ["CONFIG", "LOCK", "MANIFEST", "METRICS", "ReadOnlyRunDirectory", "RunDirectory", "RunDirectoryError",
           "RunInUse"]

CONFIG = "config.json"
METRICS = "metrics.jsonl"
MANIFEST = ".bptt-run"
LOCK = ".bptt.lock"
MANIFEST_FORMAT = "bptt-run"
#: every file a run directory's owner writes (a directory of only these, with a checkpoint, is a bptt run)
OWN_FILES = (ckpt.FILENAME, CONFIG, METRICS, MANIFEST, LOCK)


class RunDirectoryError(Exception):
    """The output directory cannot be used for this run (not bptt's, another kind of run, a file, ...)."""


class RunInUse(RunDirectoryError):
    """Another process holds the run directory's lock."""


class RunDirectory:
    """The output directory of one training run (``bptt train --out DIR``) of checkpoint kind ``kind``
    (``bptt.models.io.LANGUAGE_MODEL``, ...; needed to start a run, not to read one)."""

    def __init__(self, path: str | Path, kind: str | None = None) -> None:
        self.path = Path(path)
        self.kind = kind
        self._lock_fd: int | None = None
        self._loaded: tuple[int, int, int] | None = None  # identity of the checkpoint load_checkpoint read

    def __repr__(self) -> str:
        return f"RunDirectory({str(self.path)!r})"

    @property
    def checkpoint_path(self) -> Path:
        return self.path / ckpt.FILENAME

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    @property
    def config_path(self) -> Path:
        return self.path / CONFIG

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK

    def has_checkpoint(self) -> bool:
        return self.checkpoint_path.is_file()

    # ------------------------------------------------------------------------------------------ reading
    def load_checkpoint(self, kind: str, schema: dict[str, Any]) -> training_checkpoint.TrainingCheckpoint:
        """The training checkpoint of a ``kind`` run (see :func:`bptt.training.checkpoint.load`). The file's
        identity is remembered: :meth:`start` refuses to resume if it changed in between."""
        loaded = training_checkpoint.load(self.path, kind, schema)
        self._loaded = _identity(self.checkpoint_path)
        return loaded

    def read_metrics(self) -> list[dict[str, Any]]:
        """The records of ``metrics.jsonl`` (``OSError`` when it cannot be read, ``UnicodeDecodeError`` when it
        is not UTF-8)."""
        return parse_records(self.metrics_path.read_text(encoding="utf-8"))

    # ------------------------------------------------------------------------------------------ ownership
    def check(self, resume: bool) -> None:
        """Raise :class:`RunDirectoryError` unless a fresh run (``resume=False``) or a resumed one may use this
        directory. Reads only: nothing is created or changed."""
        state = self._state()
        if state == "owned" and self._lock_fd is None:
            self._probe_lock()
        if resume:
            if state == "absent":
                raise RunDirectoryError(f"cannot resume: no checkpoint in {self.path} (the directory does not "
                                        "exist)")
            if state == "empty" or (state == "owned" and not self.has_checkpoint()):
                raise RunDirectoryError(f"cannot resume: no checkpoint in {self.path} (start the run without "
                                        "--resume)")
        elif state == "owned" and self.has_checkpoint():
            raise RunDirectoryError(f"{self.path} already holds a {self.kind_name} run with a checkpoint; pass "
                                    "--resume to continue it, or choose another --out")

    @property
    def kind_name(self) -> str:
        return {"language_model": "language-model", "seq2seq": "translation"}.get(self.kind or "", "bptt")

    def _state(self) -> str:
        """``absent``, ``empty`` or ``owned`` (a bptt run of this kind); anything else raises
        :class:`RunDirectoryError`."""
        p = self.path
        if not p.exists():
            parent = p.parent
            while not parent.exists() and parent != parent.parent:
                parent = parent.parent
            if parent.exists() and not parent.is_dir():
                raise RunDirectoryError(f"cannot create the output directory {p}: {parent} is a file")
            if p.is_symlink():
                raise RunDirectoryError(f"the output directory {p} is a broken symbolic link")
            return "absent"
        if not p.is_dir():
            raise RunDirectoryError(f"the output directory {p} is a file, not a directory; choose another --out")
        try:
            names = sorted(os.listdir(p))
        except OSError as exc:
            raise RunDirectoryError(f"cannot read the output directory {p}: {exc.strerror or exc}") from None
        leftovers = {LOCK} | {n for n in names if _is_own_temp(n)}
        entries = [n for n in names if n not in leftovers]
        if not entries:
            return "empty"
        if MANIFEST in entries:
            kind = self._manifest_kind()
            if self.kind is not None and kind != self.kind:
                other = RunDirectory(p, kind).kind_name
                raise RunDirectoryError(f"{p} holds a {other} run, not a {self.kind_name} run; choose another "
                                        "--out")
            return "owned"
        if ckpt.FILENAME in entries and all(n in OWN_FILES for n in entries) and self._legacy_checkpoint():
            return "owned"
        shown = ", ".join(entries[:6]) + (", ..." if len(entries) > 6 else "")
        raise RunDirectoryError(f"{p} is not empty and holds no bptt run ({shown}); bptt writes only into a new or "
                                "empty directory or its own run: choose another --out")

    def _manifest_kind(self) -> str | None:
        try:
            manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            manifest = None
        if not (isinstance(manifest, dict) and manifest.get("format") == MANIFEST_FORMAT
                and isinstance(manifest.get("kind"), str)):
            raise RunDirectoryError(f"{self.manifest_path} is not a bptt run manifest; bptt does not write into "
                                    f"{self.path}: choose another --out")
        return manifest["kind"]

    def _legacy_checkpoint(self) -> bool:
        """A run directory of an older bptt (no manifest): its checkpoint must be a bptt checkpoint of this
        kind (else :class:`RunDirectoryError`, saying what is wrong with it)."""
        try:
            meta, _, _ = ckpt.load(self.checkpoint_path)
        except ckpt.CheckpointError as exc:
            raise RunDirectoryError(f"{exc}; so {self.path} holds no bptt run, and bptt does not write into it"
                                    ) from None
        if self.kind is not None and meta.get("kind") != self.kind:
            raise RunDirectoryError(f"{self.path} holds a {RunDirectory(self.path, meta.get('kind')).kind_name} "
                                    f"run, not a {self.kind_name} run; choose another --out")
        return True

    # ------------------------------------------------------------------------------------------ writing
    def start(self, resumed_step: int | None) -> None:
        """Take the directory over for a run that starts fresh (``resumed_step=None``) or resumes the checkpoint
        :meth:`load_checkpoint` read at ``resumed_step``: create it if needed, take the lock, check ownership
        again under the lock, remove stale temporary files, write the manifest; then start an empty
        ``metrics.jsonl`` (fresh) or drop the records after ``resumed_step`` (the resumed run writes them
        again). Raises :class:`RunDirectoryError` (:class:`RunInUse` for a locked run)."""
        if self.kind is None:
            raise ValueError("RunDirectory.start: the run's kind is needed (RunDirectory(path, kind))")
        self.check(resume=resumed_step is not None)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunDirectoryError(f"cannot create the output directory {self.path}: {exc.strerror or exc}"
                                    ) from None
        self._lock()
        try:
            self.check(resume=resumed_step is not None)  # again: another process may have written meanwhile
            if resumed_step is not None and self._loaded is not None \
                    and _identity(self.checkpoint_path) != self._loaded:
                raise RunDirectoryError(f"the checkpoint in {self.path} changed after it was read (another process "
                                        "continued the run); run --resume again")
            remove_stale_temps(self.path, OWN_FILES)
            if not self.manifest_path.exists():
                write_json_atomic(self.manifest_path, {"format": MANIFEST_FORMAT, "version": 1, "kind": self.kind})
            if resumed_step is None:
                write_text_atomic(self.metrics_path, "")  # not appended to a failed run's records
            else:
                self._truncate_metrics(resumed_step)
        except BaseException:
            self.close()
            raise

    def _lock(self) -> None:
        if fcntl is None:  # pragma: no cover - Windows
            return
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise RunDirectoryError(f"cannot create the lock file {self.lock_path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            message = self._in_use_message(fd)
            os.close(fd)
            raise RunInUse(message) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._lock_fd = fd

    def _probe_lock(self) -> None:
        """Raise :class:`RunInUse` when another process holds the lock (a shared lock taken and dropped at
        once: nothing is written)."""
        if fcntl is None or not self.lock_path.is_file():
            return
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            raise RunInUse(self._in_use_message(fd)) from None
        finally:
            os.close(fd)

    def _in_use_message(self, fd: int) -> str:
        holder = os.pread(fd, 200, 0).decode("ascii", "replace").split()
        who = f" (pid {holder[0]})" if holder and holder[0].isdigit() else ""
        return f"{self.path} is in use by another bptt process{who}; wait for it to finish, or choose another --out"

    def close(self) -> None:
        """Release the lock (the run is over)."""
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            os.close(fd)  # closing the descriptor releases the flock

    def __enter__(self) -> RunDirectory:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def write_config(self, config: dict[str, Any]) -> None:
        write_json_atomic(self.config_path, config)

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Append one record (``ValueError`` for a non-finite number: it would not be JSON)."""
        line = format_record(record)
        with open(self.metrics_path, "a", encoding="utf-8") as fh:
            fh.write(line)

    def save_checkpoint(self, meta: dict[str, Any], params: dict[str, np.ndarray],
                        arrays: dict[str, np.ndarray]) -> Path:
        """Write ``checkpoint.npz`` atomically (the previous one stays intact until the new one is complete)."""
        return ckpt.save(self.checkpoint_path, meta, params, arrays)

    def _truncate_metrics(self, step: int) -> None:
        """Keep only the records up to ``step`` (lines that are not records are dropped)."""
        if not self.metrics_path.exists():
            write_text_atomic(self.metrics_path, "")
            return
        kept = []
        text = self.metrics_path.read_bytes().decode("utf-8", errors="replace")
        for line in text.splitlines():
            record = parse_record(line)
            if record is not None and isinstance(record.get("step"), int) and record["step"] <= step:
                kept.append(line)
        write_text_atomic(self.metrics_path, "".join(k + "\n" for k in kept))


class ReadOnlyRunDirectory(RunDirectory):
    """A run directory this process reads but never writes: what the processes of a data-parallel run other than
    rank 0 get (rank 0 alone writes the run directory, and alone checks and locks it; see
    :mod:`bptt.training.distributed`). It takes nothing over (no directory, no lock) and every write is skipped;
    reading (``--resume``) works as usual."""

    def __repr__(self) -> str:
        return f"ReadOnlyRunDirectory({str(self.path)!r})"

    def check(self, resume: bool) -> None:
        return None

    def start(self, resumed_step: int | None) -> None:
        return None

    def write_config(self, config: dict[str, Any]) -> None:
        return None

    def append_metrics(self, record: dict[str, Any]) -> None:
        return None

    def save_checkpoint(self, meta: dict[str, Any], params: dict[str, np.ndarray],
                        arrays: dict[str, np.ndarray]) -> Path:
        return self.checkpoint_path


def _is_own_temp(name: str) -> bool:
    """A temporary file of :func:`bptt.data.files.write_atomic` writing one of :data:`OWN_FILES`."""
    return any(name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix) + len(suffix)
               for prefix, suffix in map(temp_affixes, OWN_FILES))


def _identity(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns

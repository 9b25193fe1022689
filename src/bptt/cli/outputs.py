"""Files the commands write besides a run directory (``plot --out``, ``explain --out``, ``translate attention
--out``, ...): never a user's file replaced by surprise.

The rule, for every such file:

- a new file is written atomically (temporary file, then rename) with the user's umask, into a directory that
  must exist (a typo in a path does not create directories);
- an existing file is replaced only when bptt wrote it (images and pages carry the mark ``written by bptt``:
  a PNG ``tEXt`` chunk, an HTML comment, SVG/PDF metadata), or when ``--force`` is given; any other existing
  file is refused, naming it;
- a directory, a path under a file, an unsupported extension: refused before any work is done.

:func:`check_output` runs before the work (a refusal costs nothing), :func:`write_output` at the end.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from pathlib import Path

from ..data.files import write_bytes_atomic
from .errors import CLIError

__all__ = ["MARK", "check_output", "is_bptt_output", "mark_html", "mark_png", "write_output"]

#: the mark of a file bptt wrote (inside its metadata or a comment)
MARK = "written by bptt"
_SCAN = 1 << 16  # the mark sits near the start (PNG, SVG, HTML end) or the end (PDF info, HTML comment)


def is_bptt_output(path: Path) -> bool:
    """Whether ``path`` carries :data:`MARK` in its first or last 64 KiB."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_SCAN)
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - _SCAN))
            tail = fh.read(_SCAN)
    except OSError:
        return False
    mark = MARK.encode("ascii")
    return mark in head or mark in tail


def check_output(path: str | Path, flag: str, *, force: bool, suffixes: Sequence[str] | None = None) -> Path:
    """``path`` as an output of ``flag`` (``--out``), refused with a :class:`CLIError` when it is a directory, under
    a missing directory or a file, of another extension than ``suffixes``, or an existing file bptt did not
    write (unless ``force``)."""
    p = Path(path)
    if p.is_dir():
        raise CLIError(f"{flag} {p} is a directory; give a file name such as "
                       f"{p / ('output' + (suffixes or ('',))[0])}")
    if suffixes is not None and p.suffix.lower() not in suffixes:
        raise CLIError(f"{flag} {p}: unsupported file type {p.suffix or '(no extension)'!s}; use "
                       f"{' or '.join(suffixes)}")
    parent = p.parent
    if not parent.exists():
        raise CLIError(f"{flag} {p}: the directory {parent} does not exist (create it first)")
    if not parent.is_dir():
        raise CLIError(f"{flag} {p}: {parent} is a file, not a directory")
    if p.exists() and not force and not is_bptt_output(p):
        raise CLIError(f"{flag} {p} exists and was not written by bptt; pass --force to replace it, or choose "
                       "another file")
    return p


def write_output(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (an ``OSError`` names ``path``)."""
    return write_bytes_atomic(path, data)


def mark_png(png: bytes) -> bytes:
    """``png`` with a ``tEXt`` chunk ``Software: written by bptt`` after its header chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    ihdr_end = 8 + 8 + struct.unpack(">I", png[8:12])[0] + 4
    body = b"tEXt" + b"Software\0" + MARK.encode("ascii")
    chunk = struct.pack(">I", len(body) - 4) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)
    return png[:ihdr_end] + chunk + png[ihdr_end:]


def mark_html(page: str) -> str:
    """``page`` with the comment ``<!-- written by bptt -->`` after it (comments may follow ``</html>``)."""
    return page.rstrip("\n") + f"\n<!-- {MARK} -->\n"

"""Helpers of the command-line tests: run ``python -m bptt`` in a subprocess, check the one-line error, and
snapshot a directory so a test can assert that no file the user owned changed."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")


def env(**extra: str) -> dict[str, str]:
    """The environment of a ``python -m bptt`` subprocess: this checkout's sources first on the path; one BLAS
    thread unless told otherwise (tiny matrices, a shared machine: threads only contend)."""
    e = dict(os.environ)
    e.setdefault("OPENBLAS_NUM_THREADS", "1")
    e["PYTHONPATH"] = SRC + (os.pathsep + e["PYTHONPATH"] if e.get("PYTHONPATH") else "")
    e.update(extra)
    return e


def bptt_command(*args: object) -> list[str]:
    return [sys.executable, "-m", "bptt", *map(str, args)]


def run_bptt(*args: object, timeout: float = 120, cwd: str | Path | None = None, stdin: str | None = None,
             **extra_env: str) -> subprocess.CompletedProcess:
    """``python -m bptt ARGS`` to completion: exit code, stdout and stderr (text)."""
    return subprocess.run(bptt_command(*args), capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          input=stdin, env=env(**extra_env))


def start_bptt(*args: object, cwd: str | Path | None = None) -> subprocess.Popen:
    """``python -m bptt ARGS`` in the background (stdout and stderr piped, text)."""
    return subprocess.Popen(bptt_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=cwd, env=env())


def one_line_error(proc: subprocess.CompletedProcess, code: int = 2) -> str:
    """The single stderr line of a refused command (exit ``code``, no traceback)."""
    err = proc.stderr
    assert proc.returncode == code, (proc.returncode, proc.stdout[-2000:], err)
    assert "Traceback" not in err and "Warning" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def assert_error(proc: subprocess.CompletedProcess, expected: str, code: int = 2) -> str:
    """The refused command's stderr is exactly ``expected`` (one line) and its exit code ``code``."""
    line = one_line_error(proc, code)
    assert line == expected, f"\n got: {line}\nwant: {expected}"
    return line


def snapshot(root: str | Path) -> dict[str, tuple[str, int]]:
    """Every file and directory under ``root`` (relative path -> content hash or "dir", permission bits)."""
    root = Path(root)
    out: dict[str, tuple[str, int]] = {}
    if not root.exists():
        return out
    for p in sorted(root.rglob("*")):
        rel = str(p.relative_to(root))
        mode = p.lstat().st_mode & 0o7777
        out[rel] = ("dir", mode) if p.is_dir() else (hashlib.sha256(p.read_bytes()).hexdigest(), mode)
    return out


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted at ``path`` (a full disk on demand); the test is skipped, with the reason,
    when not root or when mounting is not permitted."""
    if os.geteuid() != 0:
        pytest.skip("a full disk is simulated with a small tmpfs, which needs root")
    path.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        pytest.skip(f"mounting a tmpfs is not permitted here: {proc.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)

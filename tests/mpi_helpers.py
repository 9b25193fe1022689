"""Helpers of the MPI tests (marker ``mpi``): find ``mpiexec`` and run commands under it in subprocesses.

Never imports mpi4py: the tests launch ``mpiexec -n 2 python -m bptt ...`` and look at what the processes left
(exit code, stdout, stderr, the run directory). conftest.py skips ``mpi``-marked tests when no MPI is here
(:func:`mpi_missing`), and fails them instead under ``BPTT_REQUIRE_MPI=1`` (CI).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import bptt

#: Environment variables by which a launcher tells a process it is one of several (stripped for subprocesses).
LAUNCHER_PREFIXES = ("PMI_", "PMIX_", "OMPI_", "SLURM_", "HYDRA_", "MPI_LOCAL")
SRC = str(Path(bptt.__file__).resolve().parents[1])


def mpiexec_path() -> str | None:
    """The ``mpiexec`` next to this Python (what ``pip install 'bptt[mpi]'`` installs), else the one on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.is_file() else shutil.which("mpiexec")


def mpi_missing() -> str | None:
    """Why the MPI tests cannot run here, or None when they can."""
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed"
    if mpiexec_path() is None:
        return "no mpiexec next to this Python or on PATH"
    return None


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without launcher variables, one BLAS thread per process, this bptt importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(LAUNCHER_PREFIXES)}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1",
               PYTHONPATH=os.pathsep.join([SRC, env.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    env.update(extra)
    return env


def mpi_command(n: int, args: Sequence[str]) -> list[str]:
    """``mpiexec -n n python ARGS`` with this Python."""
    return [mpiexec_path() or "mpiexec", "-n", str(n), sys.executable, *args]


def run_mpi(n: int, args: Sequence[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``mpiexec -n n python ARGS`` in ``cwd`` and wait (a hang fails the test through ``timeout``)."""
    return subprocess.run(mpi_command(n, args), cwd=cwd, env=clean_env(), capture_output=True, text=True,
                          timeout=timeout)


def run_python(args: Sequence[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` (one process, no launcher) in ``cwd``."""
    return subprocess.run([sys.executable, *args], cwd=cwd, env=clean_env(), capture_output=True, text=True,
                          timeout=timeout)

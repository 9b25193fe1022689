"""bptt.training.distributed without MPI: detection from the launcher's environment, mpi4py never imported
outside an MPI launch, the refusals of launches that cannot work, and MPIWorld's arithmetic on a stand-in
communicator (the real two-process runs are in test_distributed_mpi.py, marked ``mpi``)."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from bptt import cli, nn
from bptt.training.communicator import PeerFailed, SingleProcess, StepOutcome, shard_rows
from bptt.training.distributed import DistributedError, MPIWorld, launched, launcher_rank, world
from helpers import assert_close, seeded_rng
from mpi_helpers import clean_env, run_python


@pytest.mark.parametrize(("env", "expected"), [
    ({}, None),
    ({"PMI_RANK": "1", "PMI_SIZE": "4"}, (1, 4, "PMI_RANK=1, PMI_SIZE=4")),
    ({"OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "2"},
     (0, 2, "OMPI_COMM_WORLD_RANK=0, OMPI_COMM_WORLD_SIZE=2")),
    ({"SLURM_PROCID": "3", "SLURM_STEP_NUM_TASKS": "8"}, (3, 8, "SLURM_PROCID=3, SLURM_STEP_NUM_TASKS=8")),
    ({"SLURM_PROCID": "0", "SLURM_NTASKS": "8"}, None),  # an sbatch script without srun: one process
    ({"PMIX_RANK": "2"}, (2, None, "PMIX_RANK")),
    ({"PMI_RANK": "x", "PMI_SIZE": "2"}, None),
])
def test_the_launcher_is_read_from_the_environment(env, expected):
    assert launched(env) == expected
    assert launcher_rank(env) == (0 if expected is None else expected[0])


def test_one_process_needs_no_mpi(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # importing it would raise
    assert isinstance(world({}), SingleProcess)
    assert isinstance(world({"PMI_RANK": "0", "PMI_SIZE": "1"}), SingleProcess)  # mpiexec -n 1


def test_without_a_launcher_training_never_imports_mpi4py(tmp_path):
    (tmp_path / "corpus.txt").write_text("the cat sat on the mat. " * 40)
    code = ("import sys; from bptt import cli; "
            "rc = cli.main(['train', 'corpus.txt', '--hidden-size', '4', '--num-layers', '1', '--seq-length', '4', "
            "'--batch-size', '2', '--steps', '3', '--out', 'run']); "
            "print('mpi4py imported:', 'mpi4py' in sys.modules); sys.exit(rc)")
    done = run_python(["-c", code], tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "mpi4py imported: False"
    assert "PMI_RANK" not in clean_env(PMI_X="1") and clean_env(PMI_X="1")["PMI_X"] == "1"


def test_a_launch_without_mpi4py_is_refused_by_rank_0_alone(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(DistributedError, match=r"^started by an MPI launcher \(PMI_RANK=0, PMI_SIZE=2\), but mpi4py "
                                               r"is not installed: pip install 'bptt\[mpi\]'"):
        world({"PMI_RANK": "0", "PMI_SIZE": "2"})
    for rank, printed in (("0", True), ("1", False)):
        monkeypatch.setenv("PMI_RANK", rank)
        monkeypatch.setenv("PMI_SIZE", "2")
        assert cli.main(["train", "--steps", "1", "--out", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err
        assert err.startswith("bptt train: error: started by an MPI launcher") if printed else err == ""
    assert not (tmp_path / "run").exists()


def fake_mpi(size: int, rank: int, others: list[np.ndarray] | None = None,
             gathered: list | None = None) -> types.SimpleNamespace:
    """A stand-in for mpi4py.MPI: ``Allreduce`` adds the other processes' buffers (``others``, one per call),
    ``allgather`` returns ``gathered``."""
    calls: list[str] = []

    class Comm:
        def Get_size(self) -> int:
            return size

        def Get_rank(self) -> int:
            return rank

        def Allreduce(self, inplace, buf, op):
            calls.append(f"Allreduce {buf.dtype} {buf.size} {op}")
            if op == "SUM" and others:
                buf += others.pop(0)

        def allgather(self, value):
            calls.append("allgather")
            return [value if r == rank else g for r, g in enumerate(gathered)]

    return types.SimpleNamespace(COMM_WORLD=Comm(), IN_PLACE="IN_PLACE", SUM="SUM", MAX="MAX", calls=calls,
                                 Get_library_version=lambda: "MPICH Version: 5.0.2\nMPICH Release date: ...")


def test_a_launcher_whose_mpi_is_not_mpi4pys_is_refused(monkeypatch):
    mpi = fake_mpi(1, 0)
    monkeypatch.setitem(sys.modules, "mpi4py", types.SimpleNamespace(MPI=mpi))
    with pytest.raises(DistributedError, match=r"^the launcher started this process as rank 1 of 2 \(OMPI_COMM_WORLD"
                                               r"_RANK=1, OMPI_COMM_WORLD_SIZE=2\), but mpi4py's MPI \(MPICH Version: "
                                               r"5.0.2\) sees rank 0 of 1: launch with the mpiexec of the MPI mpi4py "
                                               r"was built with"):
        world({"OMPI_COMM_WORLD_RANK": "1", "OMPI_COMM_WORLD_SIZE": "2"})
    assert isinstance(world({"PMIX_RANK": "0"}), SingleProcess)  # PMIx alone, and MPI says one process
    monkeypatch.setitem(sys.modules, "mpi4py", types.SimpleNamespace(MPI=fake_mpi(2, 1)))
    got = world({"PMI_RANK": "1", "PMI_SIZE": "2"})
    assert isinstance(got, MPIWorld) and (got.rank, got.size, got.is_root) == (1, 2, False)


def test_the_step_reduction_is_one_allreduce_of_token_weighted_gradients():
    """Process 0 of 2 with 3 tokens; process 1 had 5 tokens: the result is the token-weighted mean."""
    rng = seeded_rng("mpi-reduce")
    model = nn.Linear(4, 3, dtype=np.float64, rng=1)
    params = list(model.parameters())
    mine = [rng.standard_normal(p.shape) for p in params]
    theirs = [rng.standard_normal(p.shape) for p in params]
    for p, g in zip(params, mine):
        p.grad[...] = g
    other = np.concatenate([5 * g.ravel() for g in theirs] + [np.array([5 * 0.75, 5.0])])
    mpi = fake_mpi(2, 0, others=[other])
    comm = MPIWorld(mpi.COMM_WORLD, mpi)
    outcome = comm.reduce_step(StepOutcome(1.5, 3), params)
    assert mpi.calls == [f"Allreduce float64 {sum(p.size for p in params) + 2} SUM"]  # one call, one buffer
    assert outcome == StepOutcome((3 * 1.5 + 5 * 0.75) / 8, 8)
    for p, a, b in zip(params, mine, theirs):
        assert_close(p.grad, (3 * a + 5 * b) / 8, 1e-15)
        assert p.grad.base is comm._buffer  # the gradients are views of the buffer: nothing copied
    model.zero_grad()  # in place: the views stay
    assert comm._flat(params) is comm._buffer and not comm._buffer[:-2].any()


def test_setup_is_all_or_nothing():
    mpi = fake_mpi(3, 0, gathered=[None, "no corpus on this node", "other"])
    comm = MPIWorld(mpi.COMM_WORLD, mpi)
    with pytest.raises(PeerFailed, match=r"^process 1 of the run failed before training started: no corpus on "
                                         r"this node$"), comm.setup():
        pass
    assert (comm.phase, comm.failed_rank) == (comm.FAILED, 1)
    mpi = fake_mpi(2, 1, gathered=[None, None])
    comm = MPIWorld(mpi.COMM_WORLD, mpi)
    with pytest.raises(ValueError, match="bad"), comm.setup():
        raise ValueError("bad")
    assert (comm.phase, comm.failed_rank) == (comm.FAILED, 1) and mpi.calls == ["allgather"]
    mpi = fake_mpi(2, 1, gathered=[None, None])
    comm = MPIWorld(mpi.COMM_WORLD, mpi)
    with comm.setup():
        pass
    assert comm.phase == comm.TRAINING
    comm.report_setup_failure(RuntimeError("later"))  # after the setup: no collective any more
    assert mpi.calls == ["allgather"]


@pytest.mark.parametrize(("n", "size"), [(n, size) for n in (1, 2, 5, 7, 32) for size in (1, 2, 3, 4) if n >= size])
def test_the_shards_cover_the_batch_in_rank_order(n, size):
    parts = [shard_rows(n, r, size) for r in range(size)]
    assert [i for s in parts for i in range(n)[s]] == list(range(n))
    lengths = [s.stop - s.start for s in parts]
    assert min(lengths) >= 1 and max(lengths) - min(lengths) <= 1

"""The training loop (bptt.training.loop) with a task of its own: a linear regression on noisy data.

The language model and the translator are tested end to end elsewhere; here a small task shows what the loop
itself owns: the schedule of records, evaluations, samples and checkpoints, the window sums, resuming bit for
bit after an interruption, divergence, a Ctrl-C in the middle of a step, the communicator's place in the step
and the run directory's files.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from bptt import nn
from bptt.models import checkpoint as ckpt
from bptt.training import Hooks, Interrupted, Schedule, TrainingError, run
from bptt.training.communicator import SingleProcess, StepOutcome
from bptt.training.config import OPTIMIZERS, RunConfig, build_optimizer, setting
from bptt.training.rundir import RunDirectory, RunDirectoryError


@dataclasses.dataclass
class ToyConfig(RunConfig):
    KIND: ClassVar[str] = "toy"

    steps: int = setting(12, "steps", low=1)
    lr: float = setting(0.05, "learning rate", low=0, low_open=True)
    clip_norm: float | None = setting(None, "max gradient norm", low=0, low_open=True)
    eval_every: int = setting(5, "eval", low=1)
    log_every: int = setting(2, "log", low=1)
    sample_every: int | None = setting(4, "sample", low=1)
    optimizer: str = setting("sgd", "optimizer", choices=OPTIMIZERS, shaping=True)
    seed: int = setting(0, "seed", low=0, shaping=True)
    blow_up_at: int | None = setting(None, "the step whose loss is NaN", low=1)


class Regression(nn.Module):
    def __init__(self, seed: int) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2, dtype=np.float64, rng=seed)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.linear(x)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        return self.linear.backward(dy)

    def config(self) -> dict[str, Any]:
        return {"in": 3, "out": 2}


class ToyTask:
    """y = x A + noise; the noise generator and the position in the data are part of the run's state."""

    SCHEMA: ClassVar[dict[str, type]] = {"position": int}
    RATE_KEY: ClassVar[str] = "rows_per_s"
    A = np.array([[1.0, -2.0], [0.5, 0.0], [-1.0, 3.0]])

    def __init__(self, cfg: ToyConfig, checkpoint: Any, communicator: Any = None) -> None:
        self.config = cfg
        self.model = Regression(cfg.seed)
        self.optimizer = build_optimizer(cfg.optimizer, self.model, cfg.lr)
        self.schedule = Schedule(cfg.steps, cfg.log_every, cfg.eval_every, cfg.lr, cfg.clip_norm, cfg.sample_every)
        self.noise = np.random.default_rng([cfg.seed, 7])
        self.position = 0
        self.calls: list[str] = []

    @property
    def epoch(self) -> int:
        return self.position // 10

    def batch(self, position: int) -> tuple[np.ndarray, np.ndarray]:
        x = np.random.default_rng(position).standard_normal((4, 3))
        return x, x @ self.A

    def step(self) -> StepOutcome:
        self.calls.append("step")
        x, y = self.batch(self.position)
        y = y + 0.1 * self.noise.standard_normal(y.shape)
        self.position += 1
        pred = self.model(x)
        loss = float(np.mean((pred - y) ** 2))
        if self.config.blow_up_at == self.position:
            loss = math.nan
        self.model.zero_grad()
        self.model.backward(2 * (pred - y) / pred.size)
        return StepOutcome(loss, len(x))

    def commit(self) -> None:
        self.calls.append("commit")

    def evaluate(self) -> dict[str, Any]:
        x, y = self.batch(10_000)
        return {"val_loss": float(np.mean((self.model(x) - y) ** 2))}

    def sample(self) -> str:
        return f"W[0,0]={self.model.linear.weight.data[0, 0]:.6f}"

    def generators(self) -> dict[str, np.random.Generator]:
        return {"noise": self.noise}

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"position": self.position}, {"last_x": self.batch(self.position)[0]}

    def restore(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        self.position = meta["position"]
        assert np.array_equal(arrays["last_x"], self.batch(self.position)[0])

    def describe(self) -> dict[str, Any]:
        return {"rows": 4}

    def config_record(self) -> dict[str, Any]:
        return {**self.config.to_dict(), "note": "toy"}


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()]


def timeless(out: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "rows_per_s"} for r in records(out)]


def params(out: Path) -> dict[str, np.ndarray]:
    return ckpt.load(out, kind="toy")[1]


def test_the_schedule_of_records_evaluations_samples_and_checkpoints(tmp_path):
    events: list[tuple] = []
    hooks = Hooks(on_start=lambda info: events.append(("start", info)),
                  on_log=lambda rec: events.append(("log", rec["step"])),
                  on_sample=lambda step, text: events.append(("sample", step)),
                  on_progress=lambda step, total, loss: events.append(("progress", step)))
    result = run(ToyTask, ToyConfig(), tmp_path / "run", hooks=hooks)
    assert events[0] == ("start", {"step": 0, "total_steps": 12, "parameters": 8, "rows": 4})
    assert [e for e in events[1:] if e[0] != "progress"] == [
        ("log", 2), ("log", 4), ("sample", 4), ("log", 5), ("log", 6), ("log", 8), ("sample", 8), ("log", 10),
        ("log", 12), ("sample", 12)]
    assert [e[1] for e in events if e[0] == "progress"] == list(range(1, 13))
    recs = records(tmp_path / "run")
    assert [r["step"] for r in recs] == [2, 4, 5, 6, 8, 10, 12]
    assert [r["step"] for r in recs if "val_loss" in r] == [5, 10, 12]
    assert list(recs[0]) == ["step", "epoch", "train_loss", "grad_norm", "lr", "rows_per_s", "world_size"]
    assert all(r["world_size"] == 1 for r in recs)
    assert result.step == 12 and result.evaluation == {"val_loss": recs[-1]["val_loss"]}
    assert result.checkpoint == tmp_path / "run" / "checkpoint.npz"
    meta = ckpt.load(tmp_path / "run", kind="toy")[0]
    assert meta["step"] == 12 and meta["total_steps"] == 12 and meta["position"] == 12
    assert meta["window"] == {"loss": 0.0, "n": 0, "tokens": 0}
    assert json.loads((tmp_path / "run" / "config.json").read_text(encoding="utf-8"))["note"] == "toy"


def test_a_record_averages_the_loss_of_its_window(tmp_path):
    losses: list[float] = []
    run(ToyTask, ToyConfig(), tmp_path / "run", hooks=Hooks(on_progress=lambda s, t, loss: losses.append(loss)))
    recs = records(tmp_path / "run")
    bounds = [0] + [r["step"] for r in recs]
    for r, lo in zip(recs, bounds, strict=False):
        assert r["train_loss"] == pytest.approx(np.mean(losses[lo : r["step"]]), rel=1e-12)
        assert r["lr"] == 0.05 and r["grad_norm"] > 0


@pytest.mark.parametrize("k", [3, 4, 5, 7])  # in a window, at a record, at an evaluation, after a sample
def test_an_interrupted_run_resumes_bit_for_bit(tmp_path, k):
    def stop(step: int, total: int, loss: float) -> None:
        if step == k:
            raise KeyboardInterrupt

    samples_a: list = []
    with pytest.raises(Interrupted) as ei:
        run(ToyTask, ToyConfig(), tmp_path / "a",
            hooks=Hooks(on_progress=stop, on_sample=lambda *s: samples_a.append(s)))
    assert ei.value.step == k and ckpt.load(tmp_path / "a", kind="toy")[0]["step"] == k
    run(ToyTask, ToyConfig(), tmp_path / "a", resume=True, hooks=Hooks(on_sample=lambda *s: samples_a.append(s)))
    samples_b: list = []
    run(ToyTask, ToyConfig(), tmp_path / "b", hooks=Hooks(on_sample=lambda *s: samples_b.append(s)))
    assert timeless(tmp_path / "a") == timeless(tmp_path / "b")
    assert samples_a == samples_b
    pa, pb = params(tmp_path / "a"), params(tmp_path / "b")
    assert all(np.array_equal(pa[n], pb[n]) for n in pb)


def test_a_resumed_run_takes_its_schedule_from_the_caller_and_the_rest_from_the_checkpoint(tmp_path):
    run(ToyTask, ToyConfig(steps=5), tmp_path / "a")
    lines = (tmp_path / "a" / "metrics.jsonl").read_text(encoding="utf-8")
    (tmp_path / "a" / "metrics.jsonl").write_text(lines + "not json\n" + '{"step": 99}\n', encoding="utf-8")
    result = run(ToyTask, ToyConfig(steps=8, lr=0.01, seed=3, optimizer="adam"), tmp_path / "a", resume=True)
    meta = ckpt.load(tmp_path / "a", kind="toy")[0]
    assert meta["train_config"]["seed"] == 0 and meta["train_config"]["optimizer"] == "sgd"
    assert meta["train_config"]["steps"] == 8 and meta["optimizer"]["param_groups"][0]["lr"] == 0.01
    assert result.step == 8 and [r["step"] for r in records(tmp_path / "a")] == [2, 4, 5, 6, 8]
    with pytest.raises(ValueError, match="already at step 8; pass --steps larger than 8"):
        run(ToyTask, ToyConfig(steps=8), tmp_path / "a", resume=True)


def test_the_communicator_reduces_each_step_between_backward_and_the_update(tmp_path):
    class Silencing(SingleProcess):
        """Zeroes the gradients it is handed: if the loop applied any other gradients, the weights would move."""

        def __init__(self) -> None:
            self.seen: list[tuple[float, int]] = []
            self.asked = 0

        def reduce_step(self, outcome: StepOutcome, params: list) -> StepOutcome:
            assert any(np.any(p.grad != 0) for p in params), "the step's gradients are there to reduce"
            for p in params:
                p.grad[...] = 0.0
            self.seen.append(tuple(outcome))
            return StepOutcome(outcome.loss * 10, outcome.tokens)

        def any(self, flag: bool) -> bool:
            self.asked += 1
            return flag

    comm = Silencing()
    start = Regression(0).state_dict()
    logged: list[dict] = []
    run(ToyTask, ToyConfig(steps=4, log_every=1), tmp_path / "run", hooks=Hooks(on_log=logged.append),
        communicator=comm)
    assert len(comm.seen) == 4 and comm.asked == 4
    assert [r["train_loss"] for r in logged] == [10 * loss for loss, _ in comm.seen]  # the reduced loss is logged
    assert all(r["grad_norm"] == 0.0 for r in logged)  # clipping saw the reduced gradients
    end = params(tmp_path / "run")
    assert all(np.array_equal(end[n], start[n]) for n in start)


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_checkpoint(tmp_path):
    with pytest.raises(TrainingError, match="no checkpoint had been saved yet"):
        run(ToyTask, ToyConfig(blow_up_at=3), tmp_path / "early")
    assert not (tmp_path / "early" / "checkpoint.npz").exists()
    with pytest.raises(TrainingError) as ei:
        run(ToyTask, ToyConfig(blow_up_at=7), tmp_path / "late")
    assert str(ei.value) == (f"training stopped at step 7: the loss is not finite (nan); the last good checkpoint "
                             f"(step 5) is kept in {tmp_path / 'late'}")
    assert ckpt.load(tmp_path / "late", kind="toy")[0]["step"] == 5


def test_ctrl_c_inside_a_step_saves_nothing(tmp_path, monkeypatch):
    run(ToyTask, ToyConfig(steps=5), tmp_path / "run")
    before = (tmp_path / "run" / "checkpoint.npz").read_bytes()

    def interrupted_step(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(ToyTask, "step", interrupted_step)
    with pytest.raises(KeyboardInterrupt):
        run(ToyTask, ToyConfig(steps=9), tmp_path / "run", resume=True)
    assert (tmp_path / "run" / "checkpoint.npz").read_bytes() == before


def test_checkpoints_missing_an_entry_or_with_one_of_the_wrong_type_are_refused(tmp_path):
    run(ToyTask, ToyConfig(steps=5), tmp_path / "run")
    meta, p, arrays = ckpt.load(tmp_path / "run", kind="toy")
    meta = {k: v for k, v in meta.items() if k not in ("format", "version")}
    for bad, message in (({k: v for k, v in meta.items() if k != "position"}, "position is missing"),
                         ({**meta, "rng": [1]}, "rng must be a mapping, got [1]"),
                         ({**meta, "train_config": {**meta["train_config"], "seed": -1}},
                          "train_config.seed must be a non-negative integer, got -1"),
                         ({**meta, "window": {"loss": 0.0}}, "window.n is missing"),
                         ({**meta, "step": -5}, "step must be a non-negative integer, got -5")):
        ckpt.save(tmp_path / "bad" / "checkpoint.npz", bad, p, arrays)
        with pytest.raises(ckpt.CheckpointError) as exc:
            run(ToyTask, ToyConfig(steps=9), tmp_path / "bad", resume=True)
        assert str(exc.value) == f"{tmp_path / 'bad' / 'checkpoint.npz'}: invalid checkpoint: {message}"


def test_the_run_directory_keeps_the_records_up_to_the_resumed_step(tmp_path):
    rd = RunDirectory(tmp_path / "run", "toy")
    rd.start(None)
    for step in (2, 4, 6):
        rd.append_metrics({"step": step, "train_loss": 1.0})
    with open(rd.metrics_path, "a", encoding="utf-8") as fh:
        fh.write("garbage\n[1, 2]\n")
    rd.close()
    ckpt.save(rd.checkpoint_path, {"kind": "toy", "step": 4}, {"w": np.zeros(2)})
    rd.start(4)
    assert [r["step"] for r in rd.read_metrics()] == [2, 4]
    assert rd.metrics_path.read_text(encoding="utf-8").count("\n") == 2
    rd.close()
    with pytest.raises(RunDirectoryError, match="already holds a bptt run with a checkpoint; pass --resume"):
        rd.start(None)
    rd.checkpoint_path.unlink()
    rd.start(None)
    assert rd.metrics_path.read_text(encoding="utf-8") == ""
    rd.close()

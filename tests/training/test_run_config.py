"""Run configurations: every setting declared once (default, help, choices, range) and validated from that one
declaration (the command line's flags generated from it: tests/cli/test_cli_commands.py)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from bptt.models.lm import CELLS
from bptt.training import Seq2SeqConfig, TrainConfig
from bptt.training.config import Setting


def test_shaping_and_schedule_split_the_settings():
    for config in (TrainConfig, Seq2SeqConfig):
        names = [f.name for f in dataclasses.fields(config)]
        assert sorted(config.shaping() + config.schedule()) == sorted(names)
    assert set(TrainConfig.schedule()) == {"steps", "epochs", "lr", "clip_norm", "eval_every", "sample_every",
                                           "sample_length", "log_every", "allow_changed_data"}
    assert set(Seq2SeqConfig.schedule()) == {"steps", "lr", "clip_norm", "eval_every", "log_every", "eval_max",
                                             "allow_changed_data"}


@pytest.mark.parametrize(("changes", "message"), [
    ({"hidden_size": 0}, "hidden-size must be a positive integer, got 0"),
    ({"hidden_size": True}, "hidden-size must be a positive integer, got True"),
    ({"hidden_size": 2.0}, "hidden-size must be a positive integer, got 2.0"),
    ({"embedding_dim": -1}, "embedding-dim must be a positive integer, got -1"),
    ({"dropout": 1.0}, "dropout must be in [0, 1), got 1.0"),
    ({"val_fraction": 0.0}, "val-fraction must be in (0, 1), got 0.0"),
    ({"lr": math.nan}, "lr must be > 0, got nan"),
    ({"epochs": math.inf}, "epochs must be in (0, 1000000], got inf"),
    ({"clip_norm": 0}, "clip-norm must be > 0, got 0"),
    ({"seed": -1}, "seed must be a non-negative integer, got -1"),
    ({"model": "transformer"}, f"model must be one of {', '.join(CELLS)}, got 'transformer'"),
    ({"level": "byte"}, "level must be one of char, word, got 'byte'"),
    ({"dtype": "float16"}, "dtype must be one of float32, float64, got 'float16'"),
    ({"steps": 3, "epochs": 1.0}, "give either steps or epochs, not both"),
    ({"num_layers": 1, "dropout": 0.5}, "dropout between layers needs num-layers >= 2"),
])
def test_language_model_settings_are_validated(changes, message):
    with pytest.raises(ValueError) as ei:
        TrainConfig(**changes).validate()
    assert str(ei.value) == message
    TrainConfig(embedding_dim=None, clip_norm=None, steps=3).validate()  # None where the type allows it


@pytest.mark.parametrize(("changes", "message"), [
    ({}, "a training file is required (--train FILE)"),
    ({"train": "t.tsv"}, "a validation file is required (--val FILE)"),
    ({"train": "t.tsv", "val": "v.tsv", "num_layers": 5}, "num-layers must be in [1, 4], got 5"),
    ({"train": "t.tsv", "val": "v.tsv", "attention_tanh": 1}, "attention-tanh must be true or false, got 1"),
    ({"train": 3, "val": "v.tsv"}, "train must be a string, got 3"),
    ({"train": "t.tsv", "val": "v.tsv", "encoder": "both"}, "encoder must be one of uni, bi, got 'both'"),
])
def test_translator_settings_are_validated(changes, message):
    with pytest.raises(ValueError) as ei:
        Seq2SeqConfig(**changes).validate()
    assert str(ei.value) == message


def test_a_setting_parses_command_line_text_with_the_same_rule():
    s = Setting("dropout", 0.0, float, False, "", low=0, high=1, high_open=True)
    assert s.parse("0.25", "--dropout") == 0.25
    for text, message in (("1", "--dropout must be in [0, 1), got 1"), ("x", "--dropout must be a number, got 'x'"),
                          ("nan", "--dropout must be in [0, 1), got nan")):
        with pytest.raises(ValueError) as ei:
            s.parse(text, "--dropout")
        assert str(ei.value) == message
    n = Setting("n", 1, int, False, "", low=1, high=4)
    with pytest.raises(ValueError, match=r"--n must be an integer, got '2\.5'"):
        n.parse("2.5", "--n")


def test_from_dict_ignores_unknown_keys_and_round_trips():
    cfg = TrainConfig(hidden_size=8, corpus="x.txt")
    assert TrainConfig.from_dict({**cfg.to_dict(), "total_steps": 9}) == cfg

"""The built-in translation task: dates written many ways -> ISO 8601 dates (no download needed).

``"Thursday, May 3, 1979"``, ``"3rd of may 1979"``, ``"05/03/1979"`` (US order), ``"3.5.79"`` (European
order, two-digit year), ... all translate to ``"1979-05-03"``. Dates run from 1950-01-01 to 2049-12-31, so a
two-digit year is unambiguous (``50``-``99`` are 19xx, ``00``-``49`` are 20xx). The task is character level
(train with ``--level char``).

Everything is generated deterministically from a seed. The splits are disjoint in *dates*, not only in
strings: no calendar date of the validation or test split appears in the training split in any format, so
held-out accuracy measures generalisation rather than memory.

>>> pairs = generate_splits(n_train=5, n_val=2, n_test=2, seed=0)
>>> sorted(pairs)
['test', 'train', 'val']
>>> all(len(iso) == 10 and iso[4] == "-" for _, iso in pairs["train"])
True
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .files import write_text_atomic

FIRST = _dt.date(1950, 1, 1)
LAST = _dt.date(2049, 12, 31)
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _mon(d: _dt.date) -> str:
    return MONTHS[d.month - 1]


def _abbr(d: _dt.date) -> str:
    return MONTHS[d.month - 1][:3]


def _wd(d: _dt.date) -> str:
    return WEEKDAYS[d.weekday()]


FORMATS: list[tuple[str, Callable[[_dt.date], str]]] = [
    ("iso", lambda d: d.isoformat()),
    ("us padded", lambda d: f"{d.month:02d}/{d.day:02d}/{d.year}"),
    ("us", lambda d: f"{d.month}/{d.day}/{d.year}"),
    ("european padded", lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}"),
    ("european short", lambda d: f"{d.day}.{d.month}.{d.year % 100:02d}"),
    ("month day, year", lambda d: f"{_mon(d)} {d.day}, {d.year}"),
    ("day month year", lambda d: f"{d.day} {_mon(d)} {d.year}"),
    ("lower", lambda d: f"{d.day} {_mon(d).lower()} {d.year}"),
    ("upper", lambda d: f"{_mon(d).upper()} {d.day} {d.year}"),
    ("weekday", lambda d: f"{_wd(d)}, {_mon(d)} {d.day}, {d.year}"),
    ("short weekday", lambda d: f"{_wd(d)[:3]} {d.day} {_abbr(d)} {d.year}"),
    ("ordinal of", lambda d: f"{_ordinal(d.day)} of {_mon(d)} {d.year}"),
    ("the ordinal of", lambda d: f"the {_ordinal(d.day)} of {_mon(d).lower()}, {d.year}"),
    ("month ordinal", lambda d: f"{_mon(d)} {_ordinal(d.day)} {d.year}"),
    ("slashed iso", lambda d: f"{d.year}/{d.month:02d}/{d.day:02d}"),
    ("compact", lambda d: f"{d.year}{d.month:02d}{d.day:02d}"),
    ("apostrophe year", lambda d: f"{d.day} {_abbr(d)} '{d.year % 100:02d}"),
    ("dashed", lambda d: f"{d.day:02d}-{_abbr(d)}-{d.year}"),
    ("abbr", lambda d: f"{_abbr(d).lower()} {d.day} {d.year}"),
]


def all_dates() -> list[_dt.date]:
    n = (LAST - FIRST).days + 1
    return [FIRST + _dt.timedelta(days=i) for i in range(n)]


def render(date: _dt.date, fmt: int) -> str:
    """``date`` written in format number ``fmt`` (an index into :data:`FORMATS`)."""
    return FORMATS[fmt][1](date)


def generate_splits(n_train: int = 20000, n_val: int = 1000, n_test: int = 1000,
                    seed: int = 0) -> dict[str, list[tuple[str, str]]]:
    """``{"train": [...], "val": [...], "test": [...]}`` of ``(source, iso)`` pairs, deterministic in
    ``seed``.

    The calendar dates of the three splits are disjoint; within a split every source string is distinct;
    each pair's format is drawn uniformly from :data:`FORMATS`."""
    for name, n in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"{name} must be an int >= 0, got {n!r}")
    dates = all_dates()
    rng = np.random.default_rng([seed, 7])
    order = rng.permutation(len(dates))
    if n_val + n_test >= len(dates) // 2:
        raise ValueError(f"the validation and test sizes ({n_val} + {n_test}) must add up to less than "
                         f"{len(dates) // 2}")
    pools = {"test": order[:n_test], "val": order[n_test : n_test + n_val], "train": order[n_test + n_val :]}
    capacity = len(pools["train"]) * len(FORMATS)
    if n_train > capacity // 2:
        raise ValueError(f"the training size must be at most {capacity // 2} (the distinct dates and formats left "
                         f"after the held-out dates), got {n_train}")
    out: dict[str, list[tuple[str, str]]] = {}
    for name, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        pool = pools[name]
        if name != "train":  # one example per held-out date
            fmts = rng.integers(0, len(FORMATS), len(pool))
            out[name] = [(render(dates[i], int(f)), dates[i].isoformat())
                         for i, f in zip(pool, fmts, strict=True)]
            continue
        seen: set[str] = set()
        pairs: list[tuple[str, str]] = []
        while len(pairs) < n:
            k = n - len(pairs)
            idx = pool[rng.integers(0, len(pool), k)]
            fmts = rng.integers(0, len(FORMATS), k)
            for i, f in zip(idx, fmts, strict=True):
                src = render(dates[i], int(f))
                if src not in seen:
                    seen.add(src)
                    pairs.append((src, dates[i].isoformat()))
        out[name] = pairs
    return out


def write_tsv(directory: str | Path, n_train: int = 20000, n_val: int = 1000, n_test: int = 1000,
              seed: int = 0) -> dict[str, Path]:
    """Write ``dates_train.tsv``, ``dates_val.tsv`` and ``dates_test.tsv`` into ``directory``."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, pairs in generate_splits(n_train, n_val, n_test, seed).items():
        p = d / f"dates_{name}.tsv"
        write_text_atomic(p, "".join(f"{s}\t{t}\n" for s, t in pairs))
        paths[name] = p
    return paths

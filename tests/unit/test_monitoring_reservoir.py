"""The per-window reservoir the scoring service feeds: bounded, uniform, drained by window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from greenscore.errors import ConfigError
from greenscore.monitoring.reservoir import BAD_SIZE, WindowReservoir

DAY = datetime(2024, 5, 6, 12, tzinfo=UTC)  # a Monday


def test_a_window_keeps_at_most_size_rows_and_counts_all_it_saw() -> None:
    reservoir = WindowReservoir(size=50, window="day", seed=0)
    reservoir.add(({"x": i} for i in range(1000)), (i / 1000 for i in range(1000)), at=DAY)
    (sample,) = reservoir.drain(everything=True)
    assert (sample.label, sample.seen, len(sample.rows), len(sample.scores)) == (
        "2024-05-06",
        1000,
        50,
        50,
    )
    assert all(s == r["x"] / 1000 for r, s in zip(sample.rows, sample.scores, strict=True))


def test_the_sample_is_uniform_over_everything_seen() -> None:
    means = []
    for seed in range(40):
        reservoir = WindowReservoir(size=100, window="day", seed=seed)
        for start in range(0, 5000, 250):  # offered in batches, as requests arrive
            batch = range(start, start + 250)
            reservoir.add(({"x": i} for i in batch), (0.0 for _ in batch), at=DAY)
        (sample,) = reservoir.drain(everything=True)
        means.append(np.mean([r["x"] for r in sample.rows]))
    # Uniform over 0..4999: mean 2499.5; a sample that kept the first or last rows would not be.
    assert abs(np.mean(means) - 2499.5) < 120


def test_drain_hands_over_closed_windows_and_keeps_the_open_one() -> None:
    reservoir = WindowReservoir(size=10, window="week", seed=0)
    reservoir.add([{"x": 1}], [0.1], at=DAY)
    reservoir.add([{"x": 2}], [0.2], at=DAY + timedelta(days=7))
    closed = reservoir.drain(now=DAY + timedelta(days=8))
    assert [s.label for s in closed] == ["2024-W19"]
    assert closed[0].start == datetime(2024, 5, 6, tzinfo=UTC)
    assert [s.label for s in reservoir.drain(everything=True)] == ["2024-W20"]
    assert reservoir.drain(everything=True) == []


def test_a_bad_reservoir_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        WindowReservoir(size=0)
    assert str(err.value) == BAD_SIZE.format(size=0)
    with pytest.raises(ConfigError):
        WindowReservoir(window="hour")


def test_a_kept_row_holds_only_the_columns_asked_for_and_its_subject() -> None:
    reservoir = WindowReservoir(size=2, window="day", seed=0)
    rows = [{"x": 1, "id": "a", "email": "a@b.c"}, {"x": 2, "sex": "F"}]
    reservoir.add(rows, [0.1, 0.2], subjects=["h1", None], columns=["x", "sex"], at=DAY)
    (sample,) = reservoir.drain(everything=True)
    assert sample.rows == [{"x": 1}, {"x": 2, "sex": "F"}]  # a field not sent is left out
    assert sample.subjects == ["h1", None]
    with pytest.raises(ValueError):
        reservoir.add(rows, [0.1], at=DAY)  # one PD per row

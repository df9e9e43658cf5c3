"""measure_energy over CodeCarbon: positive readings, method, nesting, threads, failures."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from greenscore.config import EnergySettings, Settings, use_settings
from greenscore.errors import ConfigError, DataError
from greenscore.sustainability import energy as en

KINDS = {"rapl", "counters", "estimate"}


@pytest.fixture(autouse=True)
def _home(tmp_path: Path) -> Iterator[None]:
    use_settings(Settings(home=tmp_path))
    yield
    use_settings(None)


def _work(seconds: float) -> None:
    """Busy CPU for about ``seconds`` (sleep would leave the CPU idle)."""
    import time

    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += sum(range(500))


def test_short_block_gives_positive_energy_and_a_method() -> None:
    with en.measure_energy("fit:tiny") as reading:
        _work(0.05)  # far below CodeCarbon's 1 s sampling period
    assert reading.label == "fit:tiny"
    assert reading.kwh > 0 and reading.co2_kg > 0
    assert reading.ram_kwh > 0 and reading.cpu_kwh > 0
    assert reading.kwh == pytest.approx(reading.cpu_kwh + reading.ram_kwh + reading.gpu_kwh)
    assert 0.05 <= reading.duration_s < 5
    assert reading.method_kind in KINDS
    assert reading.country == "GBR" and reading.country_name == "United Kingdom"
    data = reading.to_dict()
    assert data["kwh"] == reading.kwh and data["method_kind"] == reading.method_kind


def test_method_comes_from_codecarbon_hardware() -> None:
    tracker = en._POOL.acquire(EnergySettings())
    try:
        tracker.start_task("probe")
        tracker.stop_task()
        from codecarbon.external.hardware import CPU

        cpu = next(h for h in tracker._hardware if isinstance(h, CPU))
        method = en.describe_method(tracker)
    finally:
        en._POOL.release(EnergySettings(), tracker)
    expected = {"intel_rapl": "rapl:", "cpu_load": "estimate: CodeCarbon cpu-load model"}
    if cpu._mode in expected:
        assert method.startswith(expected[cpu._mode])


class _FakeTracker:
    def __init__(self, *hardware: object) -> None:
        self._hardware = list(hardware)


def _fake_cpu(mode: str, model: str, tdp: float, generic: bool = False) -> object:
    from codecarbon.external.hardware import CPU

    cpu = CPU.__new__(CPU)  # no probing: only the attributes describe_method reads
    cpu._mode, cpu._model, cpu._tdp, cpu._is_generic_tdp = mode, model, tdp, generic
    return cpu


def test_describe_method_for_each_kind_of_cpu_meter() -> None:
    from codecarbon.external.ram import RAM

    ram = RAM(force_ram_power=None)
    rapl = en.describe_method(_FakeTracker(ram, _fake_cpu("intel_rapl", "Xeon", 150)))
    assert rapl.startswith("rapl: CPU from Intel RAPL energy counters")
    assert "RAM power estimated" in rapl

    known = en.describe_method(
        _FakeTracker(_fake_cpu("cpu_load", "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz", 150))
    )
    assert known.startswith("estimate: CodeCarbon cpu-load model (no RAPL counters;")
    assert "TDP 150 W from its table" in known

    unknown = en.describe_method(_FakeTracker(_fake_cpu("cpu_load", "Mystery CPU 9000", 8)))
    assert "not in its TDP table" in unknown and "= 8 W" in unknown

    forced = en.describe_method(
        _FakeTracker(RAM(force_ram_power=12), _fake_cpu("cpu_load", "?", 85, True))
    )
    assert "generic 85 W" in forced and "RAM fixed at 12 W" in forced


def test_nested_measurements_are_inclusive() -> None:
    with en.measure_energy("outer") as outer:
        _work(0.1)
        with en.measure_energy("inner") as inner:
            _work(0.1)
        _work(0.1)
    assert outer.depth == 0 and inner.depth == 1
    assert inner.kwh > 0 and outer.kwh > inner.kwh
    assert outer.duration_s > inner.duration_s
    assert outer.ram_kwh > inner.ram_kwh


def test_threads_measure_independently() -> None:
    readings: dict[int, en.EnergyReading] = {}

    def job(i: int) -> None:
        with en.measure_energy(f"thread:{i}") as r:
            _work(0.05)
        readings[i] = r

    threads = [threading.Thread(target=job, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(readings) == [0, 1, 2]
    assert all(r.kwh > 0 and r.depth == 0 for r in readings.values())


def test_trackers_return_to_the_pool() -> None:
    en.reset_pool()
    with en.measure_energy("a"), en.measure_energy("b"):
        pass
    key = en._TrackerPool.key(EnergySettings())
    assert len(en._POOL._idle[key]) == 2
    with en.measure_energy("c"):
        assert len(en._POOL._idle[key]) == 1  # reused, not rebuilt
    assert all(not t._tasks for t in en._POOL._idle[key])


def test_reading_is_filled_when_the_block_raises() -> None:
    with pytest.raises(ZeroDivisionError):
        with en.measure_energy("boom") as reading:
            _work(0.02)
            _ = 1 / 0
    assert reading.kwh > 0 and reading.method_kind in KINDS


def test_country_sets_the_carbon_intensity() -> None:
    with en.measure_energy("gb", energy=EnergySettings(country_iso_code="GBR")) as gb:
        _work(0.05)
    with en.measure_energy("fr", energy=EnergySettings(country_iso_code="FRA")) as fr:
        _work(0.05)
    assert fr.country == "FRA"
    # France's grid is mostly nuclear: far less CO2 per kWh than Great Britain's.
    assert fr.co2_kg / fr.kwh < 0.5 * (gb.co2_kg / gb.kwh)


def test_unknown_country_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="energy.country_iso_code 'XYZ'"):
        with en.measure_energy("x", energy=EnergySettings(country_iso_code="XYZ")):
            pass


def test_meter_failure_does_not_abort_the_block(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(_energy: EnergySettings) -> object:
        raise RuntimeError("no sensors")

    en.reset_pool()
    monkeypatch.setattr(en, "_new_tracker", broken)
    ran = []
    with en.measure_energy("fit") as reading:
        ran.append(True)
    assert ran == [True]
    assert reading.method.startswith("unavailable: CodeCarbon failed to start (RuntimeError")
    assert math.isnan(reading.kwh) and reading.duration_s >= 0


def test_energy_per_1k_predictions_scales_by_rows() -> None:
    calls = []
    X = np.ones((250, 3))

    def predict(rows: np.ndarray) -> np.ndarray:
        calls.append(len(rows))
        _work(0.01)
        return rows.sum(axis=1)

    result = en.energy_per_1k_predictions(predict, X, repeats=4, label="predict:test")
    assert len(calls) == 2 + 4  # warm-up, timing call, then the measured repeats
    assert result.rows == 1000 and result.repeats == 4
    assert result.kwh_per_1k == pytest.approx(result.reading.kwh)  # 1000 rows measured
    assert result.kwh_per_1k > 0 and result.co2_kg_per_1k > 0
    assert float(result) == result.kwh_per_1k
    assert result.reading.label == "predict:test:250x4"
    assert result.to_dict()["reading"]["label"] == "predict:test:250x4"


def test_energy_per_1k_predictions_picks_repeats_from_min_seconds() -> None:
    result = en.energy_per_1k_predictions(lambda rows: rows * 2, np.ones(10), min_seconds=0.05)
    assert result.repeats > 10 and result.rows == 10 * result.repeats
    with pytest.raises(DataError, match="at least one row"):
        en.energy_per_1k_predictions(lambda rows: rows, np.ones(0))
    with pytest.raises(DataError, match="repeats must be a positive integer"):
        en.energy_per_1k_predictions(lambda rows: rows, np.ones(3), repeats=0)

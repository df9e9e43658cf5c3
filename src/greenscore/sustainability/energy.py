"""Energy and carbon of a block of code, measured with CodeCarbon.

``with measure_energy("fit:lightgbm") as reading:`` wraps every fit and every batch of
predictions. After the block, ``reading`` holds the kWh, the kg CO2-eq for the
configured country (``settings.energy``), the duration and, always, *how* the figure
was obtained (``reading.method``): read from RAPL counters, or estimated by
CodeCarbon's CPU-load model where the machine exposes no counters.

How it uses CodeCarbon, and why:

* ``OfflineEmissionsTracker`` with an explicit country and no output methods: nothing
  is written and nothing is sent anywhere. CodeCarbon's three network paths (its API
  output, an HTTP endpoint, the Electricity Maps API) are closed by explicit arguments,
  which outrank any ``CODECARBON_*`` variable or ``.codecarbon.config`` file.
* Each measurement is one CodeCarbon *task* (``start_task`` / ``stop_task``).
  ``stop_task`` always takes a final reading, so blocks shorter than a second still
  get their energy (``stop()`` skips the final reading within 50 ms of the last one).
  During a task CodeCarbon samples CPU load every second in a background thread and
  integrates power over the task at ``stop_task``; its periodic ``measure_power_secs``
  scheduler is paused for tasks, so that setting matters only to a tracker run with
  ``start()``.
* A tracker holds one task at a time, so nested or concurrent measurements each
  borrow their own tracker from a small pool. Readings are therefore *inclusive*: an
  outer block's energy contains its inner blocks'; never add them up.
* Building a tracker probes the hardware (1-3 s, once per process: CodeCarbon caches
  the result) and runs ``lscpu`` (a few ms, every time); the pool reuses trackers, so
  a measurement costs about a millisecond after the first. :func:`warm_up` pays the
  probe in advance, e.g. when the scoring service starts.

Energy is machine-wide by default (``settings.energy.tracking_mode``), including the
idle share of CPU and RAM power during the block, which is what the block costs the
machine it runs on.
"""

from __future__ import annotations

import contextvars
import logging
import math
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from greenscore.config import EnergySettings, get_settings
from greenscore.errors import ConfigError, DataError
from greenscore.logging import get_logger
from greenscore.sustainability.intensity import co2_kg, grid_factor

log = get_logger(__name__)

UNKNOWN_COUNTRY = (
    "energy.country_iso_code '{code}' is not in CodeCarbon's energy-mix table; "
    "use a 3-letter ISO code such as GBR, FRA or USA"
)
NO_ROWS = "energy_per_1k_predictions needs at least one row of input, got 0"
BAD_REPEATS = "repeats must be a positive integer, got {repeats}"

_POOL_SIZE = 8  # idle trackers kept per configuration; more only exist while nested
_depth: contextvars.ContextVar[int] = contextvars.ContextVar("greenscore_energy_depth", default=0)


@dataclass
class EnergyReading:
    """What one measured block cost.

    Attributes
    ----------
    label : what was measured (``fit:lightgbm``, ``predict:batch``).
    kwh : electricity used by CPU, RAM and GPU during the block (NaN if unavailable).
    co2_kg : kg CO2-eq: ``kwh`` x ``intensity_g_per_kwh`` / 1000.
    duration_s : wall-clock seconds of the block.
    method : how the figure was obtained, starting with ``rapl:``, ``counters:``,
        ``estimate:`` or ``unavailable:``.
    country, country_name, region : where the carbon intensity comes from.
    intensity_g_per_kwh, intensity_source : the grid factor used for ``co2_kg`` and its
        source (:func:`greenscore.sustainability.intensity.grid_factor`: annual average
        of the region, else of the country).
    cpu_kwh, ram_kwh, gpu_kwh : the energy split by component.
    cpu_w, ram_w, gpu_w : mean power of each component during the block.
    depth : 0 for an outermost measurement, 1 inside another one, and so on.
    started_at : UTC start time, ISO 8601.
    """

    label: str
    kwh: float = math.nan
    co2_kg: float = math.nan
    duration_s: float = math.nan
    method: str = "unavailable: block still running"
    country: str | None = None
    country_name: str | None = None
    region: str | None = None
    intensity_g_per_kwh: float = math.nan
    intensity_source: str | None = None
    cpu_kwh: float = math.nan
    ram_kwh: float = math.nan
    gpu_kwh: float = math.nan
    cpu_w: float = math.nan
    ram_w: float = math.nan
    gpu_w: float = math.nan
    depth: int = 0
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def method_kind(self) -> str:
        """``rapl``, ``counters``, ``estimate`` or ``unavailable``."""
        return self.method.split(":", 1)[0]

    def to_dict(self) -> dict[str, Any]:
        """Plain data (for JSON, bundle metadata and run metrics)."""
        return {**asdict(self), "method_kind": self.method_kind}


# ------------------------------------------------------------------ CodeCarbon plumbing
def _quiet_codecarbon() -> None:
    # CodeCarbon logs at INFO from its constructor before it applies log_level, and
    # warns on every tracker that several may run at once (which is what we want).
    logging.getLogger("codecarbon").setLevel(logging.ERROR)


@lru_cache(maxsize=32)
def _check_country(code: str) -> None:
    from codecarbon.input import DataSource

    if code not in DataSource().get_global_energy_mix_data():
        raise ConfigError(UNKNOWN_COUNTRY.format(code=code))


def _output_dir() -> str:
    # Nothing is written (no output methods), but CodeCarbon insists the folder exists.
    home = get_settings().home
    return str(home.resolve()) if home.is_dir() else tempfile.gettempdir()


def _new_tracker(energy: EnergySettings) -> Any:
    from codecarbon import OfflineEmissionsTracker

    _quiet_codecarbon()
    _check_country(energy.country_iso_code)
    tracker = OfflineEmissionsTracker(
        country_iso_code=energy.country_iso_code,
        region=energy.region,
        measure_power_secs=energy.measure_power_secs,
        tracking_mode=energy.tracking_mode,
        output_dir=_output_dir(),
        output_methods=[],
        emissions_endpoint=None,
        api_call_interval=-1,
        allow_multiple_runs=True,
        log_level="error",
        project_name="greenscore",
    )
    # An Electricity Maps token found in a CodeCarbon config file would make the
    # emissions engine call that API; GreenScore's figures come from the offline table.
    tracker._electricitymaps_api_token = None
    return tracker


class _TrackerPool:
    """Idle trackers per energy configuration; a measurement borrows one exclusively."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[tuple[Any, ...], list[Any]] = {}

    @staticmethod
    def key(energy: EnergySettings) -> tuple[Any, ...]:
        return (
            energy.country_iso_code,
            energy.region,
            energy.measure_power_secs,
            energy.tracking_mode,
        )

    def acquire(self, energy: EnergySettings) -> Any:
        with self._lock:
            idle = self._idle.get(self.key(energy))
            if idle:
                return idle.pop()
        return _new_tracker(energy)

    def release(self, energy: EnergySettings, tracker: Any) -> None:
        # Finished tasks stay in the tracker's dict; drop them so a long-lived
        # service measuring every batch does not grow without bound.
        getattr(tracker, "_tasks", {}).clear()
        with self._lock:
            idle = self._idle.setdefault(self.key(energy), [])
            if len(idle) < _POOL_SIZE:
                idle.append(tracker)

    def clear(self) -> None:
        with self._lock:
            self._idle.clear()


_POOL = _TrackerPool()


@lru_cache(maxsize=8)
def _registry_tdp(model: str) -> float | None:
    from codecarbon.core.cpu import TDP

    # TDP() itself probes the CPU again; only its table look-up is wanted here.
    probe = TDP.__new__(TDP)
    return probe._get_cpu_power_from_registry(model)


def describe_method(tracker: Any) -> str:
    """Say how a CodeCarbon tracker measures, from the hardware objects it set up.

    Parameters
    ----------
    tracker : codecarbon tracker
        A tracker whose hardware has been initialised (after a start or a task).

    Returns
    -------
    str
        ``"<kind>: <details>"`` with kind ``rapl`` (Intel RAPL energy counters),
        ``counters`` (another hardware energy interface) or ``estimate``.
    """
    from codecarbon.core.cpu import DEFAULT_POWER_PER_CORE
    from codecarbon.core.util import count_cpus
    from codecarbon.external.hardware import CPU, GPU
    from codecarbon.external.ram import RAM

    hardware = list(getattr(tracker, "_hardware", []))
    cpu = next((h for h in hardware if isinstance(h, CPU)), None)
    parts: list[str] = []
    kind = "estimate"
    if cpu is None:
        parts.append("no CPU meter")
    elif cpu._mode == "intel_rapl":
        kind = "rapl"
        parts.append("CPU from Intel RAPL energy counters")
    elif cpu._mode in ("intel_power_gadget", "apple_powermetrics", "windows_emi"):
        kind = "counters"
        parts.append(f"CPU from {cpu._mode.replace('_', ' ')} energy readings")
    elif cpu._mode == "cpu_load":
        model = cpu._model or "unknown CPU"
        if cpu._is_generic_tdp:
            tdp_text = f"CPU '{model}' unidentified, generic {cpu._tdp:g} W"
        elif _registry_tdp(model) is None:
            tdp_text = (
                f"CPU '{model}' not in its TDP table, so {DEFAULT_POWER_PER_CORE} W per "
                f"thread x {count_cpus()} threads = {cpu._tdp:g} W"
            )
        else:
            tdp_text = f"CPU '{model}' TDP {cpu._tdp:g} W from its table"
        parts.append(f"CodeCarbon cpu-load model (no RAPL counters; {tdp_text})")
    else:
        parts.append(f"CodeCarbon CPU mode '{cpu._mode}' at {cpu._tdp:g} W")
    ram = next((h for h in hardware if isinstance(h, RAM)), None)
    if ram is not None:
        forced = getattr(ram, "_force_ram_power", None)
        parts.append(
            f"RAM fixed at {forced:g} W" if forced else "RAM power estimated from installed memory"
        )
    if any(isinstance(h, GPU) for h in hardware):
        parts.append("GPU from NVML/AMD-SMI energy counters")
    return f"{kind}: " + "; ".join(parts)


def _fill(reading: EnergyReading, data: Any, tracker: Any) -> None:
    reading.kwh = float(data.energy_consumed)
    reading.cpu_kwh = float(data.cpu_energy)
    reading.ram_kwh = float(data.ram_energy)
    reading.gpu_kwh = float(data.gpu_energy)
    reading.cpu_w = float(data.cpu_power)
    reading.ram_w = float(data.ram_power)
    reading.gpu_w = float(data.gpu_power)
    reading.country = data.country_iso_code
    reading.country_name = data.country_name
    reading.region = data.region or None
    # CodeCarbon meters the energy; the carbon factor is the grid table's, named in the
    # reading (the table holds the same figures CodeCarbon ships, with their sources).
    factor = grid_factor(data.country_iso_code, reading.region)
    reading.co2_kg = co2_kg(reading.kwh, factor)
    reading.intensity_g_per_kwh = factor.g_co2e_per_kwh
    reading.intensity_source = factor.citation
    reading.method = describe_method(tracker)


# ------------------------------------------------------------------ public API
def warm_up(energy: EnergySettings | None = None) -> float:
    """Probe the hardware now (1-3 s once per process) so later measurements are cheap.

    Returns
    -------
    float
        Seconds it took.
    """
    energy = energy or get_settings().energy
    started = time.perf_counter()
    tracker = _POOL.acquire(energy)
    try:
        tracker.get_detected_hardware()
    finally:
        _POOL.release(energy, tracker)
    return time.perf_counter() - started


@contextmanager
def measure_energy(
    label: str = "block", *, energy: EnergySettings | None = None
) -> Iterator[EnergyReading]:
    """Measure the energy and carbon of the ``with`` block.

    Parameters
    ----------
    label : str
        What is measured, e.g. ``fit:lightgbm`` or ``predict:batch``.
    energy : EnergySettings, optional
        Country, region and mode; defaults to ``get_settings().energy``.

    Yields
    ------
    EnergyReading
        Filled in when the block ends, also when it raises. Nested measurements are
        inclusive: the outer reading contains the inner ones.

    Raises
    ------
    ConfigError
        If the configured country is not in CodeCarbon's table.

    Notes
    -----
    If CodeCarbon itself fails, the block still runs, a warning is logged and the
    reading says ``unavailable: …`` with NaN figures: a model fit is not lost for
    want of a meter.

    Examples
    --------
    >>> with measure_energy("fit:demo") as reading:  # doctest: +SKIP
    ...     model.fit(X, y)
    >>> reading.kwh > 0, reading.method  # doctest: +SKIP
    (True, 'estimate: CodeCarbon cpu-load model (...)')
    """
    energy = energy or get_settings().energy
    depth = _depth.get()
    reading = EnergyReading(label=label, depth=depth)
    tracker = None
    try:
        tracker = _POOL.acquire(energy)
        tracker.start_task(label)
    except ConfigError:
        raise
    except Exception as exc:  # a meter failure must not abort the work it measures
        log.warning("energy meter unavailable", extra={"label": label, "error": repr(exc)})
        reading.method = f"unavailable: CodeCarbon failed to start ({type(exc).__name__}: {exc})"
        tracker = None
    token = _depth.set(depth + 1)
    started = time.perf_counter()
    try:
        yield reading
    finally:
        reading.duration_s = time.perf_counter() - started
        _depth.reset(token)
        if tracker is not None:
            _finish(reading, tracker, energy)


def _finish(reading: EnergyReading, tracker: Any, energy: EnergySettings) -> None:
    try:
        data = tracker.stop_task()
    except Exception as exc:  # see measure_energy: never lose the measured work
        log.warning("energy meter failed", extra={"label": reading.label, "error": repr(exc)})
        reading.method = f"unavailable: CodeCarbon failed to stop ({type(exc).__name__}: {exc})"
        return
    if data is None:
        reading.method = "unavailable: CodeCarbon did not start the task"
        return
    _fill(reading, data, tracker)
    _POOL.release(energy, tracker)


@dataclass
class PredictionEnergy:
    """Energy of scoring, scaled to 1,000 predictions; ``float()`` of it is ``kwh_per_1k``.

    Attributes
    ----------
    kwh_per_1k, co2_kg_per_1k, seconds_per_1k : cost of 1,000 rows.
    rows : rows scored while measuring (``repeats x len(X)``).
    repeats : how many times ``predict_fn(X)`` ran inside the measurement.
    reading : the underlying measurement.
    """

    kwh_per_1k: float
    co2_kg_per_1k: float
    seconds_per_1k: float
    rows: int
    repeats: int
    reading: EnergyReading

    def __float__(self) -> float:
        """``float(result)`` is the headline figure, kWh per 1,000 predictions."""
        return float(self.kwh_per_1k)

    def to_dict(self) -> dict[str, Any]:
        """Plain data; the reading is nested under ``reading``."""
        out = asdict(self)
        out["reading"] = self.reading.to_dict()
        return out


def energy_per_1k_predictions(
    predict_fn: Callable[[Any], Any],
    X: Any,  # noqa: N803 - scikit-learn's name for model input
    *,
    repeats: int | None = None,
    min_seconds: float = 0.5,
    label: str = "predict",
    energy: EnergySettings | None = None,
) -> PredictionEnergy:
    """Energy of scoring ``X`` with ``predict_fn``, per 1,000 rows.

    Untimed calls first warm caches and time one call. Then ``predict_fn(X)`` runs
    ``repeats`` times inside one measurement; by default enough times to last about
    ``min_seconds``, since a single fast call is shorter than the meter's resolution.

    Parameters
    ----------
    predict_fn : callable
        E.g. ``bundle.predict_pd`` or ``model.predict_proba``.
    X : array-like or DataFrame
        Input rows (``len(X)`` must work).
    repeats : int, optional
        Fixed number of calls; overrides ``min_seconds``.
    min_seconds : float, default 0.5
        Target measured duration when ``repeats`` is not given.
    label : str
        Label of the measurement.
    energy : EnergySettings, optional
        Defaults to ``get_settings().energy``.

    Returns
    -------
    PredictionEnergy
    """
    n_rows = len(X)
    if n_rows == 0:
        raise DataError(NO_ROWS)
    if repeats is not None and (
        isinstance(repeats, bool) or int(repeats) != repeats or repeats < 1
    ):
        raise DataError(BAD_REPEATS.format(repeats=repeats))
    # Warm-up and calibration: the first call may load or compile; later ones set the pace.
    predict_fn(X)
    calls, started = 0, time.perf_counter()
    while True:
        predict_fn(X)
        calls += 1
        elapsed = time.perf_counter() - started
        if repeats is not None or elapsed >= min_seconds / 10 or calls >= 1000:
            break
    if repeats is None:
        per_call = max(elapsed / calls, 1e-7)
        repeats = min(max(1, math.ceil(min_seconds / per_call)), 1_000_000)
    with measure_energy(f"{label}:{n_rows}x{repeats}", energy=energy) as reading:
        for _ in range(repeats):
            predict_fn(X)
    rows = n_rows * int(repeats)
    return PredictionEnergy(
        kwh_per_1k=reading.kwh / rows * 1000.0,
        co2_kg_per_1k=reading.co2_kg / rows * 1000.0,
        seconds_per_1k=reading.duration_s / rows * 1000.0,
        rows=rows,
        repeats=int(repeats),
        reading=reading,
    )


def reset_pool() -> None:
    """Forget idle trackers (after changing settings in a long-lived process, or in tests)."""
    _POOL.clear()

"""Typical hourly profiles: how a region's grid intensity moves over a day.

The shipped profiles (``data/hourly_profiles.csv``) are stylised typical days, as
multipliers of the annual average by local hour that average exactly 1.0: the annual
figure is kept, only its spread over the day is added. Measured hourly means replace
them where ``sustainability.hourly_profile_file`` gives some (a CSV of
``country,region,hour,g_co2e_per_kwh``, e.g. a year of a grid operator's data averaged by
hour), and the figure then says it was measured.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from greenscore.config import Settings, get_settings
from greenscore.errors import ConfigError
from greenscore.sustainability.grid import (
    MEASURED_HOUR,
    TYPICAL_HOUR,
    GridFactor,
    data_file,
    data_rows,
)

PROFILES_FILE = "hourly_profiles.csv"
UNKNOWN_PROFILE = "no hourly profile named '{name}' in {file}"
BAD_HOUR = "hour must be 0-23, got {hour}"
BAD_MEASURED = "{file} row {row}: {problem}"
MEASURED_COLUMNS = ("country", "region", "hour", "g_co2e_per_kwh")


@lru_cache(maxsize=1)
def profiles() -> dict[str, list[float]]:
    """The shipped profiles: name to 24 multipliers (local hours 0-23)."""
    shapes: dict[str, list[float]] = {}
    for row in data_rows(data_file(PROFILES_FILE).read_text(encoding="utf-8")):
        shapes.setdefault(row["profile"], [0.0] * 24)[int(row["hour"])] = float(row["multiplier"])
    return shapes


def day_shape(name: str) -> list[float]:
    """The 24 multipliers of a shipped profile.

    Raises
    ------
    ConfigError
        If there is no profile of that name.
    """
    try:
        return list(profiles()[name])
    except KeyError:
        raise ConfigError(UNKNOWN_PROFILE.format(name=name, file=PROFILES_FILE)) from None


@lru_cache(maxsize=4)
def _measured(path: str, mtime: float) -> dict[tuple[str, str | None], list[float | None]]:
    """Measured hourly means of a file (cached on its path and modification time)."""
    del mtime  # part of the cache key only: an edited file is read again
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"hourly profile file {path} cannot be read: {exc}") from exc
    rows = data_rows(text)
    if rows and set(MEASURED_COLUMNS) - set(rows[0]):
        missing = ", ".join(sorted(set(MEASURED_COLUMNS) - set(rows[0])))
        raise ConfigError(BAD_MEASURED.format(file=path, row=1, problem=f"missing {missing}"))
    out: dict[tuple[str, str | None], list[float | None]] = {}
    for k, row in enumerate(rows, start=2):
        try:
            hour, value = int(row["hour"]), float(row["g_co2e_per_kwh"])
        except ValueError as exc:
            raise ConfigError(BAD_MEASURED.format(file=path, row=k, problem=str(exc))) from exc
        if not 0 <= hour <= 23 or value < 0:
            problem = f"hour {hour} must be 0-23 and intensity {value} not negative"
            raise ConfigError(BAD_MEASURED.format(file=path, row=k, problem=problem))
        key = (row["country"].upper(), row["region"] or None)
        out.setdefault(key, [None] * 24)[hour] = value
    return out


def measured_hours(factor: GridFactor, settings: Settings | None = None) -> list[float | None]:
    """Measured means by local hour for the factor's region (None where none were given)."""
    path = (settings or get_settings()).sustainability.hourly_profile_file
    if path is None:
        return [None] * 24
    table = _measured(str(path), Path(path).stat().st_mtime if Path(path).exists() else 0.0)
    return list(table.get((factor.country, factor.region), [None] * 24))


def hourly_intensity(
    factor: GridFactor, local_hour: int, *, settings: Settings | None = None
) -> tuple[float, str, str]:
    """Intensity of a local hour: ``(g CO2e/kWh, kind, source)``.

    A measured mean for that hour wins; otherwise the annual average times the
    region's typical profile.

    Raises
    ------
    ConfigError
        If ``local_hour`` is not 0-23.
    """
    if not 0 <= int(local_hour) <= 23:
        raise ConfigError(BAD_HOUR.format(hour=local_hour))
    settings = settings or get_settings()
    measured = measured_hours(factor, settings)[int(local_hour)]
    if measured is not None:
        return (
            measured,
            MEASURED_HOUR,
            f"measured hourly mean, {settings.sustainability.hourly_profile_file}",
        )
    multiplier = day_shape(factor.profile)[int(local_hour)]
    source = f"{factor.citation} x typical '{factor.profile}' profile ({multiplier:.3f} at {int(local_hour):02d}:00 local)"
    return factor.g_co2e_per_kwh * multiplier, TYPICAL_HOUR, source


def typical_day(factor: GridFactor, *, settings: Settings | None = None) -> list[float]:
    """The region's 24 hourly intensities (g CO2e/kWh) by local hour."""
    return [hourly_intensity(factor, h, settings=settings)[0] for h in range(24)]

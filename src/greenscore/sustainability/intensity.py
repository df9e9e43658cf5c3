"""Grid carbon intensity: the offline table by country and region, and live providers.

Every CO2 figure GreenScore shows is ``kWh x factor``, and names its factor: a
:class:`GridFactor` carries the grams CO2e per kWh, the year, the source and the region's
timezone and typical daily shape. The table (``data/grid_intensity.csv``) holds typical
annual averages (location-based, GHG Protocol Scope 2) with their sources in the file:
Ember's yearly data by country, US EPA eGRID2023 by state, ENTSO-E by Nordic bidding zone.

Hour by hour, intensity comes from an :class:`IntensityProvider`. The default,
:class:`OfflineProvider`, multiplies the annual average by the region's typical hourly
profile (:mod:`greenscore.sustainability.hourly_profiles`) and never opens a connection.
A live provider (a grid operator's or Electricity Maps' API, say) is plugged in by
setting ``sustainability.intensity_provider`` to ``"package.module:Class"``: the class is
built with the settings and answers :meth:`IntensityProvider.forecast`; GreenScore ships
none, so nothing calls out unless you add one.
"""

from __future__ import annotations

import difflib
import importlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from greenscore.config import Settings, get_settings
from greenscore.errors import ConfigError
from greenscore.sustainability.grid import (
    GridFactor,
    comment_lines,
    data_file,
    data_rows,
)
from greenscore.sustainability.hourly_profiles import hourly_intensity

TABLE_FILE = "grid_intensity.csv"
UNKNOWN_COUNTRY = "no grid carbon intensity for country '{country}' in {file}; use an ISO alpha-3 code such as GBR, FRA or USA"
UNKNOWN_REGION = "no grid carbon intensity for region '{region}' of {country} in {file}; {hint}"
REGION_CLOSE = "did you mean {names}?"
REGION_KNOWN = "its regions are {names}"
NO_REGIONS = "the table has no regions for {country}: leave the region out for the country figure"
BAD_PROVIDER = (
    "sustainability.intensity_provider '{spec}' must be 'offline' or 'package.module:Class'"
)
PROVIDER_FAILED = "intensity provider '{spec}' cannot be loaded: {error}"
NOT_A_PROVIDER = "intensity provider '{spec}' has no forecast(country=, region=, start=, hours=)"
BAD_HOURS = "hours must be a positive integer, got {hours}"


@lru_cache(maxsize=1)
def _table() -> dict[tuple[str, str | None], GridFactor]:
    text = data_file(TABLE_FILE).read_text(encoding="utf-8")
    sources = {}
    for line in comment_lines(text):
        if line.startswith("source ") and ":" in line:
            key, citation = line.removeprefix("source ").split(":", 1)
            sources[key.strip()] = citation.strip()
    table = {}
    for row in data_rows(text):
        region = row["region"] or None
        table[(row["country"], region)] = GridFactor(
            country=row["country"],
            region=region,
            name=row["name"],
            g_co2e_per_kwh=float(row["g_co2e_per_kwh"]),
            year=int(row["year"]),
            source=sources[row["source"]],
            timezone=row["timezone"],
            profile=row["profile"],
            renewable_share=float(row["renewable_share"]) if row["renewable_share"] else None,
            source_label=sources[row["source"]].split(",")[0],
        )
    return table


def grid_table() -> list[GridFactor]:
    """Every row of the offline table, countries and regions."""
    return list(_table().values())


def grid_factor(country: str, region: str | None = None) -> GridFactor:
    """The annual factor of a region, else of its country.

    A region the table does not list falls back to the whole country, and the returned
    factor says so (its ``region`` is None): the figure is never attributed to a region
    it was not measured for.

    Raises
    ------
    ConfigError
        If the country is not in the table.
    """
    code = str(country).upper()
    table = _table()
    if region:
        found = table.get((code, str(region))) or table.get((code, str(region).lower()))
        if found is not None:
            return found
    found = table.get((code, None))
    if found is None:
        raise ConfigError(UNKNOWN_COUNTRY.format(country=country, file=TABLE_FILE))
    return found


def regions(country: str) -> list[str]:
    """The regions of ``country`` the table lists, sorted (none for most countries)."""
    code = str(country).upper()
    return sorted(region for c, region in _table() if c == code and region is not None)


def region_factor(country: str, region: str) -> GridFactor:
    """The annual factor of exactly this region, never its country's instead.

    :func:`grid_factor` falls back to the country for a region it does not list, which
    suits a configured location; a region someone just typed and misspelt
    (``californa``) would then be answered with the country figure and no word about it.
    This lookup refuses it and names the close matches.

    Raises
    ------
    ConfigError
        If the country is not in the table, or the region is not one of its regions.
    """
    factor = grid_factor(country, region)
    if factor.region is not None:
        return factor
    code = str(country).upper()
    known = regions(code)
    by_lower = {name.lower(): name for name in known}
    close = difflib.get_close_matches(str(region).lower(), list(by_lower), n=3, cutoff=0.6)
    if close:
        hint = REGION_CLOSE.format(names=" or ".join(f"'{by_lower[c]}'" for c in close))
    elif known:
        hint = REGION_KNOWN.format(names=", ".join(known))
    else:
        hint = NO_REGIONS.format(country=code)
    raise ConfigError(
        UNKNOWN_REGION.format(region=region, country=code, file=TABLE_FILE, hint=hint)
    )


def configured_factor(settings: Settings | None = None) -> GridFactor:
    """The factor of the place GreenScore runs (``settings.energy`` country and region)."""
    energy = (settings or get_settings()).energy
    return grid_factor(energy.country_iso_code, energy.region)


def co2_kg(kwh: float, factor: GridFactor) -> float:
    """kg CO2e of ``kwh`` at ``factor`` (NaN stays NaN: an unmeasured block has no carbon)."""
    return float(kwh) * factor.kg_per_kwh if not math.isnan(float(kwh)) else math.nan


# ---------------------------------------------------------------------- providers
@dataclass(frozen=True)
class IntensityPoint:
    """Intensity of one hour.

    Attributes
    ----------
    start : the hour's start (aware, UTC).
    g_co2e_per_kwh : grams CO2e per kWh during it.
    kind : ``annual-average``, ``typical-hour``, ``measured-hour`` or ``forecast``.
    source : where the figure comes from.
    """

    start: datetime
    g_co2e_per_kwh: float
    kind: str
    source: str


@runtime_checkable
class IntensityProvider(Protocol):
    """Hour-by-hour carbon intensity of a region's grid.

    Implement ``forecast`` (and a ``name``) to plug a live source in: set
    ``sustainability.intensity_provider`` to ``"package.module:Class"``; the class is
    called with the :class:`~greenscore.config.Settings` and must return exactly ``hours``
    points, one per hour from the hour containing ``start``. Raise
    :class:`~greenscore.errors.ConfigError` for a region it does not cover.
    """

    name: str

    def forecast(
        self, *, country: str, region: str | None, start: datetime, hours: int
    ) -> list[IntensityPoint]:
        """Intensity of each hour from the hour containing ``start``."""
        ...


def hour_floor(moment: datetime) -> datetime:
    """The start of the UTC hour containing ``moment`` (naive values are taken as UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class OfflineProvider:
    """Annual factor x typical (or measured) hourly profile; opens no connection.

    Parameters
    ----------
    settings : Settings, optional
        ``sustainability.hourly_profile_file`` may give measured hourly means.
    """

    name = "offline"

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or get_settings()

    def forecast(
        self, *, country: str, region: str | None, start: datetime, hours: int
    ) -> list[IntensityPoint]:
        """Intensity of each hour from the hour containing ``start``."""
        if isinstance(hours, bool) or int(hours) != hours or hours < 1:
            raise ConfigError(BAD_HOURS.format(hours=hours))
        factor = grid_factor(country, region)
        zone = ZoneInfo(factor.timezone)
        first = hour_floor(start)
        points = []
        for k in range(int(hours)):
            at = first + timedelta(hours=k)
            value, kind, source = hourly_intensity(
                factor, at.astimezone(zone).hour, settings=self.settings
            )
            points.append(IntensityPoint(start=at, g_co2e_per_kwh=value, kind=kind, source=source))
        return points


def provider_from_settings(settings: Settings | None = None) -> IntensityProvider:
    """The provider ``sustainability.intensity_provider`` names.

    Raises
    ------
    ConfigError
        If the setting is neither ``offline`` nor an importable ``module:Class``
        with a ``forecast`` method.
    """
    settings = settings or get_settings()
    spec = settings.sustainability.intensity_provider
    if spec == "offline":
        return OfflineProvider(settings)
    module_name, _, class_name = spec.partition(":")
    if not module_name or not class_name:
        raise ConfigError(BAD_PROVIDER.format(spec=spec))
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
        provider = cls(settings)
    except Exception as exc:  # noqa: BLE001 - any import or constructor failure is the setting's
        raise ConfigError(PROVIDER_FAILED.format(spec=spec, error=exc)) from exc
    if not callable(getattr(provider, "forecast", None)):
        raise ConfigError(NOT_A_PROVIDER.format(spec=spec))
    return provider

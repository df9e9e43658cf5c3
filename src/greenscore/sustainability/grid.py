"""What every grid figure is made of: the kinds of hourly figure, :class:`GridFactor` (one
region's annual average with its source), and the readers of the shipped data files.

The offline table (:mod:`greenscore.sustainability.intensity`) and the typical hourly
profiles (:mod:`greenscore.sustainability.hourly_profiles`) both build on these.
"""

from __future__ import annotations

import csv
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

#: What an hourly figure is: the annual mean, a typical hour, a measured mean, a forecast.
ANNUAL, TYPICAL_HOUR, MEASURED_HOUR, FORECAST = (
    "annual-average",
    "typical-hour",
    "measured-hour",
    "forecast",
)


@dataclass(frozen=True)
class GridFactor:
    """The annual average carbon intensity of one country or region's grid.

    Attributes
    ----------
    country : ISO 3166 alpha-3 code.
    region : the region within the country, or None for the whole country.
    name : readable name.
    g_co2e_per_kwh : grams CO2-equivalent per kWh (annual average).
    year : the year the figure describes.
    source : full citation of where the figure comes from.
    timezone : IANA zone of the region's local hours.
    profile : name of its typical daily shape.
    renewable_share : share of generation from renewables, if the source gives it.
    source_label : the source's short name (``Ember``, ``US EPA eGRID2023``).
    """

    country: str
    region: str | None
    name: str
    g_co2e_per_kwh: float
    year: int
    source: str
    timezone: str
    profile: str
    renewable_share: float | None = None
    source_label: str = ""

    @property
    def kg_per_kwh(self) -> float:
        """The factor in kg CO2e per kWh."""
        return self.g_co2e_per_kwh / 1000.0

    @property
    def citation(self) -> str:
        """One line naming the factor and its source, printed beside every CO2 figure."""
        return (
            f"{self.g_co2e_per_kwh:.1f} gCO2e/kWh, {self.name} {self.year} annual average "
            f"({self.source_label})"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain data, with the one-line citation."""
        return {**asdict(self), "citation": self.citation}


def data_file(name: str) -> Any:
    return resources.files("greenscore.sustainability").joinpath("data", name)


def comment_lines(text: str) -> list[str]:
    """The ``#`` header lines of a data file, without the ``#``."""
    return [line[1:].strip() for line in text.splitlines() if line.startswith("#")]


def data_rows(text: str) -> list[dict[str, str]]:
    """The CSV rows of a data file whose header lines start with ``#``."""
    return list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))

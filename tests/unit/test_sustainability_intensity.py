"""Grid carbon intensity: the sourced table, hourly profiles, providers, factors in readings."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest

from greenscore.config import Settings, SustainabilitySettings, use_settings
from greenscore.errors import ConfigError
from greenscore.sustainability import grid
from greenscore.sustainability import hourly_profiles as hp
from greenscore.sustainability import intensity as it


@pytest.fixture(autouse=True)
def _home(tmp_path: Path) -> Iterator[None]:
    use_settings(Settings(home=tmp_path))
    yield
    use_settings(None)


def test_every_row_names_a_source_a_year_and_a_known_profile() -> None:
    table = it.grid_table()
    assert len(table) > 250
    for factor in table:
        assert factor.g_co2e_per_kwh >= 0 and 2000 <= factor.year <= 2026
        assert factor.source and factor.source_label in factor.source
        assert factor.profile in hp.profiles()
    labels = {f.source_label for f in table}
    assert labels == {"Ember", "US EPA eGRID2023", "ENTSO-E Transparency Platform"}


def test_countries_match_codecarbon_so_measured_co2_and_table_agree() -> None:
    import codecarbon

    path = resources.files(codecarbon).joinpath("data", "private_infra", "global_energy_mix.json")
    mix = json.loads(path.read_text(encoding="utf-8"))
    for code, row in mix.items():
        if "carbon_intensity" in row:
            assert it.grid_factor(code).g_co2e_per_kwh == pytest.approx(
                row["carbon_intensity"], abs=1e-3
            ), code


def test_known_figures_and_citation() -> None:
    gbr = it.grid_factor("gbr")
    assert gbr.g_co2e_per_kwh == pytest.approx(237.589) and gbr.year == 2023
    assert gbr.citation == "237.6 gCO2e/kWh, United Kingdom 2023 annual average (Ember)"
    california = it.grid_factor("USA", "california")
    # eGRID2023 394.769 lb/MWh in g/kWh
    assert california.g_co2e_per_kwh == pytest.approx(394.769 * 0.45359237, abs=1e-3)
    assert "eGRID2023" in california.citation and california.timezone == "America/Los_Angeles"
    assert it.grid_factor("SWE", "SE3").g_co2e_per_kwh == pytest.approx(27.0)


def test_unknown_region_falls_back_to_country_and_says_so() -> None:
    factor = it.grid_factor("USA", "atlantis")
    assert factor.region is None and factor.name == "United States"


def test_a_region_asked_for_by_name_is_never_answered_with_the_country() -> None:
    assert it.region_factor("usa", "California").name == "California (US state)"
    with pytest.raises(ConfigError) as err:
        it.region_factor("USA", "californa")
    assert err.value.message == it.UNKNOWN_REGION.format(
        region="californa",
        country="USA",
        file=it.TABLE_FILE,
        hint=it.REGION_CLOSE.format(names="'california'"),
    )
    with pytest.raises(ConfigError, match=r"region 'XX' of GBR .*table has no regions for GBR"):
        it.region_factor("GBR", "XX")
    with pytest.raises(ConfigError, match="its regions are SE1, SE2, SE3, SE4"):
        it.region_factor("SWE", "north")
    with pytest.raises(ConfigError, match="country 'XYZ'"):
        it.region_factor("XYZ", "california")


def test_unknown_country_is_refused_with_the_code() -> None:
    with pytest.raises(ConfigError) as err:
        it.grid_factor("XXX")
    assert err.value.message == it.UNKNOWN_COUNTRY.format(country="XXX", file=it.TABLE_FILE)


def test_profiles_average_one_so_the_annual_figure_is_kept() -> None:
    for name, shape in hp.profiles().items():
        assert len(shape) == 24, name
        assert sum(shape) / 24 == pytest.approx(1.0, abs=1e-6), name
    gbr = it.grid_factor("GBR")
    day = hp.typical_day(gbr)
    assert sum(day) / 24 == pytest.approx(gbr.g_co2e_per_kwh, rel=1e-6)
    # The evening-peak shape: 18:00 dirtier than 03:00.
    assert day[18] > day[3]


def test_offline_forecast_uses_local_hours_of_the_region() -> None:
    start = datetime(2026, 7, 1, 0, 30, tzinfo=UTC)  # 17:30 in California (PDT)
    points = it.OfflineProvider().forecast(country="USA", region="california", start=start, hours=3)
    assert [p.start.hour for p in points] == [0, 1, 2]
    factor = it.grid_factor("USA", "california")
    shape = hp.day_shape("solar_duck")
    assert points[0].g_co2e_per_kwh == pytest.approx(factor.g_co2e_per_kwh * shape[17])
    assert points[0].kind == grid.TYPICAL_HOUR and "17:00 local" in points[0].source


def test_measured_hourly_file_overrides_the_typical_shape(tmp_path: Path) -> None:
    measured = tmp_path / "hours.csv"
    measured.write_text("country,region,hour,g_co2e_per_kwh\nGBR,,3,99.5\n", encoding="utf-8")
    settings = Settings(
        home=tmp_path, sustainability=SustainabilitySettings(hourly_profile_file=measured)
    )
    gbr = it.grid_factor("GBR")
    value, kind, source = hp.hourly_intensity(gbr, 3, settings=settings)
    assert (value, kind) == (99.5, grid.MEASURED_HOUR) and str(measured) in source
    assert hp.hourly_intensity(gbr, 4, settings=settings)[1] == grid.TYPICAL_HOUR


def test_bad_measured_file_names_the_row(tmp_path: Path) -> None:
    measured = tmp_path / "bad.csv"
    measured.write_text("country,region,hour,g_co2e_per_kwh\nGBR,,25,10\n", encoding="utf-8")
    settings = Settings(
        home=tmp_path, sustainability=SustainabilitySettings(hourly_profile_file=measured)
    )
    with pytest.raises(ConfigError, match="row 2"):
        hp.hourly_intensity(it.grid_factor("GBR"), 3, settings=settings)


class _FlatProvider:
    """A provider as a user would plug one in (module:Class, built with the settings)."""

    name = "flat"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def forecast(self, *, country, region, start, hours):  # noqa: ANN001, ANN201
        first = it.hour_floor(start)
        return [it.IntensityPoint(first, 1.0, grid.FORECAST, "flat") for _ in range(hours)]


def test_provider_plugs_in_by_module_and_class() -> None:
    spec = f"{__name__}:_FlatProvider"
    provider = it.provider_from_settings(
        Settings(sustainability=SustainabilitySettings(intensity_provider=spec))
    )
    assert provider.name == "flat" and isinstance(provider, it.IntensityProvider)
    assert isinstance(it.provider_from_settings(Settings()), it.OfflineProvider)


@pytest.mark.parametrize(
    ("spec", "message"),
    [("nonsense", it.BAD_PROVIDER), ("no.such.module:Thing", it.PROVIDER_FAILED.split(":")[0])],
)
def test_bad_provider_setting_is_a_config_error(spec: str, message: str) -> None:
    settings = Settings(sustainability=SustainabilitySettings(intensity_provider=spec))
    with pytest.raises(ConfigError) as err:
        it.provider_from_settings(settings)
    assert err.value.message.startswith(message.format(spec=spec).split("{")[0])


def test_energy_reading_names_its_factor_and_source() -> None:
    from greenscore.sustainability.energy import measure_energy

    with measure_energy("fit:factor") as reading:
        sum(range(100_000))
    gbr = it.grid_factor("GBR")
    assert reading.intensity_g_per_kwh == gbr.g_co2e_per_kwh
    assert reading.intensity_source == gbr.citation
    assert reading.co2_kg == pytest.approx(reading.kwh * gbr.kg_per_kwh)
    assert reading.to_dict()["intensity_source"] == gbr.citation

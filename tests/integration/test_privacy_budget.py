"""The epsilon ledger: releases are charged per dataset and refused past the budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from greenscore.config import Settings, get_settings, use_settings
from greenscore.errors import ConfigError, PrivacyError
from greenscore.privacy.budget import budget_status, set_budget, spend, spending
from greenscore.privacy.dp import release_count, release_histogram, release_mean
from greenscore.store import database


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    monkeypatch.delenv("GREENSCORE_DATABASE_URL", raising=False)
    settings = Settings(home=tmp_path)
    settings.privacy.dp_epsilon_budget = 1.0
    use_settings(settings)
    yield tmp_path
    use_settings(None)


def test_releases_charge_the_budget_until_refused() -> None:
    values = np.arange(100.0)
    release_count(values, dataset="apps", epsilon=0.3, actor="ana", settings=get_settings())
    release_mean(values, dataset="apps", epsilon=0.3, bounds=(0, 100), settings=get_settings())
    release_histogram(
        values, dataset="apps", epsilon=0.3, bins=4, range=(0, 100), settings=get_settings()
    )
    assert budget_status("apps", settings=get_settings()).spent == pytest.approx(0.9)
    with pytest.raises(
        PrivacyError,
        match=r"budget of dataset 'apps' would be exceeded: spent 0.9 of 1, this release needs epsilon 0.2",
    ):
        release_count(values, dataset="apps", epsilon=0.2, settings=get_settings())
    # The refused release charged nothing; what is left can still be spent.
    assert budget_status("apps", settings=get_settings()).spent == pytest.approx(0.9)
    release_count(values, dataset="apps", epsilon=0.1, settings=get_settings())
    assert budget_status("apps", settings=get_settings()).remaining == pytest.approx(0.0)
    assert [r["query"].split()[0] for r in spending("apps", db=database(get_settings()))] == [
        "count",
        "mean",
        "histogram",
        "count",
    ]
    assert spending("apps", db=database(get_settings()))[0]["actor"] == "ana"


def test_budgets_are_per_dataset_and_ten_tenths_fit() -> None:
    for _ in range(10):
        spend("a", 0.1, query="count", settings=get_settings())
    with pytest.raises(PrivacyError):
        spend("a", 0.1, query="count", settings=get_settings())
    assert (
        budget_status("b", settings=get_settings()).spent == 0
        and spend("b", 1.0, query="count", settings=get_settings()).remaining == 0
    )


def test_set_budget_cannot_go_below_spent() -> None:
    spend("c", 0.5, query="count", settings=get_settings())
    assert set_budget("c", 2.0, db=database(get_settings())).remaining == pytest.approx(1.5)
    with pytest.raises(ConfigError, match="already spent epsilon 0.5"):
        set_budget("c", 0.4, db=database(get_settings()))
    with pytest.raises(ConfigError, match="epsilon must be positive"):
        spend("c", 0.0, query="count", settings=get_settings())

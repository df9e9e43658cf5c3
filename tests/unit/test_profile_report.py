"""The data profile: statistics that match the data, information value that ranks an
informative feature above noise, one inlined plotly.js, and no PII values on the page."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from greenscore.data.profile import HTML_FILE, JSON_FILE, profile
from greenscore.data.spec import DatasetSpec

N = 400


@pytest.fixture
def data() -> tuple[pd.DataFrame, DatasetSpec]:
    rng = np.random.default_rng(5)
    bad = rng.random(N) < 0.3
    frame = pd.DataFrame(
        {
            "id": np.arange(N),
            "email": [f"secret{i}@example.org" for i in range(N)],
            "income": np.where(bad, rng.normal(30_000, 5_000, N), rng.normal(50_000, 5_000, N)),
            "noise": rng.normal(0, 1, N),
            "housing": rng.choice(["rent", "own", "mortgage"], N),
            "bad": np.where(bad, "yes", "no"),
        }
    )
    frame.loc[:39, "noise"] = np.nan
    spec = DatasetSpec(
        name="prof",
        target="bad",
        positive_label="yes",
        id_column="id",
        pii=["email"],
        numeric=["income", "noise"],
        categorical=["housing"],
    )
    return frame, spec


def test_profile_writes_html_and_json(
    tmp_path: Path, data: tuple[pd.DataFrame, DatasetSpec]
) -> None:
    frame, spec = data
    result = profile(frame, spec, tmp_path / "out")
    html_path, json_path = tmp_path / "out" / HTML_FILE, tmp_path / "out" / JSON_FILE
    assert result["files"] == {"html": str(html_path), "json": str(json_path)}

    saved = json.loads(json_path.read_text())
    assert saved["overview"]["rows"] == N
    assert saved["overview"]["default_rate"] == pytest.approx((frame["bad"] == "yes").mean())

    columns = saved["columns"]
    assert columns["noise"]["missing"] == 40
    assert columns["noise"]["missing_share"] == pytest.approx(0.1)
    assert columns["income"]["mean"] == pytest.approx(frame["income"].mean())
    assert columns["income"]["median"] == pytest.approx(frame["income"].median())
    assert sum(columns["income"]["histogram"]["counts"]) == N
    assert sum(columns["income"]["histogram"]["defaults"]) == (frame["bad"] == "yes").sum()
    levels = {lv["level"]: lv for lv in columns["housing"]["levels"]}
    assert sum(lv["count"] for lv in levels.values()) == N
    rent = frame["housing"] == "rent"
    assert levels["rent"]["default_rate"] == pytest.approx((frame.loc[rent, "bad"] == "yes").mean())
    assert columns["email"]["kind"] == "pii" and "levels" not in columns["email"]

    iv = {r["column"]: r["iv"] for r in saved["information_value"]}
    assert set(iv) == {"income", "noise", "housing"}
    assert iv["income"] > 0.5 > iv["noise"]
    assert saved["information_value"][0]["column"] == "income"  # sorted, strongest first

    corr = saved["correlation"]
    assert corr["columns"] == ["income", "noise", "bad"]
    assert corr["matrix"][0][2] < -0.5  # lower income, more defaults

    page = html_path.read_text()
    assert page.count("plotly.js v") == 1  # the library is inlined once
    assert page.count("Plotly.newPlot") >= 5  # missing, IV, correlation, and per-column charts
    assert "secret1@example.org" not in page  # PII values are never shown
    assert "Information value" in page and "Correlation" in page


def test_profile_without_usable_target_still_describes_columns(
    tmp_path: Path, data: tuple[pd.DataFrame, DatasetSpec]
) -> None:
    frame, spec = data
    result = profile(frame.drop(columns="bad"), spec, tmp_path)
    assert result["information_value"] == []
    assert result["overview"]["default_rate"] is None
    assert result["overview"]["errors"] == 1  # the validation finding for the missing target
    assert result["columns"]["income"]["unique"] == N
    assert (tmp_path / HTML_FILE).exists()

"""Plotly figures and the self-contained HTML report."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from greenscore.errors import DataError
from greenscore.evaluation import plots
from greenscore.evaluation.metrics import ks, score_band_table
from greenscore.evaluation.report import HtmlReport


@pytest.fixture(scope="module")
def scored() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(8)
    y = rng.integers(0, 2, 300)
    p1 = np.clip(0.3 * y + 0.7 * rng.random(300), 0, 1)
    p2 = rng.random(300)
    return y, p1, p2


def test_roc_figure_one_trace_per_model_plus_diagonal(scored: tuple) -> None:
    y, p1, p2 = scored
    fig = plots.roc_figure({"lightgbm": (y, p1), "random": (y, p2)})
    assert isinstance(fig, go.Figure)
    assert len(fig.data) == 3
    assert fig.data[0].name.startswith("lightgbm (AUC 0.")
    assert fig.data[0].x[0] == 0.0 and fig.data[0].x[-1] == 1.0


def test_ks_figure_marks_the_ks(scored: tuple) -> None:
    y, p1, _ = scored
    fig = plots.ks_figure(y, p1)
    marker = fig.data[2]
    assert marker.y[1] - marker.y[0] == pytest.approx(ks(y, p1))
    assert f"KS {ks(y, p1):.3f}" in marker.name


def test_calibration_importance_iv_and_band_figures(scored: tuple) -> None:
    y, p1, p2 = scored
    cal = plots.calibration_figure({"a": (y, p1), "b": (y, p2)}, n_bins=5)
    assert len(cal.data) == 3 and len(cal.data[0].x) <= 5

    importance = pd.DataFrame({"feature": list("abcde"), "importance": [0.1, -0.5, 0.3, 0.05, 0.2]})
    imp = plots.importance_figure(importance, top=3)
    assert list(imp.data[0].y) == ["e", "c", "b"]  # largest |value| drawn on top (last)

    iv_table = pd.DataFrame({"name": ["x", "y", "z"], "iv": [0.01, 0.25, 0.7]})
    iv = plots.iv_figure(iv_table)
    assert list(iv.data[0].customdata) == ["not predictive", "medium", "suspiciously strong"]
    assert list(iv.data[0].y) == ["x", "y", "z"]

    bands = plots.score_band_figure(score_band_table(y, p1, n_bands=5))
    assert len(bands.data[0].x) == 5 and bands.data[1].yaxis == "y2"


def test_figures_reject_bad_input(scored: tuple) -> None:
    y, p1, _ = scored
    with pytest.raises(DataError, match="importance_figure needs columns"):
        plots.importance_figure(pd.DataFrame({"name": ["a"], "gain": [1.0]}))
    with pytest.raises(DataError, match="at least one model"):
        plots.roc_figure({})
    with pytest.raises(DataError, match="y has 300 rows but p has 2"):
        plots.ks_figure(y, [0.1, 0.2])


def test_report_is_one_file_with_one_plotly_copy(tmp_path: Path, scored: tuple) -> None:
    y, p1, p2 = scored
    report = HtmlReport("Model <validation> & report")
    report.add_heading("Discrimination").add_text("Two models.\n\nSecond <b>paragraph</b>.")
    report.add_figure(plots.roc_figure({"a": (y, p1), "b": (y, p2)}))
    report.add_figure(plots.ks_figure(y, p1))
    report.add_figure(plots.calibration_figure({"a": (y, p1)}))
    report.add_table(pd.DataFrame({"metric": ["auc"], "value": [0.7123456]}))
    report.add_json({"auc": 0.71, "note": "<script>alert(1)</script>"})
    path = report.write(tmp_path / "out" / "report.html")

    assert path.exists() and list(path.parent.iterdir()) == [path]
    text = path.read_text(encoding="utf-8")
    # plotly.js carries its own banner once; every figure refers to the same global.
    assert text.count("plotly.js v") == 1
    assert text.count("Plotly.newPlot(") == 3
    assert text.count('class="plotly-graph-div"') == 3
    assert "<script src=" not in text and '<link rel="stylesheet"' not in text
    # Text is escaped, never injected.
    assert "&lt;validation&gt; &amp; report" in text
    assert "<b>paragraph</b>" not in text and "&lt;b&gt;paragraph&lt;/b&gt;" in text
    assert "<script>alert(1)</script>" not in text
    assert "0.7123" in text and "0.7123456" not in text


def test_report_without_figures_has_no_plotly(tmp_path: Path) -> None:
    text = HtmlReport("t").add_json({"a": 1}).to_html()
    assert "plotly.js v" not in text
    block = re.search(r"<pre[^>]*>(.*?)</pre>", text, re.S).group(1)
    assert json.loads(html.unescape(block)) == {"a": 1}

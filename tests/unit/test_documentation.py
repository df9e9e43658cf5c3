"""The pieces documents are made of: intervals, calibration deciles, the renderers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from greenscore.data.spec import DatasetSpec
from greenscore.documentation import card
from greenscore.documentation.card import fold_interval
from greenscore.documentation.document import Document
from greenscore.documentation.performance import (
    auc_interval,
    calibration_table,
    model_performance,
)
from greenscore.documentation.run_files import RunFiles


def _scores(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.binomial(1, 0.25, n)
    p = 1 / (1 + np.exp(-(y * 1.2 + rng.normal(0, 1, n) - 1.5)))
    return y, p


def test_auc_interval_is_delong_around_the_auc() -> None:
    y, p = _scores()
    out = auc_interval(y, p)
    assert abs(out["auc"] - roc_auc_score(y, p)) < 1e-12
    low, high = out["auc_ci"]
    assert low < out["auc"] < high and high - low < 0.15
    assert abs(out["gini"] - (2 * out["auc"] - 1)) < 1e-12
    # A group with one class has no AUC; one with a handful of either has no interval.
    assert auc_interval(np.zeros(5), p[:5])["auc"] is None
    few = auc_interval(np.array([1, 0, 0, 0, 0, 0, 0, 0]), p[:8])
    assert few["auc"] is not None and few["auc_ci"] is None


def test_calibration_deciles_cover_every_row_in_pd_order() -> None:
    y, p = _scores()
    table = calibration_table(y, p)
    assert len(table) == 10 and sum(r["rows"] for r in table) == len(y)
    means = [r["mean_pd"] for r in table]
    assert means == sorted(means)
    assert abs(sum(r["observed_rate"] * r["rows"] for r in table) - y.sum()) < 1e-9


def test_performance_by_segment_and_protected_group() -> None:
    y, p = _scores(800)
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {"sex": rng.choice(["f", "m"], len(y)), "grade": rng.choice(list("ABC"), len(y))}
    )
    spec = DatasetSpec(target="t", protected=["sex"], categorical=["sex", "grade"])
    oof = p.copy()
    oof[:10] = np.nan  # never validated (time folds): left out
    out = model_performance(y, oof, frame, spec)
    assert out["overall"]["rows"] == 790
    assert set(out["segments"]) == {"grade"} and set(out["segments"]["grade"]) == set("ABC")
    groups = out["protected_groups"]["sex"]
    assert sum(g["rows"] for g in groups.values()) == 790


def test_fold_interval_widens_with_spread_and_needs_two_folds() -> None:
    low, high = fold_interval(0.75, 0.02, 5)  # type: ignore[misc]
    assert low < 0.75 < high and abs((high - low) / 2 - 2.776 * 0.02 / 5**0.5) < 1e-9
    assert fold_interval(0.75, 0.0, 1) is None


def test_fold_interval_stays_in_the_metrics_range() -> None:
    # Two folds (t = 12.7): the ECE of the tester's run went to [-0.153, 0.259].
    low, high = fold_interval(0.05266, 0.02, 2, metric="ece")  # type: ignore[misc]
    assert low == 0.0 and high == pytest.approx(0.05266 + 12.706 * 0.02 / 2**0.5)
    assert fold_interval(0.97, 0.02, 2, metric="auc")[1] == 1.0  # type: ignore[index]
    assert fold_interval(-0.9, 0.1, 2, metric="gini")[0] == -1.0  # type: ignore[index]
    for metric in ("ks", "brier", "pr_auc"):
        low, high = fold_interval(0.02, 0.05, 2, metric=metric)  # type: ignore[misc]
        assert low == 0.0 and high < 1.0
    # A figure with no known range keeps the plain interval.
    assert fold_interval(0.05, 0.02, 2)[0] < 0  # type: ignore[index]


def _run_files(tmp_path: Path, comparison: dict[str, float]) -> RunFiles:
    summary = {"n_folds": 2, "auc": 0.86, "auc_std": 0.01, "ece": 0.05266, "ece_std": 0.02}
    return RunFiles(
        run_dir=tmp_path,
        model_dir=tmp_path / "model",
        model="lightgbm",
        metrics={
            "models": {"scorecard": summary, "lightgbm": summary},
            "cv": {"folds": 2},
            "comparisons": {"scorecard_vs_lightgbm": comparison},
        },
        metadata={},
        spec=DatasetSpec(target="t"),
        performance=None,
        lineage=None,
    )


def test_performance_section_shows_the_pooled_aucs_beside_delong(tmp_path: Path) -> None:
    comparison = {"pooled_auc_a": 0.8591, "pooled_auc_b": 0.8599, "delong_z": -0.17}
    doc = Document("card")
    card._performance(doc, _run_files(tmp_path, {**comparison, "delong_p": 0.86}))
    md = doc.to_markdown()
    assert "| comparison | pooled OOF AUC a | pooled OOF AUC b | DeLong z | p |" in md
    assert "| scorecard_vs_lightgbm | 0.8591 | 0.8599 | -0.17 | 0.86 |" in md
    assert "| lightgbm | ece | 0.05266 | 0.02 | [0, 0.2323] |" in md
    # A run written before the pooled AUCs were kept had fold means there: not shown as
    # what the test compared.
    old = {"auc_a": 0.8596, "auc_b": 0.8637, "delong_z": -0.17, "delong_p": 0.86}
    doc = Document("card")
    card._performance(doc, _run_files(tmp_path, old))
    assert "| scorecard_vs_lightgbm | n/a | n/a | -0.17 | 0.86 |" in doc.to_markdown()


def test_document_renders_the_same_content_as_markdown_and_html() -> None:
    doc = Document("Card <x>").heading("Data").para("Hash `abc` & more")
    doc.table(["a", "b|c"], [[0.123456, None], [True, "x|y"]])
    md, page = doc.to_markdown(), doc.to_html()
    assert "| 0.1235 | n/a |" in md and "x\\|y" in md and "## Data" in md
    assert "<code>abc</code> &amp; more" in page and "<title>Card &lt;x&gt;</title>" in page
    assert "<td>0.1235</td><td>n/a</td>" in page

"""The HTML report of one train: model comparison, ROC/KS/calibration plots, score bands,
importances, the scorecard's information values, points table and removed characteristics,
and (when available) the fairness summary of the best model."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from greenscore.evaluation.report import HtmlReport
from greenscore.models.scorecard_export import SCORECARD_CSV, is_scorecard, points_table

if TYPE_CHECKING:
    from greenscore.data.loading import Dataset
    from greenscore.workflows.train import ModelResult


def _comparison_table(metrics: dict[str, Any]) -> pd.DataFrame:
    rows = []
    for name, m in metrics["models"].items():
        rows.append(
            {
                "model": name,
                "AUC": f"{m['auc']:.4f} ± {m['auc_std']:.4f}",
                "Gini": round(m["gini"], 4),
                "KS": round(m["ks"], 4),
                "Brier": round(m["brier"], 4),
                "PR-AUC": round(m["pr_auc"], 4),
                "ECE": round(m["ece"], 4),
                "fit s": round(m["fit_seconds"], 2),
                "kWh / fit": f"{m['energy_kwh']:.3g}",
                "kg CO2e / fit": f"{m['co2_kg']:.3g}",
                "kWh / 1k predictions": f"{m['energy_kwh_per_1k_predictions']:.3g}",
            }
        )
    return pd.DataFrame(rows)


def _points_display(table: pd.DataFrame) -> pd.DataFrame:
    """The points table for reading: shares as percentages, points to two decimals."""
    out = table.drop(columns=["lower", "upper"])
    out["count_share"] = out["count_share"].map(lambda v: f"{v:.1%}")
    out["bad_rate"] = out["bad_rate"].map(lambda v: f"{v:.1%}")
    for column in ("woe", "iv", "coefficient"):
        out[column] = out[column].map(lambda v: f"{v:.4f}")
    out["points"] = out["points"].map(lambda v: f"{v:.2f}")
    return out


def _scorecard_section(report: HtmlReport, name: str, estimator: Any) -> None:
    """The points table and the characteristics left out (with why) of a scorecard."""
    report.add_heading(f"Scorecard points — {name}")
    report.add_text(
        f"{estimator.base_score:g} points at odds {estimator.base_odds:g}:1 (good:bad), "
        f"{estimator.pdo:g} points to double the odds. An applicant's score is the sum of "
        "the points of their bin in each characteristic; a missing value scores the "
        "Missing bin's points (its own WoE when training had missing values, else neutral), "
        "as does a category not seen in training. The same table is saved beside the "
        f"model as {SCORECARD_CSV} and exported by `greenscore scorecard export`."
    )
    report.add_table(_points_display(points_table(estimator)))
    removed = estimator.removal_table()
    report.add_heading(f"Characteristics removed — {name}")
    if removed.empty:
        report.add_text("None: every binned characteristic is in the scorecard.")
        return
    report.add_text(
        "In the order the steps ran: IV screen, minimum IV, near-duplicates (WoE "
        "correlation; a derived feature gives way to the given column it restates), "
        "variance inflation, wrong-sign coefficients (removed one at a time, refitting "
        "after each; every kept coefficient is negative, as higher WoE means lower risk), "
        "then the cap on characteristics, with the signs checked again after it."
    )
    report.add_table(removed.fillna(""))


def write_train_report(
    path: Path, *, dataset: Dataset, results: dict[str, ModelResult], metrics: dict[str, Any]
) -> Path:
    """Write the self-contained report.html of a train."""
    from greenscore.evaluation.metrics import score_band_table
    from greenscore.evaluation.plots import (
        calibration_figure,
        importance_figure,
        iv_figure,
        ks_figure,
        roc_figure,
    )
    from greenscore.workflows.train import scored_rows

    scored = scored_rows(results)
    y = dataset.y[scored]
    oof = {name: r.oof[scored] for name, r in results.items()}
    best = metrics["best"]
    report = HtmlReport(f"GreenScore train — {dataset.spec.name}")
    report.add_text(
        f"{metrics['dataset']['rows']:,} rows, default rate {metrics['dataset']['default_rate']:.2%}, "
        f"{metrics['cv']['folds']}-fold {metrics['cv']['strategy']} cross-validation, seed "
        f"{metrics['cv']['seed']}. Best model by mean AUC: {best}. Energy method: "
        f"{next(iter(metrics['models'].values()))['energy_method']}."
    )
    report.add_heading("Model comparison")
    report.add_table(_comparison_table(metrics))
    if metrics["comparisons"]:
        report.add_heading("DeLong tests (out-of-fold predictions)")
        report.add_table(
            pd.DataFrame(
                [
                    {"pair": k, **{kk: v for kk, v in c.items() if kk != "test"}}
                    for k, c in metrics["comparisons"].items()
                ]
            )
        )
    curves = {name: (y, oof[name]) for name in results}
    report.add_heading("ROC")
    report.add_figure(roc_figure(curves))
    report.add_heading(f"KS — {best}")
    report.add_figure(ks_figure(y, oof[best]))
    report.add_heading("Calibration")
    report.add_figure(calibration_figure(curves))
    report.add_heading(f"Score bands — {best}")
    bundle = results[best].bundle
    report.add_table(score_band_table(y, oof[best], points=bundle.points(oof[best])))
    for name, result in results.items():
        estimator = result.bundle.estimator
        if hasattr(estimator, "feature_importance") and name != "scorecard":
            for kind in ("gain", "split"):
                imp = estimator.feature_importance(kind).head(25)
                report.add_heading(f"Feature importance ({kind}) — {name}")
                report.add_figure(
                    importance_figure(imp.rename_axis("feature").reset_index(name="importance"))
                )
        if hasattr(estimator, "iv_table"):
            report.add_heading(f"Information value — {name}")
            report.add_figure(iv_figure(estimator.iv_table()))
        if is_scorecard(estimator):
            _scorecard_section(report, name, estimator)
    fairness = metrics.get("fairness")
    if fairness:
        report.add_heading(f"Fairness — {best}")
        report.add_json(fairness)
    report.write(path)
    return path

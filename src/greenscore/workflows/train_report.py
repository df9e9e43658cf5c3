"""The HTML report of one train: model comparison, ROC/KS/calibration plots, score bands,
importances, the scorecard's information values, points table and removed characteristics,
LightGBM's monotone constraints, an ensemble's members, weights and cost against its gain,
the cut-off strategy of each model and (when available) the fairness of the best model's
out-of-fold decisions by protected group."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
import pandas as pd

from greenscore.evaluation.report import HtmlReport
from greenscore.models.scorecard_export import SCORECARD_CSV, is_scorecard, points_table

if TYPE_CHECKING:
    from greenscore.data.loading import Dataset
    from greenscore.workflows.train import ModelResult


def _pooled(comparison: dict[str, Any]) -> str:
    """The AUCs a DeLong test compared, for the sentence that gives its z (older runs
    recorded none)."""
    if "pooled_ensemble_auc" not in comparison:
        return ""
    return (
        f" (pooled AUC {comparison['pooled_ensemble_auc']:.4f} against "
        f"{comparison['pooled_best_member_auc']:.4f})"
    )


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


class _Cutoffs(TypedDict):
    """The model's cut-offs, as the strategy tables take them."""

    approve_below: float
    decline_above: float


def _pct(value: float | None) -> str:
    return "" if value is None or pd.isna(value) else f"{value:.1%}"


def _strategy_section(
    report: HtmlReport, y: Any, oof: dict[str, Any], results: dict[str, ModelResult]
) -> None:
    """Per model: PD bands with cumulative approval / bad rates, and cut-off options."""
    from greenscore.evaluation.strategy import cutoff_options, strategy_table

    for name, result in results.items():
        scoring = result.bundle.scoring
        cuts = _Cutoffs(approve_below=scoring.approve_below, decline_above=scoring.decline_above)
        bands = strategy_table(y, oof[name], **cuts)
        for column in ("bad rate", "approval rate", "bad rate among approved", "defaults declined"):
            bands[column] = bands[column].map(_pct)
        for column in ("PD from", "PD to"):
            bands[column] = bands[column].map(lambda v: f"{v:.4f}")
        bands["defaults approved per 100 applicants"] = bands[
            "defaults approved per 100 applicants"
        ].map(lambda v: f"{v:.1f}")
        report.add_heading(f"Cut-off strategy — {name}")
        report.add_text(
            "Out-of-fold PDs in equal-count bands, safest first. The cumulative columns say "
            "what approving every applicant up to the top of the band would give; "
            "'defaults approved per 100 applicants' is the loss proxy. Current cut-offs: "
            f"approve below {scoring.approve_below:g}, decline above {scoring.decline_above:g} "
            "(marked in the band that holds them; set them with the train options or "
            "scoring settings)."
        )
        report.add_table(bands)
        options = cutoff_options(y, oof[name], **cuts)
        for column in (
            "approval rate",
            "bad rate among approved",
            "defaults declined",
            "repayers declined",
        ):
            options[column] = options[column].map(_pct)
        options["PD cut-off"] = options["PD cut-off"].map(
            lambda v: "none reaches it" if v is None or pd.isna(v) else f"{v:.4f}"
        )
        options["defaults approved per 100 applicants"] = options[
            "defaults approved per 100 applicants"
        ].map(lambda v: "" if pd.isna(v) else f"{v:.1f}")
        report.add_heading(f"Suggested cut-offs — {name}", level=3)
        report.add_table(options)


def _monotone_section(report: HtmlReport, name: str, estimator: Any) -> None:
    """The directions LightGBM was held to, and where each came from."""
    constraints = getattr(estimator, "monotone_constraints_", None)
    if constraints is None:
        return
    report.add_heading(f"Monotone constraints — {name}")
    released = getattr(estimator, "monotone_released_", None)
    if released is not None:
        report.add_text(
            f"Inferred directions released: {', '.join(released['features'])}. Each was clear "
            "on its own, but held together they cost "
            f"{released['auc_cost']:.4f} validation AUC (more than the tolerance), so the "
            "model is free along them; declare a direction in the spec to hold one anyway."
        )
    if not constraints:
        report.add_text("None: no feature had a declared or clear direction of risk.")
        return
    report.add_text(
        "Risk is held to rise (or fall) with each feature below. 'spec': declared in the "
        "dataset spec (monotone). 'inferred': clear in the training rows (Spearman rho with "
        "default and the trend of decile default rates); declare a direction in the spec to "
        "override one, or list it with the other sign."
    )
    report.add_table(
        pd.DataFrame(
            [
                {
                    "feature": feature,
                    "risk": "rises with the value"
                    if c["direction"] > 0
                    else "falls with the value",
                    "source": c["source"],
                    "Spearman rho": "" if c["rho"] is None else f"{c['rho']:+.3f}",
                    "decile trend": "" if c["trend"] is None else f"{c['trend']:+.2f}",
                }
                for feature, c in constraints.items()
            ]
        )
    )


def _constraint_section(report: HtmlReport, constrained: dict[str, dict[str, Any]]) -> None:
    """Per constrained model: the method its constraint used, the gap before and after on
    the training rows' out-of-fold decisions, and, in words, whether it reads the group."""
    report.add_heading("Fairness constraint")
    for name, done in constrained.items():
        gap = done["constraint"].replace("_", " ")
        text = (
            f"{name}: {gap} on {done['attribute']}, at most {done['max_gap']:.3f} at the "
            f"decline cut-off {done['cut']:.3f}. Method: {done['method']}; gap on the "
            f"training rows' out-of-fold decisions {done['gap_before']:.4f} before, "
            f"{done['gap_after']:.4f} after"
            + ("." if done["met"] else ", above the limit: the constraint was not met.")
        )
        if done["reads_group_at_decision"]:
            shifts = ", ".join(f"{g} {v:+.3f}" for g, v in done["shifts"].items())
            text += (
                f" The model reads {done['attribute']} when it decides (log-odds shifts: "
                f"{shifts}): disparate treatment under ECOA / Regulation B, which "
                "`greenscore compliance` fails. Reweighing, which does not read the group, is "
                "chosen whenever it meets the limit."
            )
        report.add_text(text)


def _fairness_section(report: HtmlReport, best: str, fairness: dict[str, Any]) -> None:
    """One table per protected attribute (group, n, approval rate, ratio, AUC, gaps, verdict)."""
    from greenscore.fairness.metrics import MIN_GROUP
    from greenscore.fairness.tables import attribute_summary, group_table

    report.add_heading(f"Fairness — {best}")
    report.add_text(
        f"Decisions: {fairness.get('decisions', 'not stated')}. Favourable outcome: "
        f"{fairness['favourable_outcome']}; {fairness['convention']}. Each group is compared "
        "with the reference group (the most approved one); groups under "
        f"{MIN_GROUP} applicants are too few to judge."
    )
    for attribute, result in fairness["attributes"].items():
        report.add_heading(attribute, level=3)
        report.add_text(attribute_summary(attribute, result))
        report.add_table(group_table(result))


def fewer_folds(folds: int | None, outer_folds: int | None) -> str:
    """`` (k of n folds)`` after a member's AUC when a budget cut left it fewer outer folds
    than the ensemble (its AUC is their mean only); empty otherwise or when unknown."""
    if outer_folds and folds is not None and folds < outer_folds:
        return f" ({folds} of {outer_folds} folds)"
    return ""


def _member_auc(member: dict[str, Any], outer_folds: int | None) -> str:
    """A member's mean outer-fold AUC, saying so when a budget cut left it fewer folds."""
    if member["auc"] is None:
        return ""
    text = f"{member['auc']:.4f} ± {member['auc_std']:.4f}"
    return text + fewer_folds(member.get("folds"), outer_folds)


def _ensemble_section(report: HtmlReport, section: dict[str, Any]) -> None:
    """Members, weights, per-member AUC on the ensemble's folds, DeLong ensemble vs its best
    member, energy against AUC gained, members dropped or approximated, and the auto plan."""
    report.add_heading("Ensemble")
    scores = section.get("combiner_scores") or {}
    chosen = f"Combined by {section['method']}"
    if scores:
        chosen += " (held-out AUC of each combiner: " + ", ".join(
            f"{k} {v:.4f}" for k, v in scores.items()
        )
        chosen += ")"
    report.add_text(
        f"{chosen}, in log-odds: a reason code's contribution is the weighted sum of the "
        "members' contributions to that feature. Member AUCs are on the ensemble's own outer "
        "folds (each fold's members never saw its validation rows)."
    )
    report.add_table(
        pd.DataFrame(
            [
                {
                    "member": name,
                    "weight": f"{m['weight']:.3f}",
                    "AUC": _member_auc(m, section.get("outer_folds")),
                    "inner out-of-fold AUC": ""
                    if m.get("inner_oof_auc") is None
                    else f"{m['inner_oof_auc']:.4f}",
                    "exact contributions": "yes" if m["exact_contributions"] else "approximate",
                    "in final model": "yes" if m.get("in_final_model", True) else "no",
                    "fit s (all fits)": m["fit_seconds"],
                    "kWh (all fits)": f"{m['energy_kwh']:.3g}",
                }
                for name, m in section["members"].items()
            ]
        )
    )
    left_out = [n for n, m in section["members"].items() if not m.get("in_final_model", True)]
    if left_out:
        report.add_text(
            "Cut by the time budget before the final fit, so in the cross-validated figures "
            "but not in the model that is served: " + ", ".join(left_out) + "."
        )
    comparison = section.get("comparison") or {}
    if "best_member" in comparison:
        extra = comparison.get("extra_kwh_per_0.001_auc")
        report.add_text(
            f"Ensemble AUC {comparison['ensemble_auc']:.4f} against its best member "
            f"({comparison['best_member']}) {comparison['best_member_auc']:.4f}: a gain of "
            f"{comparison['auc_gain']:+.4f} (means over the folds); DeLong z "
            f"{comparison['delong_z']:.2f}, p {comparison['delong_p']:.3g} on the pooled "
            f"out-of-fold predictions, same folds and rows{_pooled(comparison)}. Energy: "
            f"{comparison['ensemble_energy_kwh']:.3g} kWh for all the "
            f"ensemble's fits against {comparison['best_member_energy_kwh']:.3g} kWh for its "
            "best member's"
            + (
                f", {extra:.3g} kWh more per 0.001 AUC gained."
                if extra is not None
                else "; no AUC was gained for the extra energy."
            )
        )
    if section.get("inexact_members"):
        report.add_text(
            "Members without exact contributions (explained by an approximation): "
            + ", ".join(section["inexact_members"])
            + "."
        )
    if section.get("dropped"):
        report.add_heading("Members dropped", level=3)
        report.add_table(
            pd.DataFrame([{"member": k, "reason": v} for k, v in section["dropped"].items()])
        )
    plan = section.get("plan")
    if plan:
        report.add_heading("Auto plan", level=3)
        budget = plan.get("budget_s")
        report.add_text(
            f"Budget {'none' if budget is None else f'{budget:,.0f} s'}; probing the "
            f"candidates took {plan['probe_s']:,.0f} s; the planned fits and tuning, "
            f"{plan['planned_s']:,.0f} s (estimated from the probes, on this machine)."
        )
        rows = [
            {
                "member": name,
                "planned": "yes",
                "tuning trials": plan["trials"].get(name, 0),
                "estimated s": plan["estimates"].get(name, ""),
                "why skipped": "",
            }
            for name in plan["members"]
        ]
        rows += [
            {
                "member": name,
                "planned": "no",
                "tuning trials": 0,
                "estimated s": plan["estimates"].get(name, ""),
                "why skipped": reason,
            }
            for name, reason in plan["skipped"].items()
        ]
        report.add_table(pd.DataFrame(rows))
        if plan.get("cut"):
            report.add_text(
                "Cut during the run, after an outer fold measured the pace (the rest would "
                "not have fitted the budget):"
            )
            report.add_table(
                pd.DataFrame([{"cut": what, "why": why} for what, why in plan["cut"].items()])
            )


def write_train_report(
    path: Path,
    *,
    dataset: Dataset,
    results: dict[str, ModelResult],
    metrics: dict[str, Any],
    scored: np.ndarray,
) -> Path:
    """Write the self-contained report.html of a train (``scored``: the rows every model
    predicted out of fold)."""
    from greenscore.evaluation.metrics import score_band_table
    from greenscore.evaluation.plots import (
        calibration_figure,
        importance_figure,
        iv_figure,
        ks_figure,
        roc_figure,
    )

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
    if metrics.get("ensemble"):
        _ensemble_section(report, metrics["ensemble"])
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
        _monotone_section(report, name, estimator)
    _strategy_section(report, y, oof, results)
    if metrics.get("fairness_constraint"):
        _constraint_section(report, metrics["fairness_constraint"])
    fairness = metrics.get("fairness")
    if fairness:
        _fairness_section(report, best, fairness)
    report.write(path)
    return path

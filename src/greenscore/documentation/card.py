"""The model card of a train run (Mitchell et al., *Model Cards for Model Reporting*),
generated from the run's files: never a hand-written figure.

Sections: model details, intended use and out-of-scope uses, data, features and their
sources, performance with confidence intervals (overall, by segment, by protected group),
calibration, fairness and mitigations, explanations, energy and CO2, limitations,
monitoring plan, lineage and approvals. Facts only a person knows (owner, approvals, extra
limitations) come from the run's ``card.yaml``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from greenscore.config import get_settings
from greenscore.documentation.document import Document, cell
from greenscore.documentation.run_files import FACTS_FILE, RunFiles, open_run

CARD_STEM = "model_card"
#: Metrics of the performance table, in metrics.json's names.
PERFORMANCE_KEYS = ("auc", "gini", "ks", "brier", "pr_auc", "ece")
#: The values each performance metric can take (Gini = 2 AUC - 1; KS, Brier, ECE and PR
#: AUC are probabilities or differences of them): its interval is clamped to this.
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "auc": (0.0, 1.0),
    "gini": (-1.0, 1.0),
    "ks": (0.0, 1.0),
    "brier": (0.0, 1.0),
    "pr_auc": (0.0, 1.0),
    "ece": (0.0, 1.0),
}
#: Groups smaller than this are named as a limitation.
SMALL_GROUP = 50
#: Two-sided 97.5 % Student-t quantiles by degrees of freedom (folds - 1).
_T975 = {
    1: 12.706,
    2: 4.303,
    3: 3.182,
    4: 2.776,
    5: 2.571,
    6: 2.447,
    7: 2.365,
    8: 2.306,
    9: 2.262,
    10: 2.228,
    11: 2.201,
    12: 2.179,
    13: 2.160,
    14: 2.145,
    15: 2.131,
    16: 2.120,
    17: 2.110,
    18: 2.101,
    19: 2.093,
}

DEFAULT_USE = (
    "Estimate the probability of default (PD) of a consumer credit applicant drawn from the "
    "same population and product as the training data, to approve, decline or refer an "
    "application at the cut-offs stored in the model, with adverse-action reasons for each "
    "decline. Decisions stay under the lender's credit policy and human review."
)
DEFAULT_OUT_OF_SCOPE = [
    "applicants, products or markets unlike the training data (other countries, business "
    "lending, mortgages unless trained on them)",
    "pricing, collections, marketing or employment decisions",
    "fully automated decisions without the review band and the right to contest",
    "any use of the protected attributes to decide (they are measured for fairness only)",
]


def fold_interval(
    mean: float, std: float, folds: int, *, metric: str | None = None
) -> tuple[float, float] | None:
    """95 % Student-t interval of a cross-validated mean from its fold spread.

    With few folds the t quantile is large (12.7 for two), so ``mean ± half`` can leave
    the values the metric can take: an ECE below 0, an AUC above 1. Such an end says
    nothing the metric's bound does not, and reads as an error in a model document, so
    the interval of a metric named in :data:`METRIC_RANGES` is clamped to its range.
    """
    if folds < 2 or not (math.isfinite(mean) and math.isfinite(std)):
        return None
    half = _T975.get(folds - 1, 1.96) * std / math.sqrt(folds)
    low, high = METRIC_RANGES.get(metric or "", (-math.inf, math.inf))
    return max(low, mean - half), min(high, mean + half)


def _ci(pair: Any) -> str:
    return f"[{cell(pair[0])}, {cell(pair[1])}]" if pair else "n/a"


def _details(doc: Document, run: RunFiles) -> None:
    meta, metrics = run.metadata, run.metrics
    tracking = metrics.get("tracking") or {}
    doc.heading("Model details")
    doc.table(
        ["field", "value"],
        [
            ["model", run.model],
            ["served model of the run", metrics.get("best")],
            ["content id", meta.get("content_id")],
            ["GreenScore version", meta.get("greenscore_version")],
            ["run folder", f"`{run.run_dir}`"],
            ["MLflow run", tracking.get("run_id")],
            ["registered as", _registered(tracking)],
            ["owner", run.facts.get("owner") or "not recorded (card.yaml)"],
        ],
    )


def _registered(tracking: dict[str, Any]) -> str | None:
    reg = tracking.get("registered")
    return f"models:/{reg['name']}/{reg['version']}" if reg else None


def _use(doc: Document, run: RunFiles) -> None:
    doc.heading("Intended use")
    doc.para(run.facts.get("intended_use") or DEFAULT_USE)
    doc.heading("Out-of-scope uses")
    doc.bullets([*DEFAULT_OUT_OF_SCOPE, *(run.facts.get("out_of_scope") or [])])


def _data(doc: Document, run: RunFiles) -> None:
    data, cv = run.metrics.get("dataset", {}), run.metrics.get("cv", {})
    doc.heading("Data")
    doc.table(
        ["field", "value"],
        [
            ["location", data.get("location")],
            ["SHA-256", f"`{data.get('sha256')}`"],
            ["rows", data.get("rows")],
            ["default rate", data.get("default_rate")],
            ["spec", f"{data.get('spec')} (`{run.model_dir / 'spec.yaml'}`)"],
            ["target", f"`{run.spec.target}` (default = {run.spec.positive_label})"],
            [
                "validation",
                f"{cv.get('folds')}-fold {cv.get('strategy')} cross-validation, "
                f"seed {cv.get('seed')}",
            ],
        ],
    )
    doc.para(
        "The dataset's datasheet: `greenscore datasheet --data LOCATION` with the same spec "
        "(generated from the spec and a profile of the data)."
    )


def _features(doc: Document, run: RunFiles) -> None:
    spec = run.spec
    columns = list(run.metadata.get("training_ranges") or {})
    groups = {c: g.name for g in spec.sequences for c in g.columns}
    location = run.metrics.get("dataset", {}).get("location")
    rows = []
    for column in columns:
        kind = "categorical" if column in spec.categorical else "numeric"
        source = f"{location}, monthly history `{groups[column]}`" if column in groups else location
        rows.append([f"`{column}`", kind, spec.describe(column), source])
    doc.heading("Features and their sources")
    doc.para(
        f"{len(rows)} input columns; derived features are built from them inside each "
        "cross-validation fold by the model's feature pipeline."
    )
    doc.table(["column", "type", "meaning", "source"], rows)
    excluded = [
        ("protected (measured for fairness only)", spec.protected),
        ("personal data (never features)", spec.pii),
        ("dropped", spec.drop),
    ]
    doc.bullets(
        [f"{what}: " + (", ".join(f"`{c}`" for c in cols) or "none") for what, cols in excluded]
    )


def _performance(doc: Document, run: RunFiles) -> None:
    models = run.metrics.get("models", {})
    doc.heading("Performance")
    cv = run.metrics.get("cv", {})
    doc.para(
        f"Cross-validated means over {cv.get('folds')} folds (metrics.json) with the fold "
        "standard deviation and a 95 % Student-t interval of the mean, cut to the values "
        "the metric can take. Lower is better for Brier and ECE."
    )
    rows = []
    for name, summary in models.items():
        folds = int(summary.get("n_folds", cv.get("folds") or 0))
        for key in PERFORMANCE_KEYS:
            if key not in summary:
                continue
            std = summary.get(f"{key}_std", float("nan"))
            interval = fold_interval(summary[key], std, folds, metric=key)
            rows.append([name, key, summary[key], std, _ci(interval)])
    doc.table(["model", "metric", "mean", "std", "95 % interval"], rows)
    comparisons = run.metrics.get("comparisons") or {}
    if comparisons:
        doc.para(
            "DeLong test of each pair of models on the pooled out-of-fold predictions, beside "
            "the pooled out-of-fold AUCs it compared (they differ from the fold means above)."
        )
        # Runs written before the pooled AUCs were recorded held the fold means here, which
        # the test did not compare: shown as n/a rather than under the wrong label.
        doc.table(
            ["comparison", "pooled OOF AUC a", "pooled OOF AUC b", "DeLong z", "p"],
            [
                [k, v.get("pooled_auc_a"), v.get("pooled_auc_b"), v["delong_z"], v["delong_p"]]
                for k, v in comparisons.items()
            ],
        )
    perf = (run.performance or {}).get("models", {}).get(run.model)
    if perf is None:
        doc.para("No performance.json for this model: segment and group figures not available.")
        return
    overall = perf["overall"]
    doc.heading("Pooled out-of-fold AUC, by segment and by protected group", 3)
    doc.para(f"{run.performance.get('interval')} (performance.json), on {overall['rows']} rows.")  # type: ignore[union-attr]
    rows = [
        [
            "all",
            "all",
            overall["rows"],
            overall["default_rate"],
            overall["auc"],
            _ci(overall["auc_ci"]),
            overall["gini"],
        ]
    ]
    for kind, table in (("segment", perf["segments"]), ("protected", perf["protected_groups"])):
        for column, levels in table.items():
            for level, g in levels.items():
                rows.append(
                    [
                        f"{kind} `{column}`",
                        level,
                        g["rows"],
                        g["default_rate"],
                        g["auc"],
                        _ci(g["auc_ci"]),
                        g["gini"],
                    ]
                )
    doc.table(["group", "level", "rows", "default rate", "AUC", "95 % interval", "Gini"], rows)


def _calibration(doc: Document, run: RunFiles) -> None:
    summary = run.summary
    doc.heading("Calibration")
    calibration = run.metrics.get("calibration", {}).get(run.model)
    if calibration:
        tried = ", ".join(f"{m} {cell(v)}" for m, v in calibration["log_loss"].items())
        method = (
            f"{calibration['method']} (the bundle's last step, a monotone map: ranking and "
            f"reasons unchanged), {calibration['chosen_by']}"
            + (f" (log loss: {tried})" if tried else "")
            + f", fitted on {calibration['rows']} rows scored by {calibration['fitted_on']}"
        )
    elif run.model == "scorecard":
        method = "none (a scorecard's points map to PD through its own logistic scaling)"
    else:
        method = "a monotone map fitted on inner folds (the bundle's last step)"
    doc.para(
        f"Expected calibration error {cell(summary.get('ece'))} (std {cell(summary.get('ece_std'))}), "
        f"Brier {cell(summary.get('brier'))}. Calibration method: {method}."
    )
    perf = (run.performance or {}).get("models", {}).get(run.model)
    if perf:
        doc.table(
            ["PD decile", "rows", "PD from", "PD to", "mean PD", "observed default rate"],
            [
                [r["decile"], r["rows"], r["pd_from"], r["pd_to"], r["mean_pd"], r["observed_rate"]]
                for r in perf["calibration"]
            ],
        )


def _fairness(doc: Document, run: RunFiles) -> None:
    fairness = run.metrics.get("fairness")
    doc.heading("Fairness")
    if not fairness:
        doc.para("No protected attribute in the data: fairness was not measured.")
    else:
        doc.para(
            f"Model `{fairness.get('model')}`; favourable outcome: {fairness.get('favourable_outcome')}; "
            f"decisions: {fairness.get('decisions')}. Intervals: {fairness.get('bootstrap', {}).get('resamples')} "
            "bootstrap resamples (metrics.json)."
        )
        rows = []
        for attr, a in fairness.get("attributes", {}).items():
            ci = a.get("ci", {})
            rows.append(
                [
                    f"`{attr}`",
                    a.get("demographic_parity_difference"),
                    _ci(ci.get("demographic_parity_difference")),
                    a.get("demographic_parity_ratio"),
                    a.get("equalized_odds_difference"),
                    _ci(ci.get("equalized_odds_difference")),
                    a.get("four_fifths_rule"),
                    "; ".join(a.get("flag_reasons") or []) or "none",
                ]
            )
        doc.table(
            [
                "attribute",
                "parity gap",
                "95 % interval",
                "parity ratio",
                "odds gap",
                "95 % interval",
                "four-fifths",
                "flags",
            ],
            rows,
        )
    cv = run.metrics.get("cv", {})
    mitigations = list(run.facts.get("mitigations") or [])
    if cv.get("fairness_constraint"):
        mitigations.insert(
            0, f"trained under `{cv['fairness_constraint']}` with max gap {cv.get('max_gap')}"
        )
    doc.heading("Mitigations", 3)
    doc.bullets(
        mitigations
        or [
            "none applied in training; `greenscore fairness --mitigate all` measures the "
            "available mitigations before and after on this model"
        ]
    )


def _explanations(doc: Document, run: RunFiles) -> None:
    table = run.metadata.get("reason_codes") or {}
    doc.heading("Explanations")
    doc.para(
        "Adverse-action reasons (ECOA / Regulation B): the features that raised the "
        "applicant's log-odds of default most, from exact contributions on the scoring "
        "runtime's matrix (TreeSHAP for tree models, the additive terms of a scorecard or "
        "linear model), cited only on the side of typical where risk is higher and never a "
        f"protected attribute. Reason-code table version {table.get('version', 'n/a')}, "
        f"{len(table.get('groups', {}))} features with codes, stored in the bundle. "
        "`greenscore explain` adds SHAP summaries, LIME and DiCE counterfactuals."
    )


def _energy(doc: Document, run: RunFiles) -> None:
    doc.heading("Energy and CO2")
    rows = []
    for name, s in run.metrics.get("models", {}).items():
        rows.append(
            [
                name,
                s.get("energy_kwh"),
                s.get("co2_kg"),
                s.get("final_energy_kwh"),
                s.get("tuning_trials"),
                s.get("tuning_kwh"),
                s.get("total_energy_kwh"),
                s.get("total_co2_kg"),
                s.get("energy_kwh_per_1k_predictions"),
            ]
        )
    doc.table(
        [
            "model",
            "kWh per CV fit",
            "kg CO2e per CV fit",
            "kWh final fit",
            "tuning trials",
            "tuning kWh",
            "total kWh",
            "total kg CO2e",
            "kWh per 1k predictions",
        ],
        rows,
    )
    energy = run.metrics.get("energy", {})
    doc.para(
        f"Run total {cell(energy.get('total_kwh'))} kWh, of which tuning "
        f"{cell(energy.get('tuning_kwh'))} kWh; includes {energy.get('includes', 'n/a')}. "
        f"Method: {run.summary.get('energy_method', 'n/a')}. CO2e is kWh times the grid "
        "intensity named in the energy readings (location-based)."
    )


def limitations(run: RunFiles) -> list[str]:
    """Limitations the run's own figures show, then those a person added."""
    out: list[str] = []
    data, cv = run.metrics.get("dataset", {}), run.metrics.get("cv", {})
    out.append(
        f"Trained and validated on {data.get('rows')} rows of one dataset "
        f"({data.get('location')}); performance elsewhere is unknown until monitored."
    )
    if cv.get("strategy") != "time":
        out.append(
            "Stratified cross-validation does not measure performance on later "
            "applications; population drift is watched by monitoring."
        )
    perf = (run.performance or {}).get("models", {}).get(run.model) or {}
    for column, levels in (perf.get("protected_groups") or {}).items():
        small = [lvl for lvl, g in levels.items() if g["rows"] < SMALL_GROUP]
        if small:
            out.append(
                f"Protected groups of `{column}` with fewer than {SMALL_GROUP} rows "
                f"({', '.join(small)}): their figures are uncertain."
            )
    for attr, a in ((run.metrics.get("fairness") or {}).get("attributes") or {}).items():
        if a.get("flagged"):
            out.append(f"Fairness flag on `{attr}`: {'; '.join(a.get('flag_reasons') or [])}.")
    return out + list(run.facts.get("limitations") or [])


def _monitoring(doc: Document) -> None:
    m = get_settings().monitoring
    doc.heading("Monitoring plan")
    doc.bullets(
        [
            f"Score and feature drift: `greenscore monitor` (PSI/CSI: below {m.psi_watch} stable, "
            f"{m.psi_watch}-{m.psi_act} watch, above {m.psi_act} act), data quality (missing "
            f"share rise {m.missing_rate_increase}, out of range {m.out_of_range_share}).",
            f"Outcomes: AUC, Gini, KS, Brier and calibration per vintage with {m.bootstrap_samples}-"
            f"resample bootstrap intervals; an AUC drop of {m.auc_drop} below the baseline alerts "
            f"and files a retraining job (triggers: {', '.join(m.retrain_on)}).",
            f"Challengers replace the champion only when better by DeLong at p < {m.challenger_alpha} "
            "(`greenscore retrain run-pending`).",
            "Fairness: `greenscore fairness` and `greenscore compliance` on each new vintage; "
            "energy and carbon against budgets (`greenscore carbon budget list`).",
            "Alerts and their runbooks: docs/runbooks/ (drift, error budget, carbon budget).",
        ]
    )


def _lineage(doc: Document, run: RunFiles) -> None:
    lineage = run.lineage or {}
    env = lineage.get("environment") or {}
    audit = lineage.get("audit_at_training") or {}
    doc.heading("Lineage")
    doc.table(
        ["field", "value"],
        [
            ["data SHA-256", f"`{run.metrics.get('dataset', {}).get('sha256')}`"],
            ["seed", run.metadata.get("seed", run.metrics.get("cv", {}).get("seed"))],
            [
                "code version",
                f"GreenScore {env.get('greenscore_version', run.metadata.get('greenscore_version'))}, "
                f"git {env.get('git_commit') or 'unknown'}"
                + (" (uncommitted changes)" if env.get("git_dirty") else ""),
            ],
            ["Python", f"{env.get('python', 'n/a')} on {env.get('platform', 'n/a')}"],
            ["trained", lineage.get("created", "n/a")],
            [
                "audit log at training",
                f"{audit.get('entries')} entries, head `{audit.get('head_hash')}`"
                if audit
                else "n/a",
            ],
        ],
    )
    packages = env.get("packages") or {}
    if packages:
        doc.table(["package", "version"], [[k, v] for k, v in packages.items()])


def _approvals(doc: Document, run: RunFiles) -> None:
    doc.heading("Approvals")
    approvals = run.facts.get("approvals") or []
    if not approvals:
        doc.para(
            f"None recorded. Reviewers add theirs to `{run.run_dir / FACTS_FILE}` and "
            "regenerate the card."
        )
        return
    doc.table(
        ["role", "name", "date", "decision"],
        [[a.get("role"), a.get("name"), a.get("date"), a.get("decision")] for a in approvals],
    )


def build_card(run: RunFiles) -> Document:
    """The model card of ``run``'s model as a document."""
    doc = Document(f"Model card: {run.model} ({run.metrics.get('dataset', {}).get('spec')})")
    doc.para(
        f"Generated by `greenscore card` from the files of `{run.run_dir}`; regenerate it "
        "rather than edit it."
    )
    _details(doc, run)
    _use(doc, run)
    _data(doc, run)
    _features(doc, run)
    _performance(doc, run)
    _calibration(doc, run)
    _fairness(doc, run)
    _explanations(doc, run)
    _energy(doc, run)
    doc.heading("Limitations")
    doc.bullets(limitations(run))
    _monitoring(doc)
    _lineage(doc, run)
    _approvals(doc, run)
    return doc


def write_card(model: str | Path, out: Path | None = None) -> list[Path]:
    """Write ``model_card.md`` and ``model_card.html`` for ``model`` (default: its run folder)."""
    run = open_run(model, create_facts=True)
    return build_card(run).write(out or run.run_dir, CARD_STEM)

"""The federated WoE scorecard, server side: bins, selection and the logistic fit.

Mirrors :class:`greenscore.models.scorecard.WoEScorecardClassifier` step by step, with
every pass over rows replaced by a federation-wide weighted mean (plain, or SecAgg+ when
the plan says so), and its parameters:

1. **candidate splits**: the federation's quantiles (every 2 %) of each numeric
   characteristic, from two rounds of shares below thresholds (a signed-log grid, then a
   linear refinement inside the bracketing cells);
2. **histograms**: (non-default, default) counts per candidate bin or level, Missing
   apart; optbinning's optimal binning (same ``max_n_bins``, ``min_bin_size`` and
   monotonic trend as the central scorecard) runs on them with the candidates as
   ``user_splits``: one weighted pseudo-row per (bin, class) carries the bin's count, so
   optbinning sees exactly the pooled histogram;
3. **screening**: minimum IV, the ``max_features`` highest IVs;
4. **near-duplicates and VIF** on the federation's WoE correlation matrix (aggregated
   cross-products; GreenScore's own selection code reads it through a small matrix with
   that exact correlation);
5. **logistic regression** by federated Newton steps (gradient and Hessian are means over
   rows; L2 strength ``C`` as scikit-learn's), dropping wrong-sign characteristics and
   capping their number as the central scorecard does.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pandas as pd

from greenscore.config import get_settings
from greenscore.data.spec import DatasetSpec
from greenscore.errors import ModelError
from greenscore.federated.aggregate import weighted_mean
from greenscore.federated.metering import MeteredGrid
from greenscore.federated.monitor import auc_from_histograms
from greenscore.federated.plan import FederationPlan
from greenscore.federated.schema import schema_frame
from greenscore.federated.scorecard_model import FederatedScorecardClassifier, WoeMap, _key
from greenscore.federated.shared import SharedState, shared_pipeline
from greenscore.logging import get_logger
from greenscore.models.scorecard_selection import (
    Removal,
    below_min_iv,
    cap_by_iv,
    choose_characteristics,
    removal_frame,
    worst_wrong_sign,
)

log = get_logger(__name__)

#: The central scorecard's defaults (WoEScorecardClassifier), so both fit the same model.
MAX_N_BINS, MIN_BIN_SIZE, MIN_IV_CUT, C, MAX_FEATURES = 8, 0.03, 0.01, 1.0, 40
MONOTONIC, MAX_CORRELATION, MAX_VIF = "auto_asc_desc", 0.8, 10.0
QUANTILES = np.arange(1, 50) / 50.0
GRID = np.sign(np.linspace(-24, 24, 481)) * np.expm1(np.abs(np.linspace(-24, 24, 481)))
REFINE = 9
#: SecAgg+ ranges: shares lie in [0, 1]; WoE products and Newton terms stay well inside 32.
CLIP_SHARES, CLIP_MOMENTS = 1.0, 32.0
ERR_NO_CHARACTERISTIC = "no characteristic reached the minimum IV {min_iv} in the federation"


class _Federation:
    """The server's handle on the lenders for one scorecard fit."""

    def __init__(
        self, grid: MeteredGrid, plan: FederationPlan, state: SharedState, nodes: list[int]
    ) -> None:
        self.grid, self.plan, self.nodes = grid, plan, nodes
        self.state_json = state.to_json()
        self.max_rows = float(max(state.schema.rows.values()))
        self.calls = 0

    def mean(self, task: str, config: dict[str, Any], *, clip: float) -> tuple[np.ndarray, int]:
        self.calls += 1
        self.grid.phase = f"scorecard-{task}"
        result = weighted_mean(
            self.grid,
            self.nodes,
            action="scorecard",
            task=task,
            config={"state": self.state_json, **config},
            secure=self.plan.secagg,
            clip=clip,
            max_weight=self.max_rows,
            timeout=self.plan.round_timeout,
            round_id=self.calls,
        )
        return np.asarray(result.vectors[0], dtype=float), int(result.rows)


def _quantile_splits(fed: _Federation, numeric: list[str]) -> dict[str, list[float]]:
    """Candidate splits: federation quantiles of every numeric characteristic."""
    grid = {c: GRID.tolist() for c in numeric}
    coarse, _ = fed.mean("sc-cdf", {"thresholds": json.dumps(grid)}, clip=CLIP_SHARES)
    refine: dict[str, list[float]] = {}
    brackets: dict[str, np.ndarray] = {}
    at = 0
    for column in numeric:
        shares = coarse[at : at + len(GRID)]
        missing = coarse[at + len(GRID)]
        at += len(GRID) + 1
        cdf = shares / max(1.0 - missing, 1e-12)
        points: set[float] = set()
        for q in QUANTILES:
            k = int(np.searchsorted(cdf, q, side="left"))
            lo = GRID[max(k - 1, 0)]
            hi = GRID[min(k, len(GRID) - 1)]
            points.update(np.linspace(lo, hi, REFINE).tolist())
        brackets[column] = np.asarray(sorted(points))
        refine[column] = brackets[column].tolist()
    fine, _ = fed.mean("sc-cdf", {"thresholds": json.dumps(refine)}, clip=CLIP_SHARES)
    splits: dict[str, list[float]] = {}
    at = 0
    for column in numeric:
        bracket = brackets[column]
        shares = fine[at : at + len(bracket)]
        missing = fine[at + len(bracket)]
        at += len(bracket) + 1
        cdf = np.maximum.accumulate(shares / max(1.0 - missing, 1e-12))
        found = []
        for q in QUANTILES:
            k = int(np.searchsorted(cdf, q - 1e-9, side="left"))
            if k < len(bracket):
                found.append(float(bracket[k]))
        # A split s makes bins (.., s) and [s, ..): a quantile that is an observed value
        # (integer codes, zero balances) starts the upper bin, as optbinning's splits do.
        splits[column] = sorted({float(v) for v in np.round(found, 10) if np.isfinite(v)})
    return splits


def _fit_binning(
    name: str, counts: np.ndarray, *, categorical: bool, splits: list[float], levels: list[str]
) -> WoeMap:
    """optbinning's optimal binning on a pooled histogram (one weighted pseudo-row per
    bin and class)."""
    from optbinning import OptimalBinning

    pairs = counts.reshape(-1, 2)
    values: list[Any] = []
    classes: list[int] = []
    weights: list[float] = []
    if categorical:
        representatives: list[Any] = [*levels, np.nan]
    else:
        edges = [-np.inf, *splits, np.inf]
        representatives = []
        for lo, hi in zip(edges[:-1], edges[1:], strict=True):
            if np.isfinite(lo) and np.isfinite(hi):
                representatives.append((lo + hi) / 2)
            else:
                representatives.append(hi - 1.0 if np.isfinite(hi) else lo + 1.0)
        representatives.append(np.nan)
    for value, (good, bad) in zip(representatives, pairs, strict=True):
        for label, count in ((0, good), (1, bad)):
            if count > 0.5:
                values.append(value)
                classes.append(label)
                weights.append(float(round(count)))
    binning = OptimalBinning(
        name=name,
        dtype="categorical" if categorical else "numerical",
        max_n_bins=MAX_N_BINS,
        min_bin_size=MIN_BIN_SIZE,
        monotonic_trend=None if categorical else MONOTONIC,
        user_splits=None if categorical or not splits else np.asarray(splits, dtype=float),
    )
    x = np.asarray(values, dtype=object if categorical else float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        binning.fit(x, np.asarray(classes), sample_weight=np.asarray(weights))
        table = binning.binning_table.build()
    n_bins = len(binning.splits) + (0 if categorical else 1)
    body = table.iloc[:n_bins]
    # optbinning's table: the bins, then Special, then Missing, then Totals.
    missing = table.iloc[n_bins + 1]
    return WoeMap(
        name=name,
        categorical=categorical,
        splits=[] if categorical else [float(s) for s in binning.splits],
        levels=[[str(v) for v in group] for group in binning.splits] if categorical else [],
        woe=[float(w) for w in body["WoE"]],
        missing_woe=float(missing["WoE"]),
        counts=[*map(float, body["Count"]), float(missing["Count"])],
        bads=[*map(float, body["Event"]), float(missing["Event"])],
        iv=float(table.loc["Totals", "IV"])
        if "Totals" in table.index
        else float(table["IV"].sum()),
    )


def _newton(
    fed: _Federation,
    maps: dict[str, WoeMap],
    columns: list[str],
    rows: int,
    *,
    start: np.ndarray | None = None,
    tol: float = 1e-7,
    max_iter: int = 30,
) -> np.ndarray:
    """Federated Newton steps for L2-penalised logistic regression on WoE (intercept free),
    from ``start`` (intercept first) when given: refits after dropping one characteristic
    start from the previous solution and need a few steps, not a dozen."""
    p = len(columns)
    beta = np.zeros(p + 1) if start is None else np.asarray(start, dtype=float)
    penalty = np.diag([0.0, *([1.0] * p)])
    payload = {
        "maps": json.dumps({c: maps[c].to_dict() for c in columns}),
        "columns": json.dumps(columns),
    }
    for _ in range(max_iter):
        terms, _n = fed.mean(
            "sc-newton", {**payload, "beta": json.dumps(beta.tolist())}, clip=CLIP_MOMENTS
        )
        gradient = C * rows * terms[: p + 1] - penalty @ beta
        hessian = C * rows * terms[p + 1 : p + 1 + (p + 1) ** 2].reshape(p + 1, p + 1) + penalty
        step = np.linalg.solve(hessian, gradient)
        beta = beta + step
        if np.max(np.abs(step)) < tol:
            break
    return beta


def _surrogate(mean: np.ndarray, second: np.ndarray, names: list[str]) -> pd.DataFrame:
    """A 2p-row frame whose column covariance is the federation's WoE covariance.

    GreenScore's selection steps (near-duplicates, VIF) read only correlations, so they
    run unchanged on it: rows ``+-sqrt(p * lambda_k) v_k`` of the covariance's eigenpairs.
    """
    cov = second - np.outer(mean, mean)
    cov = (cov + cov.T) / 2
    values, vectors = np.linalg.eigh(cov)
    values = np.clip(values, 0.0, None)
    p = len(names)
    half = (np.sqrt(p * values)[:, None] * vectors.T) if p else np.zeros((0, 0))
    return pd.DataFrame(np.vstack([half, -half]), columns=names)


def run_scorecard(
    grid: MeteredGrid,
    plan: FederationPlan,
    spec: DatasetSpec,
    state: SharedState,
    result: Any,
    nodes: list[int],
) -> Any:
    """Fit the federated scorecard and return its bundle (see the module docstring)."""
    from greenscore.federated.bundle_out import federated_bundle

    state_json = state.to_json()
    pipeline = shared_pipeline(state_json, spec)
    frame = pipeline.transform(schema_frame(state.schema, spec))
    names = [str(c) for c in frame.columns]
    categorical = [
        c
        for c in names
        if not pd.api.types.is_numeric_dtype(frame[c])
        or isinstance(frame[c].dtype, pd.CategoricalDtype)
    ]
    numeric = [c for c in names if c not in categorical]
    vocab = {c: sorted({_key(v) for v in frame[c].dropna().astype(object)}) for c in categorical}
    fed = _Federation(grid, plan, state, nodes)

    splits = _quantile_splits(fed, numeric)
    counts, rows = fed.mean(
        "sc-hist", {"splits": json.dumps(splits), "vocab": json.dumps(vocab)}, clip=CLIP_SHARES
    )
    counts = counts * rows
    maps: dict[str, WoeMap] = {}
    at = 0
    for column in numeric:
        size = 2 * (len(splits[column]) + 2)
        maps[column] = _fit_binning(
            column, counts[at : at + size], categorical=False, splits=splits[column], levels=[]
        )
        at += size
    for column in categorical:
        size = 2 * (len(vocab[column]) + 1)
        maps[column] = _fit_binning(
            column, counts[at : at + size], categorical=True, splits=[], levels=vocab[column]
        )
        at += size

    iv = pd.Series({c: m.iv for c, m in maps.items()})
    removals: list[Removal] = below_min_iv(iv, MIN_IV_CUT)
    passed = [c for c in names if iv[c] >= MIN_IV_CUT]
    if not passed:
        raise ModelError(ERR_NO_CHARACTERISTIC.format(min_iv=MIN_IV_CUT))
    passed, screened = cap_by_iv(passed, iv, MAX_FEATURES)
    removals += [Removal(r.characteristic, "iv screen", r.reason, None, r.value) for r in screened]

    payload = {
        "maps": json.dumps({c: maps[c].to_dict() for c in passed}),
        "columns": json.dumps(passed),
    }
    moments, _ = fed.mean("sc-woe", payload, clip=CLIP_MOMENTS)
    p = len(passed)
    mean, second = moments[:p], moments[p:].reshape(p, p)
    given = set(spec.feature_columns())
    kept, dropped = choose_characteristics(
        _surrogate(mean, second, passed),
        iv[passed],
        derived={c for c in passed if c not in given},
        max_correlation=MAX_CORRELATION,
        max_vif=MAX_VIF,
    )
    removals += dropped

    last: dict[str, float] = {}

    def fit(columns: list[str]) -> np.ndarray:
        start = None
        if last:
            start = np.asarray([last["(intercept)"], *(last.get(c, 0.0) for c in columns)])
        beta = _newton(fed, maps, columns, rows, start=start)
        last.clear()
        last.update(
            {"(intercept)": float(beta[0]), **dict(zip(columns, beta[1:].tolist(), strict=True))}
        )
        return beta

    kept, beta = _right_signs(kept, removals, fit)
    cap = get_settings().training.scorecard_characteristics
    kept, capped = cap_by_iv(kept, iv, cap)
    if capped:
        removals += capped
        kept, beta = _right_signs(kept, removals, fit)

    model = FederatedScorecardClassifier(
        base_score=get_settings().scoring.base_score,
        base_odds=get_settings().scoring.base_odds,
        pdo=get_settings().scoring.pdo,
    )
    model.scorecard_ = maps
    model.selected_ = [c for c in names if c in kept]
    order = [kept.index(c) for c in model.selected_]
    model.intercept_ = float(beta[0])
    model.coef_ = beta[1:][order]
    model.woe_mean_ = np.asarray([mean[passed.index(c)] for c in model.selected_])
    model.removed_ = removal_frame(removals)
    model.feature_names_in_ = np.asarray(names, dtype=object)
    model.n_features_in_ = len(names)
    model.classes_ = np.array([0, 1])

    beta_eval = [model.intercept_, *model.coef_.tolist()]
    eval_payload = {
        "maps": json.dumps({c: maps[c].to_dict() for c in model.selected_}),
        "columns": json.dumps(model.selected_),
        "beta": json.dumps(beta_eval),
    }
    hist, val_rows = fed.mean("sc-eval", eval_payload, clip=CLIP_SHARES)
    hist = hist * val_rows
    half = len(hist) // 2
    auc = auc_from_histograms(hist[:half], hist[half:]) if half else float("nan")
    result.best_val_auc = auc
    result.extra["scorecard"] = {
        "characteristics": model.selected_,
        "federated_steps": fed.calls,
        "removed": len(removals),
        "val_auc": auc,
    }
    log.info(
        "federated scorecard fitted",
        extra={"characteristics": len(model.selected_), "steps": fed.calls},
    )
    return federated_bundle(
        pipeline_features=pipeline,
        estimator=model,
        spec=spec,
        name="federated-scorecard",
        levels=state.schema.levels,
        metadata={"metrics": {"val_auc": auc}},
    )


def _right_signs(
    kept: list[str], removals: list[Removal], fit: Any
) -> tuple[list[str], np.ndarray]:
    """Drop the worst wrong-sign characteristic and refit until every sign is right."""
    kept = list(kept)
    while kept:
        beta = fit(kept)
        wrong = worst_wrong_sign(kept, beta[1:])
        if wrong is None:
            return kept, beta
        removals.append(wrong)
        kept.remove(wrong.characteristic)
    raise ModelError(ERR_NO_CHARACTERISTIC.format(min_iv=MIN_IV_CUT))

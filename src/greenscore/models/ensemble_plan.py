"""``--models auto --time-budget``: which members and how many tuning trials fit the budget.

Nothing here is guessed from a table of typical speeds. :func:`probe_members` fits every
candidate member once on a sample of the training rows (after the feature pipeline), as
many as the planned fits have up to :data:`PROBE_ROWS`, and times it on this machine, as
loaded as it is now; a member that fails there (a net on 200 rows, say) is left out with
its error. :func:`plan_auto` then extrapolates each probe to
the fits the run will make — one per inner fold of every outer fold and of the final
model, plus each one's refit on all its rows (not a net's or a forest's: they are served
as bags) — keeps the candidates in order of value while they fit, spends what is left on
tuning trials (one trial costs a fit on the tuner's inner rows), and says what it
skipped and why. A share of the budget is held back for what is not a member fit
(features, reason codes, energy per prediction, fairness, the report).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from greenscore.errors import ConfigError
from greenscore.logging import get_logger
from greenscore.models.ensemble_bag import inner_folds, served_as_bag

log = get_logger(__name__)

#: Share of the budget held back for work that is not a member fit.
RESERVE = 0.2
#: Rows of the untimed warm-up fit before each probe.
WARM_ROWS = 100
#: Share of the budget the probes may take before the members left are skipped unprobed.
PROBE_SHARE = 0.15
#: Fit time grows a little faster than the rows (more rows, more boosting rounds).
GROWTH = 1.15
#: Rows of the probe sample: those of the planned fits (up to :data:`PROBE_ROWS`), or a
#: fifth of the data when they are not known; at least this many.
MIN_PROBE_ROWS = 500
#: Most rows a probe fits. Up to this the probe is a planned fit itself: extrapolating from
#: a fifth of Taiwan's rows priced its fits at 1.3-3x what they took (CatBoost 12.9 s
#: against 5.6 s, the one-hot logistic 37 s against 14 s), as fit time grows more slowly
#: than the rows there; beyond it (large data) the probe is extrapolated.
PROBE_ROWS = 20_000
#: Members kept whatever the budget: the scorecard is the fallback served beside the ensemble.
ALWAYS = ("scorecard",)
#: Models whose tuning the budget pays for first.
TUNE_ORDER = ("lightgbm", "catboost", "xgboost", "logistic", "logistic_woe", "dnn")
DURATION = "time budget must look like 20m, 90s, 1.5h or a number of seconds, not '{text}'"
TOO_SMALL = (
    "--time-budget {budget:,.0f} s is too small for this data on this machine now: probing "
    "took {spent:,.0f} s and the {name} fallback alone needs about {cost:,.0f} s of fits, with "
    "{reserve:.0%} of the budget held back for the rest of the job; give at least "
    "--time-budget {least}m"
)


@dataclass
class MemberProbe:
    """One timed fit of a candidate member on the probe sample."""

    name: str
    rows: int
    seconds: float
    error: str | None = None
    #: Refitted on all rows after its inner folds (every member but a net or a forest, which is
    #: served as the bag of its fold models).
    refitted: bool = True


@dataclass
class AutoPlan:
    """What ``auto`` will train, and why.

    Attributes
    ----------
    members : the ensemble's members, in order of value.
    trials : tuning trials of each tuned member (per study; one study per outer fold and
        one for the final model).
    skipped : member -> why it was left out.
    estimates : member -> estimated seconds of its fits (and of its tuning, ``name:tuning``).
    budget_s : the whole budget, seconds.
    probe_s : seconds spent probing.
    planned_s : estimated seconds of the member fits and tuning planned.
    probes : the probe fits.
    probe_kwh, probe_co2_kg : what the probe fits cost, when metered.
    """

    members: list[str]
    trials: dict[str, int]
    skipped: dict[str, str]
    estimates: dict[str, float]
    budget_s: float | None
    probe_s: float
    planned_s: float
    probes: list[MemberProbe] = field(default_factory=list)
    #: Members or tunings cut while running, when the folds were slower than planned.
    cut: dict[str, str] = field(default_factory=dict)
    #: Energy and carbon of the probe fits (set by whoever metered them; NaN if not).
    probe_kwh: float = float("nan")
    probe_co2_kg: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return asdict(self)


def parse_duration(text: str | float | int) -> float:
    """Seconds of a duration written ``20m``, ``90s``, ``1.5h`` or a plain number of seconds.

    Raises
    ------
    ConfigError
        If the text is not such a duration, or not positive.
    """
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        raw = str(text).strip().lower()
        units = {"s": 1.0, "m": 60.0, "h": 3600.0}
        factor = units.get(raw[-1:], None)
        number = raw[:-1] if factor is not None else raw
        try:
            seconds = float(number) * (factor or 1.0)
        except ValueError:
            raise ConfigError(DURATION.format(text=text)) from None
    if not np.isfinite(seconds) or seconds <= 0:
        raise ConfigError(DURATION.format(text=text))
    return seconds


def _inner(rows: float) -> tuple[int, float]:
    """The inner folds an ensemble makes of ``rows`` and the rows each inner fit has."""
    k = inner_folds(int(rows))
    return k, rows * (k - 1) / k


def fit_rows(n_rows: int, outer_folds: int) -> int:
    """Rows of a member's typical fit in a train: one inner fold's training share of an
    outer fold's training rows (what the probes are extrapolated to)."""
    return int(_inner(n_rows * (outer_folds - 1) / outer_folds)[1])


def _probed_like(model: Any, *, probe_rows: int, planned_rows: int | None) -> Any:
    """The model set to take, on the probe's rows, the branch its planned fits will take.

    The boosters find their round count by an internal k-fold CV below ``cv_below`` rows
    and by one held-out slice above it: several times the work per row. A probe on a
    fifth of Taiwan's rows (6,000) took LightGBM's CV branch while every planned fit
    (16,000-20,000 rows) takes the slice: it priced a 16,000-row fit at 28 s, which took
    4 s, and the plan left half the budget unspent.
    """
    params = model.get_params(deep=False)
    if planned_rows is None or "cv_below" not in params:
        return model
    if planned_rows >= params["cv_below"]:
        return model.set_params(cv_below=0)
    return model.set_params(cv_below=max(params["cv_below"], probe_rows + 1))


def probe_members(
    names: list[str],
    X: pd.DataFrame,  # noqa: N803
    y: np.ndarray,
    *,
    spec: Any,
    relations: pd.DataFrame | None = None,
    seed: int = 0,
    rows: int | None = None,
    planned_rows: int | None = None,
    stop_at: float | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> list[MemberProbe]:
    """Fit each member once on a stratified sample of feature rows and time it.

    ``planned_rows``: rows of the fits the probes will price (:func:`fit_rows`); the
    probe fits that many rows (at most :data:`PROBE_ROWS`; ``rows`` overrides), and a
    member whose fit changes method with its rows is probed with the method those fits
    will use. A member that raises is reported with its error (and
    will not be planned). Once ``clock()`` has passed ``stop_at`` the members left (never
    the fallback) are not probed: their probe's seconds are NaN and the plan skips them,
    saying why.
    """
    from greenscore.models.registry import make_estimator

    y = np.asarray(y).astype(int)
    if rows is None:
        wanted = len(y) // 5 if planned_rows is None else min(planned_rows, PROBE_ROWS)
        rows = max(MIN_PROBE_ROWS, wanted)
    size = min(rows, len(y))
    if size < len(y):
        sample, _ = train_test_split(
            np.arange(len(y)), train_size=size, stratify=y, random_state=seed
        )
    else:
        sample = np.arange(len(y))
    X_probe, y_probe = X.iloc[np.sort(sample)], y[np.sort(sample)]  # noqa: N806
    warm = np.arange(len(y_probe))
    if len(warm) > WARM_ROWS:
        warm, _ = train_test_split(warm, train_size=WARM_ROWS, stratify=y_probe, random_state=seed)
        warm = np.sort(warm)
    out = []

    def made(name: str) -> Any:
        model = make_estimator(name, spec=spec, relations=relations, seed=seed)
        return _probed_like(model, probe_rows=len(y_probe), planned_rows=planned_rows)

    for name in names:
        if stop_at is not None and name not in ALWAYS and clock() > stop_at:
            out.append(MemberProbe(name, len(y_probe), float("nan")))
            continue
        error = None
        try:
            # An untimed warm-up fit on a few rows first: the first fit of a model pays its
            # libraries' imports and set-up once (the scorecard's first fit on 500 German
            # rows took 16 s, its second 7.5 s), which no later fit repeats.
            made(name).fit(X_probe.iloc[warm], y_probe[warm])
        except Exception:  # noqa: BLE001, S110 - the timed fit below reports the error
            pass
        started = time.perf_counter()
        try:
            model = made(name)
            model.fit(X_probe, y_probe)
            model.predict_proba(X_probe.iloc[:10])
        except Exception as exc:  # noqa: BLE001 - a member that cannot fit is skipped, named
            error = f"{type(exc).__name__}: {exc}"
        seconds = time.perf_counter() - started
        out.append(MemberProbe(name, len(y_probe), seconds, error, not served_as_bag(model)))
        log.info("probed member", extra={"member": name, "seconds": out[-1].seconds})
    return out


def _fit_seconds(probe: MemberProbe, rows: float) -> float:
    return probe.seconds * max(rows / probe.rows, 1e-3) ** GROWTH


def member_cost(probe: MemberProbe, *, n_rows: int, outer_folds: int) -> float:
    """Seconds of every fit of one member in a train: per outer fold (and for the final
    model) one fit per inner fold, and a refit on all the fold's rows (not for a net or
    a forest, served as the bag of its fold models)."""
    total = 0.0
    for rows, times in ((n_rows * (outer_folds - 1) / outer_folds, outer_folds), (n_rows, 1)):
        k, inner_rows = _inner(rows)
        fits = k * _fit_seconds(probe, inner_rows)
        if probe.refitted:
            fits += _fit_seconds(probe, rows)
        total += times * fits
    return total


def trial_cost(probe: MemberProbe, *, n_rows: int, outer_folds: int) -> float:
    """Seconds of one tuning trial in every study (each outer fold's and the final one)."""
    rows = n_rows * (outer_folds - 1) / outer_folds
    # The tuner scores a trial on 3 inner folds below 5,000 rows, else on one 80 % slice.
    fits, share = (3, 2 / 3) if rows < 5_000 else (1, 0.8)
    return (outer_folds + 1) * fits * _fit_seconds(probe, rows * share)


def plan_auto(
    probes: list[MemberProbe],
    *,
    n_rows: int,
    budget_s: float | None,
    outer_folds: int,
    spent_s: float = 0.0,
    tune_trials: int | None = None,
    max_trials: int = 20,
    tunable: set[str] | frozenset[str] = frozenset(),
) -> AutoPlan:
    """Choose members (in the probes' order of value) and trials that fit the budget.

    Parameters
    ----------
    probes : from :func:`probe_members`, most valuable member first.
    n_rows : rows of the data.
    budget_s : seconds for the whole train; None: no limit (every member that fitted).
    outer_folds : the outer CV's folds (the ensemble's inner folds follow the rows).
    spent_s : seconds already spent (the probes, loading).
    tune_trials : trials per tuned member asked for explicitly (None: as the budget allows,
        at most ``max_trials``).
    tunable : models with a search space.

    Raises
    ------
    ConfigError
        If the budget cannot pay for the scorecard fallback's fits (after what was spent
        and the reserve): the run is refused before training, naming the least budget.
    """
    estimates: dict[str, float] = {}
    skipped: dict[str, str] = {}
    members: list[str] = []
    available = None if budget_s is None else budget_s * (1 - RESERVE) - spent_s
    # The fallback is paid for first, whatever its place in the order of value: a budget
    # it does not fit is refused before anything is trained, never overrun.
    for probe in sorted(probes, key=lambda p: p.name not in ALWAYS):
        if probe.name in ALWAYS and probe.error is None and budget_s is not None:
            cost = member_cost(probe, n_rows=n_rows, outer_folds=outer_folds)
            if available is None or cost > available:
                raise ConfigError(
                    TOO_SMALL.format(
                        budget=budget_s,
                        name=probe.name,
                        cost=cost,
                        spent=spent_s,
                        reserve=RESERVE,
                        least=math.ceil((spent_s + cost) / (1 - RESERVE) / 60),
                    )
                )
    for probe in sorted(probes, key=lambda p: p.name not in ALWAYS):
        if probe.error is not None:
            skipped[probe.name] = f"failed on a {probe.rows}-row probe: {probe.error}"
            continue
        if probe.seconds != probe.seconds:  # NaN: never probed, the budget was spent
            skipped[probe.name] = "not probed: probing had spent the budget's share for it"
            continue
        cost = member_cost(probe, n_rows=n_rows, outer_folds=outer_folds)
        estimates[probe.name] = round(cost, 1)
        if available is None or cost <= available or probe.name in ALWAYS:
            members.append(probe.name)
            if available is not None:
                available -= cost
        else:
            skipped[probe.name] = (
                f"its fits need about {cost:,.0f} s; {max(available, 0):,.0f} s of the "
                f"{budget_s:,.0f} s budget were left"
            )
    by_name = {p.name: p for p in probes}
    tuned = [n for n in TUNE_ORDER if n in members and n in tunable]
    tuned += [n for n in members if n in tunable and n not in tuned]
    trials = {name: 0 for name in tuned}
    costs = {n: trial_cost(by_name[n], n_rows=n_rows, outer_folds=outer_folds) for n in tuned}
    if tune_trials is not None:
        trials = {name: tune_trials for name in tuned}
    elif available is None:
        trials = {name: max_trials for name in tuned}
    else:
        # Trials to each model in turn while the budget lasts: the first trials of a
        # search (the defaults, then the sampler's first guesses) pay most. A search starts
        # with two trials, since one alone is the defaults, no search at all: handing out
        # lone trials and dropping them afterwards left their budget unspent.
        progress = True
        while progress:
            progress = False
            for name in tuned:
                step = 1 if trials[name] else 2
                if trials[name] + step <= max_trials and step * costs[name] <= available:
                    trials[name] += step
                    available -= step * costs[name]
                    progress = True
    trials = {n: t for n, t in trials.items() if t > 0}
    for name, count in trials.items():
        estimates[f"{name}:tuning"] = round(count * costs[name], 1)
    planned = sum(v for k, v in estimates.items() if k in members or k.endswith(":tuning"))
    return AutoPlan(
        members=members,
        trials=trials,
        skipped=skipped,
        estimates=estimates,
        budget_s=budget_s,
        probe_s=round(spent_s, 1),
        planned_s=round(planned, 1),
        probes=probes,
    )

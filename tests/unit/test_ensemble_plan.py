"""``--models auto --time-budget``: the plan and the in-run guard keep to the budget.

No test here times anything: the probes' seconds are given, the clock is injected, and
the budgets are chosen clearly too small (or large enough) for a member, so the outcome
does not depend on how loaded the machine is.
"""

from __future__ import annotations

import numpy as np
import pytest

from greenscore.errors import ConfigError
from greenscore.models.ensemble_plan import (
    RESERVE,
    MemberProbe,
    member_cost,
    plan_auto,
    probe_members,
)
from greenscore.workflows.train_ensemble import final_fit_factor, keep_to_budget

ROWS, FOLDS = 1_000, 5


def _probes(**seconds: float) -> list[MemberProbe]:
    return [MemberProbe(name, 500, s) for name, s in seconds.items()]


def test_the_scorecard_fallback_is_counted_and_members_that_do_not_fit_are_skipped():
    probes = _probes(scorecard=1.0, lightgbm=0.5, catboost=20.0, logistic=0.2)
    costs = {p.name: member_cost(p, n_rows=ROWS, outer_folds=FOLDS) for p in probes}
    # Room for the scorecard, LightGBM and the logistic, not for CatBoost.
    budget = (costs["scorecard"] + costs["lightgbm"] + costs["logistic"] + 1.0) / (1 - RESERVE)
    assert costs["catboost"] > budget
    plan = plan_auto(probes, n_rows=ROWS, budget_s=budget, outer_folds=FOLDS)
    assert plan.members == ["scorecard", "lightgbm", "logistic"]
    assert "catboost" in plan.skipped and "budget" in plan.skipped["catboost"]
    # The fallback's fits are in the plan's estimate, which fits the budget's share.
    assert plan.estimates["scorecard"] == pytest.approx(costs["scorecard"], abs=0.1)
    assert plan.planned_s <= budget * (1 - RESERVE)


def test_a_budget_too_small_for_the_fallback_is_refused_naming_the_least_budget():
    probes = _probes(scorecard=5.0, lightgbm=0.5)
    cost = member_cost(probes[0], n_rows=ROWS, outer_folds=FOLDS)
    with pytest.raises(ConfigError, match=r"too small .* scorecard fallback .* at least"):
        plan_auto(probes, n_rows=ROWS, budget_s=cost / 2, outer_folds=FOLDS)
    # What was already spent (probing) counts too.
    with pytest.raises(ConfigError, match="too small"):
        plan_auto(probes, n_rows=ROWS, budget_s=cost * 2, outer_folds=FOLDS, spent_s=cost * 2)
    assert plan_auto(probes, n_rows=ROWS, budget_s=cost * 2, outer_folds=FOLDS).members[0] == (
        "scorecard"
    )


def test_failed_and_unprobed_members_are_skipped_with_their_reason():
    probes = [
        MemberProbe("scorecard", 500, 0.1),
        MemberProbe("dnn", 200, 0.3, error="ModelError: too few rows for this net"),
        MemberProbe("xgboost", 500, float("nan")),
    ]
    plan = plan_auto(probes, n_rows=ROWS, budget_s=3600, outer_folds=FOLDS)
    assert plan.members == ["scorecard"]
    assert "too few rows for this net" in plan.skipped["dnn"]
    assert "not probed" in plan.skipped["xgboost"]


def test_probing_stops_at_its_share_of_the_budget_but_always_probes_the_fallback():
    from greenscore.data.loading import encode_target, model_input
    from greenscore.data.presets import load_preset
    from greenscore.data.synthetic import generate
    from greenscore.features.pipeline import build_feature_pipeline

    spec = load_preset("synthetic")
    frame = generate(600, seed=3).applications
    y = encode_target(frame[spec.target], spec)
    X = build_feature_pipeline(spec).fit_transform(model_input(frame, spec), y)  # noqa: N806
    X = X[list(X.columns[:8])]  # noqa: N806
    ticks = iter([0.0, 100.0, 200.0, 300.0])
    probes = probe_members(
        ["logistic", "scorecard", "lightgbm"],
        X,
        y,
        spec=spec,
        stop_at=50.0,
        clock=lambda: next(ticks),
    )
    by_name = {p.name: p for p in probes}
    assert np.isfinite(by_name["logistic"].seconds)  # clock 0 < 50: probed
    assert np.isnan(by_name["lightgbm"].seconds)  # past the share: not probed
    assert np.isfinite(by_name["scorecard"].seconds)  # the fallback, whatever the clock
    assert by_name["logistic"].error is None and by_name["scorecard"].error is None


def test_a_run_behind_its_plan_cuts_tuning_then_the_least_valuable_members():
    members = ["scorecard", "lightgbm", "catboost", "xgboost"]
    seconds = {"scorecard": 10.0, "lightgbm": 5.0, "catboost": 40.0, "xgboost": 20.0}
    factor = final_fit_factor(FOLDS)
    common = {
        "member_seconds": seconds,
        "folds_done": 1,
        "folds_left": 4,
        "final_factor": factor,
    }
    trials = {"lightgbm": 5, "catboost": 5, "xgboost": 5}
    searches = {"lightgbm": 10.0, "catboost": 30.0, "xgboost": 6.0}
    need_fits = (4 + factor) * sum(seconds.values())
    # On pace: nothing cut.
    kept, kept_trials, cut = keep_to_budget(
        members, trials, tuning_seconds=searches, seconds_left=1e6, **common
    )
    assert (kept, kept_trials, cut) == (members, trials, {})
    # Behind by less than the last member's search: that search alone goes.
    left = need_fits + (4 + factor) * (10.0 + 30.0) + 1
    kept, kept_trials, cut = keep_to_budget(
        members, trials, tuning_seconds=searches, seconds_left=left, **common
    )
    assert kept == members and kept_trials == {"lightgbm": 5, "catboost": 5}
    assert set(cut) == {"xgboost:tuning"}
    # Behind by more than the searches together: every search goes, no member.
    kept, kept_trials, cut = keep_to_budget(
        members, trials, tuning_seconds=searches, seconds_left=need_fits + 1, **common
    )
    assert kept == members and kept_trials == {}
    assert set(cut) == {"lightgbm:tuning", "catboost:tuning", "xgboost:tuning"}
    # Far behind: members go from the end of the plan, never the scorecard.
    kept, kept_trials, cut = keep_to_budget(
        members, {}, tuning_seconds={}, seconds_left=(4 + factor) * 16.0, **common
    )
    assert kept == ["scorecard", "lightgbm"]
    assert set(cut) == {"catboost", "xgboost"}
    assert all("after outer fold 1" in reason for reason in cut.values())
    kept, _, _ = keep_to_budget(members, {}, tuning_seconds={}, seconds_left=-5.0, **common)
    assert kept == ["scorecard"]


def test_what_a_costly_cut_made_room_for_comes_back_most_valuable_first():
    """credit_risk seed 2: cutting from the end of the plan dropped four cheap members
    before CatBoost, whose drop alone would have done, and served LightGBM alone."""
    members = ["scorecard", "lightgbm", "catboost", "xgboost", "extratrees", "dnn"]
    seconds = {
        "scorecard": 2.0,
        "lightgbm": 5.0,
        "catboost": 130.0,
        "xgboost": 17.0,
        "extratrees": 9.0,
        "dnn": 11.0,
    }
    searches = {"lightgbm": 50.0, "catboost": 50.0, "xgboost": 13.0}
    factor = final_fit_factor(FOLDS)
    scale = 4 + factor
    kept, kept_trials, cut = keep_to_budget(
        members,
        {"lightgbm": 4, "catboost": 4, "xgboost": 4},
        member_seconds=seconds,
        tuning_seconds=searches,
        folds_done=1,
        folds_left=4,
        final_factor=factor,
        seconds_left=scale * 100.0,
    )
    # Fits without CatBoost: 44 s a fold; LightGBM's search (50) fits beside them, the
    # next one (XGBoost's 13) no longer does, and CatBoost's never did.
    assert kept == ["scorecard", "lightgbm", "xgboost", "extratrees", "dnn"]
    assert kept_trials == {"lightgbm": 4}
    assert set(cut) == {"catboost", "catboost:tuning", "xgboost:tuning"}


@pytest.mark.parametrize("name", ["lightgbm", "catboost", "xgboost"])
def test_a_booster_is_probed_by_the_method_its_planned_fits_will_use(name):
    """Below ``cv_below`` rows a booster stops by internal k-fold CV, above it on one
    held-out slice; a probe on a fifth of the rows must not price the planned fits, which
    have more rows, by the other method (Taiwan's LightGBM was priced at about 3x)."""
    from greenscore.data.presets import load_preset
    from greenscore.models.ensemble_plan import _probed_like
    from greenscore.models.registry import make_estimator

    spec = load_preset("synthetic")
    model = make_estimator(name, spec=spec)
    threshold = model.cv_below
    slice_ = _probed_like(model, probe_rows=threshold // 5, planned_rows=threshold * 2)
    assert slice_.cv_below <= threshold // 5  # the probe's rows take the held-out slice
    model = make_estimator(name, spec=spec)
    cv = _probed_like(model, probe_rows=threshold + 10, planned_rows=threshold - 1)
    assert cv.cv_below > threshold + 10  # the probe's rows take the k-fold CV, as planned


def test_a_lightgbm_probe_for_large_fits_runs_no_internal_cv(monkeypatch):
    import lightgbm

    from greenscore.data.loading import encode_target, model_input
    from greenscore.data.presets import load_preset
    from greenscore.data.synthetic import generate
    from greenscore.features.pipeline import build_feature_pipeline

    spec = load_preset("synthetic")
    frame = generate(600, seed=3).applications
    y = encode_target(frame[spec.target], spec)
    X = build_feature_pipeline(spec).fit_transform(model_input(frame, spec), y)  # noqa: N806

    def no_cv(*args, **kwargs):
        raise AssertionError("the probe took the k-fold CV branch")

    monkeypatch.setattr(lightgbm, "cv", no_cv)
    (probe,) = probe_members(["lightgbm"], X, y, spec=spec, planned_rows=20_000)
    assert probe.error is None and np.isfinite(probe.seconds)
    (probe,) = probe_members(["lightgbm"], X, y, spec=spec, planned_rows=600)
    assert "k-fold CV branch" in (probe.error or "")


def test_tuning_budget_goes_to_searches_of_two_trials_or_more_and_none_is_left_unspent():
    """A lone trial is the defaults, no search: the budget of three trials goes to one
    model's search of three, not to three lone trials that are then dropped."""
    from greenscore.models.ensemble_plan import trial_cost

    probes = _probes(scorecard=0.1, lightgbm=1.0, catboost=1.0, xgboost=1.0)
    members = sum(member_cost(p, n_rows=ROWS, outer_folds=FOLDS) for p in probes)
    trial = trial_cost(probes[1], n_rows=ROWS, outer_folds=FOLDS)
    budget = (members + 3.5 * trial) / (1 - RESERVE)
    plan = plan_auto(
        probes,
        n_rows=ROWS,
        budget_s=budget,
        outer_folds=FOLDS,
        tunable={"lightgbm", "catboost", "xgboost"},
    )
    assert plan.members == ["scorecard", "lightgbm", "catboost", "xgboost"]
    assert plan.trials == {"lightgbm": 3}
    assert plan.planned_s <= budget * (1 - RESERVE)
    # Room for two searches of two: each model in the tuning order gets one.
    budget = (members + 4.5 * trial) / (1 - RESERVE)
    plan = plan_auto(
        probes, n_rows=ROWS, budget_s=budget, outer_folds=FOLDS, tunable={"lightgbm", "catboost"}
    )
    assert plan.trials == {"lightgbm": 2, "catboost": 2}

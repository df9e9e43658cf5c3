"""Served models, reasons, A/B assignment and hot reload (no database involved)."""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np
import pytest
from serving_bundle import applicant, build_bundle, shared

from greenscore.config import ServingSettings
from greenscore.errors import ConfigError
from greenscore.explain.reason_codes import ReasonCoder
from greenscore.serving.model_store import ModelStore, ServedModel, parse_split


@pytest.fixture(scope="module")
def data():
    ds, bundle = shared()
    rows = [applicant(ds, i) for i in range(200)]
    ids = [r[ds.spec.id_column] for r in rows]
    return ds, bundle, rows, ids


def test_reasons_match_the_full_bundle_coder(data) -> None:
    ds, bundle, rows, ids = data
    # Training applicants, read in the graph as the coder reads them (by default a service
    # scores every applicant as new to it: serving.training_outcomes).
    served = ServedModel(bundle, uri="memory", max_reasons=4, training_outcomes="visible")
    assert served.runtime.mode == "lightgbm" and served.coder is not None
    results = served.score(rows[:40], ids[:40], explain=[True] * 40)
    expected = ReasonCoder.from_bundle(bundle, max_reasons=4).explain_batch(ds.X.iloc[:40])
    for got, want in zip(results, expected, strict=True):
        assert [r.code for r in got.reasons] == [r.code for r in want]
        np.testing.assert_allclose(
            [r.contribution for r in got.reasons], [r.contribution for r in want], rtol=1e-9
        )
        assert all(r.text for r in got.reasons)


def test_many_rows_explained_together_agree_with_row_by_row(data) -> None:
    """200 rows go through the batch coder, a lone row (a service's micro-batch) walks
    its ranking: the same reasons and sentences, the same figures but for the last bits a
    month-average takes from being summed in another order for one row than for many."""
    _, bundle, rows, ids = data
    served = ServedModel(bundle, uri="memory", max_reasons=4)
    many = served.score(rows, ids, explain=[True] * len(rows))
    few = [
        served.score([r], [i], explain=[True])[0] for r, i in zip(rows[:40], ids[:40], strict=True)
    ]
    assert sum(1 for r in few if r.reasons) > 20
    for a, b in zip(many[:40], few, strict=True):
        assert [(r.code, r.feature, r.text) for r in a.reasons] == [
            (r.code, r.feature, r.text) for r in b.reasons
        ]
        for x, y in zip(a.reasons, b.reasons, strict=True):
            assert x.contribution == pytest.approx(y.contribution, rel=1e-9)
            if isinstance(x.value, float):
                assert x.value == pytest.approx(y.value, rel=1e-9)
            else:
                assert x.value == y.value


def test_reasons_for_every_row_come_with_the_pd_and_equal_those_computed_after(data) -> None:
    """Every row explained: contributions come from the PD's pass over the trees; one row
    left out: they are computed after, for the rows owed them. Same answers, bit for bit."""
    _, bundle, rows, ids = data
    served = ServedModel(bundle, uri="memory", max_reasons=4)
    scored = served.runtime.score(rows, ids, contributions=True)
    assert scored.contributions is not None  # the fused path is taken for this model
    every = served.score(rows, ids, explain=[True] * len(rows))
    after = served.score(rows, ids, explain=[True] * (len(rows) - 1) + [False])
    assert every[:-1] == after[:-1]
    assert sum(1 for r in every if r.reasons) > len(rows) // 2


def test_decisions_follow_cutoffs_and_approvals_carry_no_reasons(data) -> None:
    _, bundle, rows, ids = data
    served = ServedModel(bundle, uri="memory", max_reasons=4)
    for result in served.score(rows, ids):
        p = result.probability_of_default
        s = bundle.scoring
        expected = (
            "approve" if p < s.approve_below else "decline" if p > s.decline_above else "review"
        )
        assert result.decision == expected
        assert (len(result.reasons) > 0) == (expected != "approve")
        assert result.score == round(float(bundle.points(np.array([p]))[0]), 1)


def test_split_parsing() -> None:
    assert parse_split("models:/m/1:0.9,models:/m/2:0.1") == [
        ("models:/m/1", 0.9),
        ("models:/m/2", 0.1),
    ]
    for bad in ("models:/m/1", "a:0", "a:-1,b:1", "a:x"):
        with pytest.raises(ConfigError, match="A/B split"):
            parse_split(bad)


def _store(bundles: dict) -> ModelStore:
    return ModelStore(ServingSettings(), loader=lambda uri: bundles[uri])


def test_ab_assignment_is_sticky_and_follows_weights(data) -> None:
    _, bundle, _, _ = data
    store = _store({"a": bundle, "b": bundle})
    deployment = store.load("", ab="a:0.8,b:0.2")
    picks = [deployment.choose(str(i)).label for i in range(4000)]
    assert all(deployment.choose(str(i)).label == picks[i] for i in range(200))
    share = picks.count("a") / len(picks)
    assert 0.76 < share < 0.84


def test_reload_swaps_atomically_and_refuses_broken_models(data) -> None:
    ds, bundle, rows, ids = data
    other = build_bundle(ds, n_estimators=20, seed=3, name="other")
    store = _store({"one": bundle, "two": other, "bad": "not a bundle"})
    first = store.load("one")
    seen = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.append(store.deployment.generation)

    reader = threading.Thread(target=read)
    reader.start()
    store.reload(model="two")
    status = store.wait_reload()
    stop.set()
    reader.join()
    assert status["state"] == "done" and store.deployment.primary.model.name == "other"
    assert set(seen) <= {first.generation, store.deployment.generation}
    before = store.deployment
    store.reload(model="bad")
    assert store.wait_reload()["state"] == "failed"
    assert store.deployment is before


def test_reload_refuses_different_inputs(data) -> None:
    ds, bundle, _, _ = data
    spec = ds.spec.model_copy(update={"drop": [*ds.spec.drop, "region"]})
    narrower = build_bundle(replace(ds, spec=spec), n_estimators=10, name="narrow")
    store = _store({"one": bundle, "narrow": narrower})
    store.load("one")
    store.reload(model="narrow")
    status = store.wait_reload()
    assert status["state"] == "failed" and "different input fields" in status["error"]


def test_folder_models_get_a_content_version(tmp_path, data) -> None:
    _, bundle, _, _ = data
    bundle.save(tmp_path / "m")
    store = ModelStore(ServingSettings())
    served = store.load(str(tmp_path / "m")).primary.model
    assert served.version.startswith("sha256:") and len(served.version) == 19
    assert store.load(str(tmp_path / "m")).primary.model is served  # cached in memory

"""What the API refuses of a caller's input, over the real app: each a 422 naming the field.

A number field takes a JSON number, null or numeric text, not a boolean, ``"1_000"``,
full-width digits or text a file would read as missing; a category or an applicant id is
at most ``MAX_TEXT`` characters; A/B weights are finite and so is their sum; the
dead-letter status is one of the listed ones; an outcome takes an integer applicant id as
``/v1/score`` does, and its loan cannot be granted after its outcome was observed.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from serving_bundle import applicant, quiet_app, shared  # noqa: E402

from greenscore.config import Settings, get_settings, use_settings  # noqa: E402
from greenscore.data.spec import DatasetSpec  # noqa: E402
from greenscore.errors import ConfigError  # noqa: E402
from greenscore.security import create_key, issue_token  # noqa: E402
from greenscore.serving.deployment import parse_split  # noqa: E402
from greenscore.serving.schemas import (  # noqa: E402
    FILE_ROWS,
    MAX_TEXT,
    ReloadRequest,
    applicant_model,
)

LATER = "2030-01-31T00:00:00+00:00"


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Any, dict]]:
    settings = Settings(home=tmp_path_factory.mktemp("strict"), environment="test")
    use_settings(settings)
    ds, bundle = shared()
    app = quiet_app(settings, bundle)
    admin = issue_token(subject="ops", role="admin", mfa=True, settings=get_settings())
    headers = {
        "scorer": {"X-API-Key": create_key(name="lender", role="scorer", settings=settings)[1]},
        "admin": {"Authorization": f"Bearer {admin}"},
    }
    with TestClient(app) as client:
        yield client, ds, headers
    use_settings(None)


def _only_error(r: Any) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    return error


# ------------------------------------------------------------------ number fields
@pytest.mark.parametrize(
    "value", [True, False, "1_000", "５００００", "nan", "NaN", "?", "missing", "", "inf"]
)
def test_a_boolean_or_odd_text_in_a_number_field_is_a_422_naming_it(api, value: Any) -> None:
    client, ds, headers = api
    r = client.post(
        "/v1/score", json=applicant(ds, 3) | {"income": value}, headers=headers["scorer"]
    )
    error = _only_error(r)
    assert error["loc"] == ["body", "income"]
    assert ("true or false" if isinstance(value, bool) else "is not a number") in error["msg"]


def test_numeric_text_and_null_are_still_read(api) -> None:
    client, ds, headers = api
    base = applicant(ds, 3)
    sent = client.post("/v1/score", json=base, headers=headers["scorer"]).json()
    as_text = base | {"income": str(base["income"])}
    r = client.post("/v1/score", json=as_text, headers=headers["scorer"])
    assert r.status_code == 200, r.text
    assert r.json()["probability_of_default"] == sent["probability_of_default"]
    r = client.post("/v1/score", json=base | {"income": None}, headers=headers["scorer"])
    assert r.status_code == 200, r.text


def test_a_boolean_in_a_batch_or_a_job_is_refused_naming_the_field(api) -> None:
    client, ds, headers = api
    bad = applicant(ds, 4) | {"loan_amount": True}
    r = client.post(
        "/v1/score/batch", json={"applicants": [applicant(ds, 5), bad]}, headers=headers["scorer"]
    )
    assert r.status_code == 200, r.text
    good, refused = r.json()["results"]
    assert good["status"] == 200 and refused["status"] == 422
    assert refused["error"]["detail"].startswith("field 'loan_amount': ")
    r = client.post("/v1/jobs", json={"records": [bad]}, headers=headers["scorer"])
    assert _only_error(r)["loc"] == ["body", "records", 0, "loan_amount"]


def test_a_files_rows_are_still_read_by_the_files_rules() -> None:
    spec = DatasetSpec(target="bad", numeric=["income"], missing_values={"income": ["UNK"]})
    model = applicant_model(spec, ["income"], categorical=set())

    def income(value: Any, **kwargs: Any) -> Any:
        return model.model_validate({"income": value}, **kwargs).model_dump(by_alias=True)["income"]

    for text in ("?", "nan", "UNK"):
        assert income(text, context=FILE_ROWS) is None
        with pytest.raises(ValidationError, match="is not a number"):
            income(text)
    assert income("52000", context=FILE_ROWS) == income("52000") == 52000.0


# ------------------------------------------------------------------ text fields
def test_an_overlong_category_or_id_is_a_422_naming_it(api) -> None:
    client, ds, headers = api
    long_region = applicant(ds, 6) | {"region": "x" * 200_000}
    error = _only_error(client.post("/v1/score", json=long_region, headers=headers["scorer"]))
    assert error["loc"] == ["body", "region"] and str(MAX_TEXT) in error["msg"]
    long_id = applicant(ds, 6) | {ds.spec.id_column: "1" * (MAX_TEXT + 1)}
    error = _only_error(client.post("/v1/score", json=long_id, headers=headers["scorer"]))
    assert error["loc"] == ["body", ds.spec.id_column] and str(MAX_TEXT) in error["msg"]
    at_limit = applicant(ds, 6) | {"region": "x" * MAX_TEXT}  # an unknown level: flagged
    assert client.post("/v1/score", json=at_limit, headers=headers["scorer"]).status_code == 200


def test_a_training_level_longer_than_the_limit_is_still_accepted() -> None:
    spec = DatasetSpec(target="bad", categorical=["grade"])
    level = "g" * (MAX_TEXT + 50)
    model = applicant_model(spec, ["grade"], categorical={"grade"}, levels={"grade": [level]})
    assert model.model_validate({"grade": level}).model_dump(by_alias=True) == {"grade": level}
    with pytest.raises(ValidationError, match="at most"):
        model.model_validate({"grade": level + "g"})


# ------------------------------------------------------------------ A/B weights
@pytest.mark.parametrize(
    ("split", "named"),
    [
        ("a:1e308,b:1e308", "add up to more than a float holds"),
        ("a:inf,b:1", "weight 'inf' of a"),
        ("a:1,b:nan", "weight 'nan' of b"),
        ("a:1_0,b:1", "weight '1_0' of a"),
        ("a:５,b:1", "weight '５' of a"),
    ],
)
def test_ab_weights_must_be_finite_and_so_must_their_sum(split: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named) as refused:
        parse_split(split)
    assert refused.value.exit_code == 2  # the CLI's `serve --ab`
    with pytest.raises(ValidationError, match=named) as invalid:
        ReloadRequest.model_validate({"ab": split})
    assert invalid.value.errors()[0]["loc"] == ("ab",)


def test_relative_weights_are_accepted() -> None:
    assert parse_split("a:0.5, b: 0.7") == [("a", 0.5), ("b", 0.7)]


def test_a_reload_with_overflowing_weights_is_a_422_and_starts_nothing(api) -> None:
    client, _, headers = api
    before = client.app.state.store.reload_status
    body = {"ab": "good:1e308,good:1e308"}
    r = client.post("/v1/admin/models/reload", json=body, headers=headers["admin"])
    error = _only_error(r)
    assert error["loc"] == ["body", "ab"] and "weights add up" in error["msg"]
    assert client.app.state.store.reload_status is before


# ------------------------------------------------------------------ dead letters
def test_an_unknown_dead_letter_status_is_a_422_naming_the_allowed_ones(api) -> None:
    client, _, headers = api
    r = client.get("/v1/admin/dead-letters", params={"status": "zzz"}, headers=headers["admin"])
    error = _only_error(r)
    assert error["loc"] == ["query", "status"]
    assert all(s in error["msg"] for s in ("'pending'", "'replayed'", "'failed'", "'all'"))
    for status in ("pending", "failed", "all", ""):
        r = client.get(
            "/v1/admin/dead-letters", params={"status": status}, headers=headers["admin"]
        )
        assert r.status_code == 200 and r.json() == [], r.text


# ------------------------------------------------------------------ outcomes
def test_an_outcome_takes_an_integer_applicant_id_as_score_does(api) -> None:
    client, ds, headers = api
    one = applicant(ds, 30)
    assert isinstance(one[ds.spec.id_column], int)
    r = client.post("/v1/score", json=one, headers=headers["scorer"])
    assert r.status_code == 200, r.text
    item = {"applicant_id": one[ds.spec.id_column], "defaulted": False, "observed_at": LATER}
    r = client.post("/v1/outcomes", json={"items": [item]}, headers=headers["scorer"])
    assert r.status_code == 200, r.text
    assert r.json()["inserted"] == 1
    for bad in (True, 30.5):
        r = client.post(
            "/v1/outcomes",
            json={"items": [item | {"applicant_id": bad}]},
            headers=headers["scorer"],
        )
        assert r.status_code == 422
        assert {tuple(e["loc"][:4]) for e in r.json()["detail"]} == {
            ("body", "items", 0, "applicant_id")
        }


def test_a_loan_granted_after_its_outcome_is_a_422_naming_both_dates(api) -> None:
    client, _, headers = api
    item = {
        "request_id": "x",
        "defaulted": True,
        "observed_at": "2026-12-06T00:00:00+00:00",
        "loan_date": "2027-01-01T00:00:00+00:00",
    }
    error = _only_error(
        client.post("/v1/outcomes", json={"items": [item]}, headers=headers["scorer"])
    )
    assert error["loc"] == ["body", "items", 0]
    assert "loan_date 2027-01-01" in error["msg"] and "observed_at 2026-12-06" in error["msg"]


@pytest.mark.parametrize(
    ("field", "value"), [("dpd_m01", -30), ("payment_m04", -1.0), ("credit_utilization", 1e6)]
)
def test_an_impossible_history_or_utilisation_is_refused_naming_it(
    api, field: str, value: float
) -> None:
    """Negative days past due and a utilisation a million times the limit were clipped
    and scored, where an employment of 500 years was refused: the synthetic preset's
    domain rules cover them now."""
    client, ds, headers = api
    r = client.post("/v1/score", json=applicant(ds, 3) | {field: value}, headers=headers["scorer"])
    assert r.status_code == 422 and field in r.text, r.text

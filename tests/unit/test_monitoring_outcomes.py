"""Outcomes: parsed from a table, recorded against decisions (by request or applicant id),
all or nothing, later observations replacing earlier ones; erasure and retention find them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from greenscore.config import Settings, get_settings, use_settings
from greenscore.errors import DataError
from greenscore.monitoring.outcomes import BAD_DATE, BAD_FLAG, MISSING_COLUMNS, parse_outcomes
from greenscore.security.pseudonym import subject_hash
from greenscore.store import Database, database
from greenscore.store.outcomes import (
    BEFORE_DECISION,
    NO_DECISION,
    TWICE,
    Outcome,
    delete_outcomes_for_subject,
    outcome_rows,
    purge_outcomes,
    record_outcomes,
)
from greenscore.store.prediction_reads import scored_probabilities
from greenscore.store.predictions import record_predictions

T0 = datetime(2024, 1, 15, tzinfo=UTC)


def _pseudonym(applicant: str) -> str:
    return subject_hash(applicant, settings=get_settings())


def _db() -> Database:
    return database(get_settings())


@pytest.fixture
def decisions(tmp_path: Path):
    use_settings(Settings(home=tmp_path / "home"))
    rows = [
        ("r1", "alice", T0, 0.10, "tenant-a"),
        ("r2", "bob", T0 + timedelta(days=20), 0.40, "tenant-a"),
        ("r3", "bob", T0 + timedelta(days=60), 0.35, "tenant-b"),
    ]
    record_predictions(
        [
            {
                "request_id": rid,
                "subject_hash": _pseudonym(subject),
                "model_name": "pd",
                "model_version": "1",
                "input_hash": "x",
                "decision": "approve",
                "probability": pd_,
                "created_at": at,
                "tenant": tenant,
            }
            for rid, subject, at, pd_, tenant in rows
        ],
        db=_db(),
    )
    yield
    use_settings(None)


def test_outcomes_are_recorded_with_the_decisions_pd_and_vintage(decisions: None) -> None:
    result = record_outcomes(
        [
            Outcome(defaulted=True, observed_at=T0 + timedelta(days=200), request_id="r1"),
            Outcome(
                defaulted=False,
                observed_at=T0 + timedelta(days=200),
                request_id="r2",
                loan_date=datetime(2024, 3, 1),
            ),
        ],
        source="file.csv",
        pseudonym=_pseudonym,
        db=_db(),
    )
    assert result.to_dict() == {"inserted": 2, "updated": 0, "unchanged": 0}
    rows = {r["request_id"]: r for r in outcome_rows(model_name="pd", db=_db())}
    assert (rows["r1"]["probability"], rows["r1"]["vintage"], rows["r1"]["defaulted"]) == (
        0.10,
        "2024-01",
        True,
    )
    assert rows["r2"]["vintage"] == "2024-03"  # the loan date given, not the decision's
    assert [r["request_id"] for r in outcome_rows(since=datetime(2024, 2, 1), db=_db())] == ["r2"]


def test_an_applicant_id_finds_their_latest_decision_before_the_outcome(decisions: None) -> None:
    record_outcomes([Outcome(defaulted=True, observed_at=T0 + timedelta(days=30),
                             applicant_id="bob")], pseudonym=_pseudonym, db=_db())  # fmt: skip
    assert [r["request_id"] for r in outcome_rows(db=_db())] == ["r2"]  # r3 came after the outcome
    record_outcomes([Outcome(defaulted=True, observed_at=T0 + timedelta(days=90),
                             applicant_id="bob")], pseudonym=_pseudonym, db=_db())  # fmt: skip
    assert sorted(r["request_id"] for r in outcome_rows(db=_db())) == ["r2", "r3"]


def test_a_later_observation_replaces_an_earlier_one_and_an_older_changes_nothing(
    decisions: None,
) -> None:
    record_outcomes([Outcome(defaulted=False, observed_at=T0 + timedelta(days=180),
                             request_id="r1")], pseudonym=_pseudonym, db=_db())  # fmt: skip
    later = record_outcomes(
        [Outcome(defaulted=True, observed_at=T0 + timedelta(days=365), request_id="r1")],
        pseudonym=_pseudonym,
        db=_db(),
    )
    older = record_outcomes(
        [Outcome(defaulted=False, observed_at=T0 + timedelta(days=90), request_id="r1")],
        pseudonym=_pseudonym,
        db=_db(),
    )
    assert (later.updated, older.unchanged) == (1, 1)
    (row,) = outcome_rows(db=_db())
    assert row["defaulted"] is True


@pytest.mark.parametrize(
    ("outcomes", "message"),
    [
        (
            [
                Outcome(False, T0 + timedelta(days=9), request_id="r1"),
                Outcome(True, T0 + timedelta(days=9), request_id="nope"),
            ],  # fmt: skip
            NO_DECISION.format(n=1, row=1, what="request id 'nope'"),
        ),
        (
            [Outcome(True, T0 + timedelta(days=9), applicant_id="carol")],
            NO_DECISION.format(
                n=1, row=0, what="its applicant id has no decision before the outcome was observed"
            ),
        ),
        (
            [Outcome(True, T0 - timedelta(days=1), request_id="r1")],
            BEFORE_DECISION.format(
                row=0,
                observed="2024-01-14T00:00:00",
                decided="2024-01-15T00:00:00",
                request_id="r1",
            ),  # fmt: skip
        ),
        (
            [
                Outcome(True, T0 + timedelta(days=9), request_id="r1"),
                Outcome(False, T0 + timedelta(days=9), applicant_id="alice"),
            ],  # fmt: skip
            TWICE.format(first=0, second=1, request_id="r1"),
        ),
    ],
)
def test_a_bad_outcome_refuses_the_whole_load(
    decisions: None, outcomes: list[Outcome], message: str
) -> None:
    with pytest.raises(DataError) as err:
        record_outcomes(outcomes, pseudonym=_pseudonym, db=_db())
    assert str(err.value) == message
    assert outcome_rows(db=_db()) == []


def test_another_tenants_decision_is_not_found(decisions: None) -> None:
    with pytest.raises(DataError):
        record_outcomes([Outcome(True, T0 + timedelta(days=99), request_id="r3")],
                        tenant="tenant-a", pseudonym=_pseudonym, db=_db())  # fmt: skip
    record_outcomes(
        [Outcome(True, T0 + timedelta(days=99), request_id="r3")],
        tenant="tenant-b",
        pseudonym=_pseudonym,
        db=_db(),
    )


def test_erasure_and_retention_reach_outcomes(decisions: None) -> None:
    record_outcomes(
        [
            Outcome(True, T0 + timedelta(days=99), request_id="r1"),
            Outcome(False, T0 + timedelta(days=99), request_id="r3"),
        ],
        pseudonym=_pseudonym,
        db=_db(),
    )
    assert delete_outcomes_for_subject(_pseudonym("alice"), db=_db()) == 1
    assert purge_outcomes(T0 + timedelta(days=61), db=_db()) == 1
    assert outcome_rows(db=_db()) == []


def test_the_pds_of_a_model_are_read_back_in_time_order(decisions: None) -> None:
    times, probabilities = scored_probabilities(
        model_name="pd", since=T0 + timedelta(days=1), db=_db()
    )
    assert probabilities == [0.40, 0.35] and times[0] < times[1]
    assert scored_probabilities(model_name="other", db=_db()) == ([], [])


# ---------------------------------------------------------------- files
def test_a_table_of_outcomes_is_parsed() -> None:
    frame = pd.DataFrame(
        {
            "Request_ID": ["r1", None],
            "applicant_id": [None, 100012.0],
            "defaulted": ["Yes", 0],
            "observed_at": ["2024-06-30", "2024-07-01T10:00:00+02:00"],
            "loan_date": [None, "2024-01-03"],
        }
    )
    first, second = parse_outcomes(frame)
    assert (first.request_id, first.defaulted, first.loan_date) == ("r1", True, None)
    assert (second.applicant_id, second.defaulted) == ("100012", False)
    assert second.observed_at == datetime(2024, 7, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (
            pd.DataFrame({"request_id": ["r"], "observed_at": ["2024-01-01"]}),
            MISSING_COLUMNS.format(needed=["defaulted", "observed_at"], missing=["defaulted"]),
        ),
        (
            pd.DataFrame(
                {
                    "request_id": ["r", "s"],
                    "defaulted": [1, "maybe"],
                    "observed_at": ["2024-01-01"] * 2,
                }
            ),  # fmt: skip
            BAD_FLAG.format(row=1, value="maybe"),
        ),
        (
            pd.DataFrame({"request_id": ["r"], "defaulted": [1], "observed_at": ["later"]}),
            BAD_DATE.format(row=0, column="observed_at", value="later"),
        ),
    ],
)
def test_a_bad_table_names_its_column_or_row(frame: pd.DataFrame, message: str) -> None:
    with pytest.raises(DataError) as err:
        parse_outcomes(frame)
    assert str(err.value) == message

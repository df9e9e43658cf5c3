"""The end-of-session audit check (tests/audit_chains.py) catches what it must: a tampered
home fails the session naming the home and the first bad event; a home a marked test
tampers with is left out and counted; untouched homes are verified and counted, also when
the homes are spread over xdist workers."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))
from audit_chains import Summary, check_homes, find_homes  # noqa: E402
from greenscore.config import Settings  # noqa: E402
from greenscore.security import record_event  # noqa: E402

pytest_plugins = ["pytester"]


def _home(path: Path, events: int = 3) -> Path:
    settings = Settings(home=path, environment="test")
    for i in range(events):
        record_event("score", actor="k1", details={"i": i}, settings=settings)
    return path


def _tamper(home: Path, entry_id: int) -> None:
    with sqlite3.connect(home / "greenscore.db") as conn:
        conn.execute(
            "UPDATE security_audit_log SET details = ? WHERE id = ?", ('{"i":99}', entry_id)
        )


@pytest.mark.tampers_audit
def test_check_names_the_home_and_first_bad_event(tmp_path: Path) -> None:
    good = _home(tmp_path / "good", events=4)
    bad = _home(tmp_path / "bad")
    record_event("keys.create", actor="ops", settings=Settings(home=bad, environment="test"))
    _tamper(bad, 2)
    left_out = _home(tmp_path / "left-out")
    _tamper(left_out, 1)
    (tmp_path / "no-db").mkdir()

    assert find_homes(tmp_path) == [bad, good, left_out]
    results = {
        Path(r.home).name: r
        for r in check_homes(find_homes(tmp_path), [], {left_out: "tests/x.py::test_x"})
    }
    assert (results["good"].status, results["good"].entries) == ("verified", 4)
    assert results["bad"].status == "broken"
    assert "entry 2: altered" in results["bad"].detail
    assert "first bad event: id 2, 'score' at " in results["bad"].detail
    assert results["left-out"].status == "tampered"

    lines = Summary(list(results.values())).lines()
    assert lines[0].startswith("audit chains verified: 1 homes, 4 entries; broken: 1;")
    assert any(line.startswith(f"BROKEN audit chain in {bad}: entry 2") for line in lines)


@pytest.mark.tampers_audit
def test_check_opens_a_keyring_keyed_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GREENSCORE_MASTER_KEY", "5e" * 32)
    home = _home(tmp_path / "env-keyed")
    monkeypatch.delenv("GREENSCORE_MASTER_KEY")
    assert not (home / "keys" / "master.key").exists()
    [unknown] = check_homes([home], [], {})
    assert unknown.status == "unverifiable" and "keyring not opened" in unknown.detail
    [known] = check_homes([home], ["5e" * 32], {})
    assert (known.status, known.entries) == ("verified", 3)


_INNER_CONFTEST = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
import audit_chains


def pytest_configure(config):
    audit_chains.register(config)
"""

_INNER_TESTS = """
import sqlite3

import pytest

from greenscore.config import Settings
from greenscore.security import record_event


def _home(path):
    settings = Settings(home=path, environment="test")
    for i in range(3):
        record_event("score", actor="k1", details={"i": i}, settings=settings)
    return path


def _tamper(home):
    with sqlite3.connect(home / "greenscore.db") as conn:
        conn.execute("UPDATE security_audit_log SET details = '{}' WHERE id = 2")


def test_clean(tmp_path):
    _home(tmp_path)


@pytest.mark.tampers_audit
def test_tampers_on_purpose(tmp_path):
    _tamper(_home(tmp_path))


def test_tampers_unmarked(tmp_path):
    _tamper(_home(tmp_path))
"""


@pytest.mark.tampers_audit  # the inner sessions' homes lie in this test's folder
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_a_broken_chain_fails_the_session(pytester: pytest.Pytester, workers: list[str]) -> None:
    pytester.makeconftest(_INNER_CONFTEST)
    pytester.makepyfile(test_inner=_INNER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", *workers)
    result.assert_outcomes(passed=3)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert (
        "audit chains verified: 1 homes, 3 entries; broken: 1; left out: 1 tampered on purpose"
        in out
    )
    result.stdout.fnmatch_lines(
        [
            "BROKEN audit chain in *test_tampers_unmarked0: entry 2: altered*"
            "first bad event: id 2, 'score' at *"
        ]
    )
    assert "test_inner.py::test_tampers_on_purpose" not in out  # listed with -v only

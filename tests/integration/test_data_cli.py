"""``greenscore validate / profile / spec infer`` through ``greenscore.cli.main``: exit 0 on
the real datasets, exit 2 with one ``error:`` line (never a traceback) on broken input.

Most cases run ``main()`` in-process (same code path, a fraction of the time); a few run
the real console entry point in a subprocess to prove nothing else leaks to the terminal.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from greenscore import cli
from greenscore.config import Settings, use_settings

DATA = Path("/work/shared/data")
REAL = [
    ("UCI_Credit_Card.csv", "taiwan"),
    ("german_credit.csv", "german"),
    ("credit_risk_dataset.csv", "credit_risk"),
]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("GREENSCORE_HOME", raising=False)
    use_settings(Settings(home=tmp_path / "home"))
    yield tmp_path
    use_settings(None)


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    def _run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["greenscore", *map(str, args)])
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code or 0
        out = capsys.readouterr()
        return code, out.out, out.err

    return _run


def assert_one_line_error(code: int, out: str, err: str, fragment: str) -> None:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, (out, err)
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in out + err


@pytest.mark.parametrize(("name", "preset"), REAL, ids=[p for _, p in REAL])
def test_real_files_validate_with_exit_0(run, name: str, preset: str) -> None:
    code, out, err = run("validate", "--data", DATA / name, "--preset", preset)
    assert code == 0, out + err
    assert "OK: 0 errors" in out


def test_validate_json(run) -> None:
    code, out, _ = run(
        "validate", "--data", DATA / "credit_risk_dataset.csv", "--preset", "credit_risk", "--json"
    )
    assert code == 0
    report = json.loads(out)
    assert report["ok"] is True and report["rows"] == 32581
    assert {"impossible_age", "duplicate_rows"} <= {f["rule"] for f in report["findings"]}


def _write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


NUMERIC_SPEC = "name: broken\ntarget: bad\nnumeric: [income]\n"
GOOD_ROWS = "income,bad\n100,0\n200,1\n300,0\n"

BROKEN = [
    # (case id, file name, content or None, extra CLI arguments, fragment of the one-line cause)
    ("missing file", "nope.csv", None, ["--target", "bad"], "file not found"),
    ("directory", "folder", "DIR", ["--target", "bad"], "is a folder"),
    ("empty", "empty.csv", "", ["--target", "bad"], "is empty"),
    ("header only", "header.csv", "income,bad\n", ["--target", "bad"], "header only"),
    ("truncated", "cut.csv", "income,bad\n100,0\n200,1\n3", ["--target", "bad"], "line 4 has 1 fields"),
    ("random bytes", "random.csv", random.Random(1).randbytes(2048), ["--target", "bad"], "looks binary"),
    ("png", "image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(32), ["--target", "bad"], "PNG image"),
    ("malformed csv", "quote.csv", 'income,bad\n100,0\n"200,1\n', ["--target", "bad"], "unclosed quote"),
    ("malformed json", "bad.json", '[{"income": 1, "bad": 0},\n {"income": 2 "bad": 1}]', ["--target", "bad"], "malformed JSON at line 2"),
    ("missing target", "rows.csv", GOOD_ROWS, ["--target", "bda"], "target column 'bda' not found; did you mean 'bad'?"),
    ("non-binary target", "rows.csv", "income,bad\n1,0\n2,1\n3,2\n", ["--target", "bad"], "exactly two values"),
    ("missing target, spec", "rows.csv", "income,default\n1,0\n2,1\n", ["--spec", "SPEC"], "target column 'bad' is not in the data"),
    ("non-binary target, spec", "rows.csv", "income,bad\n1,0\n2,1\n3,2\n", ["--spec", "SPEC"], "must have exactly two values"),
    ("text in numeric column", "rows.csv", "income,bad\nlots,0\nplenty,1\nheaps,0\n", ["--spec", "SPEC"], "column 'income' should be numeric but 3 of 3 values are text"),
    ("two ways to read", "rows.csv", GOOD_ROWS, ["--preset", "german", "--target", "bad"], "give exactly one of"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "name", "content", "extra", "fragment"), BROKEN, ids=[b[0] for b in BROKEN]
)
def test_broken_input_exits_2_with_one_line(
    run, tmp_path: Path, case, name, content, extra, fragment
) -> None:
    path = tmp_path / name
    if content == "DIR":
        path.mkdir()
    elif content is not None:
        _write(path, content)
    spec_path = _write(tmp_path / "spec.yaml", NUMERIC_SPEC)
    args = [str(spec_path) if a == "SPEC" else a for a in extra]
    assert_one_line_error(*run("validate", "--data", path, *args), fragment)


def test_subprocess_exit_codes_and_no_traceback(tmp_path: Path) -> None:
    """The real entry point: exit 0 on a real file, 2 with one line on broken ones."""
    cut = _write(tmp_path / "cut.csv", "income,bad\n100,0\n200,1\n3")
    cases = [
        (["--data", DATA / "german_credit.csv", "--preset", "german"], 0, None),
        (["--data", cut, "--target", "bad"], 2, "line 4 has 1 fields, expected 2"),
    ]
    for args, expected, fragment in cases:
        done = subprocess.run(
            [sys.executable, "-m", "greenscore.cli", "validate", *map(str, args)],
            capture_output=True,
            text=True,
            timeout=120,
            env={"GREENSCORE_HOME": str(tmp_path / "home"), "PATH": "/usr/bin:/bin"},
        )
        if expected == 0:
            assert done.returncode == 0, done.stdout + done.stderr
        else:
            assert_one_line_error(done.returncode, done.stdout, done.stderr, fragment)


def test_spec_infer_then_validate_with_it(run, tmp_path: Path) -> None:
    out = tmp_path / "german.yaml"
    code, stdout, err = run(
        "spec", "infer", "--data", DATA / "german_credit.csv", "--target", "class", "--out", out
    )
    assert code == 0, err
    assert "default = 'bad'" in stdout
    text = out.read_text()
    assert "positive_label: bad" in text and "strip_quotes: true" in text
    code, stdout, err = run("validate", "--data", DATA / "german_credit.csv", "--spec", out)
    assert code == 0, stdout + err
    assert_one_line_error(
        *run(
            "spec", "infer", "--data", DATA / "german_credit.csv", "--target", "class", "--out", out
        ),
        "already exists; pass --force",
    )


def test_spec_infer_prints_yaml_without_out(run, tmp_path: Path) -> None:
    path = _write(
        tmp_path / "rows.jsonl", '{"income": 1, "status": "Y"}\n{"income": 2, "status": "N"}\n'
    )
    code, stdout, _ = run("spec", "infer", "--data", path, "--target", "status", "--name", "mine")
    assert code == 0
    assert "name: mine" in stdout and "positive_label: Y" in stdout


def test_profile_command(run, tmp_path: Path) -> None:
    code, stdout, err = run(
        "profile",
        "--data",
        DATA / "german_credit.csv",
        "--preset",
        "german",
        "--out",
        tmp_path / "p",
    )
    assert code == 0, err
    assert (tmp_path / "p" / "profile.html").exists()
    saved = json.loads((tmp_path / "p" / "profile.json").read_text())
    assert saved["overview"]["rows"] == 1000
    assert "highest information value: checking_status" in stdout

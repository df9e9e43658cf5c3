"""Docs that cannot rot: every ``greenscore`` command in the fenced shell blocks of
``docs/`` and the README runs, on small data, and must exit 0.

``getting-started.md`` runs first in a fresh world (it generates data and trains
``runs/first``); every other page then runs in a copy of that world, as a reader who has
done the getting-started steps would. The README's tour runs on 400-row samples of the real
datasets (slow: it trains several models). How commands are found and run:
``doc_commands.py``.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from doc_commands import SAMPLE_ROWS, Command, World, commands_in

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
FIRST = DOCS / "getting-started.md"
PAGES = sorted(p for p in DOCS.rglob("*.md") if p != FIRST and commands_in(p))


def _shown(path: Path) -> Path:
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def run_page(world: World, commands: list[Command]) -> None:
    """Run ``commands`` in order; fail at the first non-zero exit, naming file and line."""
    world.prepare()
    for command in commands:
        done = world.run(command)
        if done.returncode not in command.accepted_exits:
            pytest.fail(
                f"{_shown(command.file)}:{command.line}: exit {done.returncode}\n"
                f"$ {command.text}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}",
                pytrace=False,
            )


@pytest.fixture(scope="module")
def started(tmp_path_factory: pytest.TempPathFactory) -> World:
    world = World(tmp_path_factory.mktemp("docs") / "started")
    run_page(world, commands_in(FIRST))
    return world


def test_getting_started_runs(started: World) -> None:
    assert (started.work / "runs" / "first" / "model_card.md").is_file()


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_commands_run(page: Path, started: World, tmp_path: Path) -> None:
    world = World(tmp_path / "world", secrets=dict(started.secrets))
    shutil.copytree(started.root, world.root, symlinks=True)
    run_page(world, commands_in(page))


#: The applications the README's reader sends to ``greenscore serve`` (with the key the tour
#: created): the decisions ``outcomes load`` and ``monitor --from-store`` then read.
SERVED = 50
OUTCOMES = 20


def readme_files(world: World) -> None:
    """The reader's own files the README's tour names, made from the Taiwan sample: an
    unfamiliar file with a ``defaulted`` target, new applications, this month's and the
    latest data (the outcomes of the service's decisions come once they are made:
    :func:`send_applications`)."""
    import pandas as pd

    world.prepare()
    taiwan = pd.read_csv(world.root / "shared" / "data" / "UCI_Credit_Card.csv")
    own = taiwan.rename(columns={"default.payment.next.month": "defaulted"})
    for name in ("my_file.csv", "apps.csv", "train.csv"):
        own.to_csv(world.work / name, index=False)
    own.drop(columns=["defaulted"]).head(SERVED).to_csv(world.work / "new_apps.csv", index=False)
    own.tail(200).to_csv(world.work / "this_month.csv", index=False)
    taiwan.to_csv(world.work / "latest.csv", index=False)


#: The README's sizes, scaled to a test: rows made (generate, synthesize), folds, tuning
#: trials and the auto ensemble's time budget. Every option the reader types still runs;
#: ``train`` gets 2 folds where the reader relies on the default 5, and one trial per search
#: (each fold of a tuned model is a nested search: 5 folds and 2 trials of the tour's first
#: train took 270 s at load 5, over 900 s at load 25; 2 folds and 2 trials 217 s at load
#: 10). ``--models auto`` gets a cap of 1 trial per member (no search: its defaults), so it
#: ends when its members are fitted, not when its budget is spent; the budget stays large
#: enough that a loaded machine still accepts it (auto refuses a budget its probe fits
#: cannot keep: 1m was refused at load 7, 4m at load 12 after 241 s of probing).
SMALL = (
    (re.compile(r"^(greenscore (?:generate|synthesize)\b.*--rows )\d+"), rf"\g<1>{SAMPLE_ROWS}"),
    (re.compile(r"^(greenscore train\b)(?!.*--cv\b)"), r"\g<1> --cv 2"),
    (re.compile(r"(--cv )\d+"), r"\g<1>2"),
    (
        re.compile(r"^(greenscore train\b)(?=.*--models auto\b)(?!.*--tune-trials\b)"),
        r"\g<1> --tune-trials 1",
    ),
    (re.compile(r"(--tune-trials )\d+"), r"\g<1>1"),
    (re.compile(r"(--time-budget )\w+"), r"\g<1>10m"),
)


def small(command: Command) -> Command:
    """``command`` with the README's data sizes and budgets scaled to :data:`SMALL`."""
    text = command.text
    for pattern, scaled in SMALL:
        text = pattern.sub(scaled, text)
    return replace(command, text=text)


def send_applications(world: World, command: str, port: int) -> None:
    """While the tour's ``greenscore serve`` runs, lender-a sends it the new applications
    over HTTP; ``outcomes.csv`` then holds what became of the first of them, observed after
    the decisions (what the README's ``outcomes load`` line joins to them)."""
    from datetime import UTC, datetime

    import httpx
    import pandas as pd

    if not command.startswith("greenscore serve"):
        return
    applicants = pd.read_csv(world.work / "new_apps.csv").to_dict("records")
    answer = httpx.post(
        f"http://127.0.0.1:{port}/v1/score/batch",
        json={"applicants": applicants},
        headers={"X-API-Key": world.keys["lender-a"]},
        timeout=120,
    )
    assert answer.status_code == 200, answer.text[:500]
    assert len(answer.json()["results"]) == SERVED, answer.text[:500]
    taiwan = pd.read_csv(world.root / "shared" / "data" / "UCI_Credit_Card.csv").head(OUTCOMES)
    outcomes = pd.DataFrame(
        {"applicant_id": taiwan["ID"], "defaulted": taiwan["default.payment.next.month"]}
    )
    outcomes["observed_at"] = datetime.now(UTC).isoformat()
    outcomes.to_csv(world.work / "outcomes.csv", index=False)


@pytest.mark.slow
def test_readme_commands_run(tmp_path: Path) -> None:
    world = World(tmp_path / "readme", while_serving=send_applications)
    readme_files(world)
    run_page(world, [small(c) for c in commands_in(ROOT / "README.md")])


def test_every_guide_and_runbook_named_in_the_issue_has_commands() -> None:
    for name in (
        "guides/explainability.md",
        "guides/fairness.md",
        "guides/sustainability.md",
        "guides/privacy.md",
        "guides/federated.md",
        "guides/operations.md",
        "runbooks/incident.md",
        "runbooks/key-rotation.md",
        "runbooks/erasure-request.md",
        "runbooks/restore-from-backup.md",
        "runbooks/drift-alert.md",
    ):
        assert commands_in(DOCS / name), name


def test_the_runner_fails_on_a_non_zero_exit(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Text.\n\n```bash\n$ greenscore --version   # a comment\ngreenscore config \\\n"
        "    show --json\necho not a greenscore command\ngreenscore train --no-such-option\n"
        "```\n\n```python\ngreenscore = 1\n```\n"
    )
    commands = commands_in(page)
    assert [c.text for c in commands] == [
        "greenscore --version   # a comment",
        "greenscore config show --json",
        "greenscore train --no-such-option",
    ]
    assert [c.line for c in commands] == [4, 5, 8]
    with pytest.raises(pytest.fail.Exception, match=r"page.md:8: exit 2"):
        run_page(World(tmp_path / "world"), commands)


def test_the_runner_accepts_only_the_exit_a_page_documents(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```bash\ngreenscore train --no-such-option   # exits 2: a usage error\n"
        "greenscore train --no-such-option   # exits 1 when a check fails\n```\n"
    )
    documented, undocumented = commands_in(page)
    assert documented.accepted_exits == {0, 2} and undocumented.accepted_exits == {0, 1}
    run_page(World(tmp_path / "world"), [documented])
    with pytest.raises(pytest.fail.Exception, match=r"page.md:3: exit 2"):
        run_page(World(tmp_path / "world"), [undocumented])

"""Budget alerts fire once even when many workers record usage at the same moment,
on SQLite and on the real PostgreSQL server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from greenscore.config import Settings, use_settings
from greenscore.sustainability import budgets
from greenscore.sustainability.intensity import grid_factor

WORKERS = 8


@pytest.fixture(params=["sqlite", "postgresql"])
def home(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_schema_url")
    settings = Settings(home=tmp_path, database_url=url)
    use_settings(settings)
    yield settings
    use_settings(None)


@pytest.mark.services
def test_concurrent_crossings_fire_each_threshold_once(home: Settings) -> None:
    budgets.set_budget(scope="project", name="greenscore", limit_kg=1.0)
    kwh = 0.15 / grid_factor("GBR").kg_per_kwh  # 8 x 0.15 kg: crosses 80 % and 100 %
    fired: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(WORKERS)

    def work(k: int) -> None:
        start.wait()
        recorded = budgets.record_usage(source_key=f"w{k}", kind="training", kwh=kwh, sinks=[])
        with lock:
            fired.extend(a.threshold for a in recorded.alerts)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(WORKERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(fired) == [0.8, 1.0]
    status = budgets.budget_status()[0]
    assert status.used_kg == pytest.approx(1.2) and status.fired == [0.8, 1.0]

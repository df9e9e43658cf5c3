"""The dashboard in a real browser: Debian's Chromium driven by Playwright.

``greenscore dashboard`` runs in a subprocess on a free loopback port over a home folder in
the test's temporary directory. The page must render its charts from measured data, log no
console error (a Content-Security-Policy violation or a failed callback would), and a
screenshot is saved under ``test-output/`` in the test's folder (its path is printed).
The empty-home test runs by default; the one after a real ``greenscore demo`` is slow.
Chromium comes from Debian (``make test`` installs ``chromium`` and ``chromium-driver``);
Playwright cannot download its own browsers here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from service_server import Server, free_port  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from conftest import service_missing  # noqa: E402

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        service_missing("Debian's chromium is not installed (make test installs it)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        service_missing("the playwright package is not installed (pip install -e '.[dev]')")
    return path


@contextmanager
def dashboard(home: Path, timeout: float = 180.0) -> Iterator[str]:
    """``greenscore dashboard`` on a free port; yields its URL once the page answers."""
    port = free_port()
    log = home.parent / f"dashboard-{port}.log"
    env = Server(home, []).environment()
    cmd = [sys.executable, "-m", "greenscore.cli", "dashboard", "--port", str(port)]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out, cwd=str(home.parent))
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"dashboard exited with {proc.returncode}: {log.read_text()[-3000:]}"
                )
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"dashboard not up in {timeout} s: {log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class Page:
    """A loaded dashboard page and what the browser said while loading it."""

    def __init__(self, page, errors: list[str]) -> None:  # noqa: ANN001
        self.page = page
        self.errors = errors

    def count(self, selector: str, timeout_ms: int = 60_000) -> int:
        """How many elements match, once at least one does (Plotly draws a graph after
        Dash has placed it, later on a loaded machine); 0 if none appears in time."""
        try:
            self.page.wait_for_selector(selector, timeout=timeout_ms)
        except Exception:  # playwright's TimeoutError: the count below is then 0
            pass
        return self.page.locator(selector).count()

    def text(self, selector: str) -> str:
        return self.page.locator(selector).first.inner_text()


@contextmanager
def browse(url: str, *, ready: str, screenshot: Path, timeout_ms: int = 240_000) -> Iterator[Page]:
    """Open ``url`` in headless Chromium, wait for ``ready``, yield, then save a screenshot."""
    from playwright.sync_api import sync_playwright

    chromium = _chromium()
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1800})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(url)
            page.wait_for_selector(ready, timeout=timeout_ms)
            # The live panel is the second callback; wait for it to answer too.
            page.wait_for_selector("#live p, #live .js-plotly-plot", timeout=timeout_ms)
            yield Page(page, errors)
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
            print(f"dashboard screenshot: {screenshot}")
        finally:
            browser.close()


def test_empty_home_shows_no_runs_yet_and_the_grid_chart(tmp_path: Path) -> None:
    _chromium()
    home = tmp_path / "home"
    home.mkdir()
    shot = tmp_path / "test-output" / "dashboard-empty.png"
    with dashboard(home) as url, browse(url, ready="[data-panel=empty]", screenshot=shot) as page:
        assert "No runs yet" in page.text("[data-panel=empty]")
        assert "No training runs yet." in page.text("[data-panel=energy]")
        # Always populated: the configured region's typical day, 24 hourly bars.
        assert page.count("[data-panel=grid-chart] .barlayer .point") == 24
        assert "no scoring service configured" in page.text("[data-panel=live]")
        assert page.errors == []
    assert shot.stat().st_size > 10_000


@pytest.mark.slow
def test_after_a_real_demo_the_charts_are_populated(tmp_path: Path) -> None:
    _chromium()
    home = tmp_path / "home"
    home.mkdir()
    env = Server(home, []).environment()
    demo = subprocess.run(
        [
            sys.executable,
            "-m",
            "greenscore.cli",
            "demo",
            "--rows",
            "500",
            "--out",
            str(tmp_path / "demo"),
        ],
        env=env,
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    shot = tmp_path / "test-output" / "dashboard-demo.png"
    with (
        dashboard(home) as url,
        browse(url, ready="[data-panel=energy-chart] .js-plotly-plot", screenshot=shot) as page,
    ):
        # One run, two models (scorecard and LightGBM): a trace each, with its point.
        assert page.count("[data-panel=energy-chart] .scatterlayer .trace") == 2
        assert page.count("[data-panel=pareto-chart] .scatterlayer .point") >= 2
        assert page.count("[data-panel=fairness-chart] .barlayer .point") >= 2
        assert page.count("[data-panel=esg-chart] .barlayer .point") == 5
        assert "training runs" in page.text("[data-panel=totals]")
        assert "1" in page.text("[data-panel=totals]")
        assert "No runs yet" not in page.page.content()
        assert page.count("[data-panel=recommendations] li") >= 1
        assert page.errors == []
    assert shot.stat().st_size > 10_000

"""The documentation site builds with ``mkdocs build --strict`` (what ``make docs`` runs),
its generated references hold the CLI and the HTTP API, and a broken internal link fails
the build.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).parents[2]
# Not --quiet: it drops warnings before --strict counts them, and the build would pass.
MKDOCS = [sys.executable, "-m", "mkdocs", "build", "--strict"]


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MKDOCS, "-f", str(config), "-d", str(site)],
        cwd=config.parent,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = _build(ROOT / "mkdocs.yml", out)
    assert done.returncode == 0, done.stdout + done.stderr
    return out


def test_site_builds_strictly_with_generated_references(site: Path) -> None:
    cli = (site / "reference" / "cli" / "index.html").read_text()
    for command in ("greenscore train", "greenscore card", "greenscore gdpr erase"):
        assert command in cli
    api = (site / "reference" / "http-api" / "index.html").read_text()
    assert "/v1/score" in api and "/health/ready" in api
    assert (site / "reference" / "openapi.json").is_file()
    python_api = (site / "reference" / "python-api" / "index.html").read_text()
    assert "explain_applicants" in python_api
    for page in (
        "runbooks/key-rotation",
        "runbooks/restore-from-backup",
        "datasheets/taiwan",
        "guides/documentation",
        "adr/0003-nested-tuning",
    ):
        assert (site / page / "index.html").is_file(), page


def _copy_without_hook(tmp_path: Path) -> Path:
    """The site's config and pages with stand-ins for the generated references (no hook)."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    config.pop("hooks")
    for plugin in config["plugins"]:
        if isinstance(plugin, dict) and "mkdocstrings" in plugin:
            plugin["mkdocstrings"]["handlers"]["python"]["paths"] = [str(ROOT / "src")]
    for name in ("cli", "http-api"):
        (tmp_path / "docs" / "reference" / f"{name}.md").write_text(f"# {name}\n")
    path = tmp_path / "mkdocs.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_a_broken_internal_link_fails_the_build(tmp_path: Path) -> None:
    config = _copy_without_hook(tmp_path)
    assert _build(config, tmp_path / "ok").returncode == 0  # the copy builds as it is
    page = tmp_path / "docs" / "guides" / "fairness.md"
    page.write_text(page.read_text() + "\nSee [the missing page](no-such-page.md).\n")
    done = _build(config, tmp_path / "broken")
    assert done.returncode != 0
    assert "no-such-page.md" in done.stdout + done.stderr

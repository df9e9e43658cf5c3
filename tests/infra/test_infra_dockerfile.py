"""The image definition: hadolint and checkov pass on the Dockerfile, it keeps the promises
docs/deployment.md makes (two stages, pinned CPU torch, non-root, health check, writable
paths on volumes only, no secrets), and a copy that runs as root fails both linters."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from infra_support import ROOT, checkov, output, run, tool  # noqa: E402

DOCKERFILE = ROOT / "Dockerfile"


def _as_root(text: str) -> str:
    return re.sub(r"^USER .*$", "USER root", text, flags=re.M)


@pytest.fixture(scope="module")
def dockerfile_scan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """One checkov scan of the Dockerfile and of a copy that runs as root."""
    scan = tmp_path_factory.mktemp("checkov-docker")
    (scan / "ok").mkdir()
    (scan / "root").mkdir()
    (scan / "ok" / "Dockerfile").write_text(DOCKERFILE.read_text())
    (scan / "root" / "Dockerfile").write_text(_as_root(DOCKERFILE.read_text()))
    return checkov(scan, ("dockerfile",))


def test_hadolint_passes() -> None:
    result = run([tool("hadolint"), "--failure-threshold", "info", str(DOCKERFILE)])
    assert result.returncode == 0, output(result)


def test_hadolint_fails_a_root_image(tmp_path: Path) -> None:
    broken = tmp_path / "Dockerfile"
    broken.write_text(_as_root(DOCKERFILE.read_text()))
    result = run([tool("hadolint"), str(broken)])
    assert result.returncode != 0
    assert "DL3002" in result.stdout  # last USER should not be root


def test_checkov_passes(dockerfile_scan: dict) -> None:
    assert dockerfile_scan["ok/Dockerfile"] == set()


def test_checkov_fails_a_root_image(dockerfile_scan: dict) -> None:
    assert "CKV_DOCKER_8" in dockerfile_scan["root/Dockerfile"]  # last USER is root


def test_dockerfile_keeps_its_promises() -> None:
    text = DOCKERFILE.read_text()
    stages = re.findall(r"^FROM (\S+) AS (\w+)$", text, flags=re.M)
    assert [s[1] for s in stages] == ["builder", "runtime"]
    assert all(image.endswith("-slim-bookworm") for image, _ in stages)
    runtime = text.split("AS runtime", 1)[1]
    # The CPU wheel of the pinned torch, installed before the project.
    assert re.search(r'--index-url "\$\{TORCH_INDEX_URL\}" "torch==\$\{TORCH_VERSION\}"', text)
    assert "ARG TORCH_VERSION=2.13.0" in text and "whl/cpu" in text
    assert text.index("torch==${TORCH_VERSION}") < text.index("pip install --no-cache-dir .")
    # Non-root by number, the home folder a volume, caches under /tmp.
    assert re.search(r"^USER 10001:10001$", runtime, flags=re.M)
    assert 'VOLUME ["/var/lib/greenscore"]' in runtime
    assert "GREENSCORE_HOME=/var/lib/greenscore" in runtime
    assert "PYTHONDONTWRITEBYTECODE=1" in runtime and "compileall" in text
    assert re.search(r"HEALTHCHECK .*\n.*/health/live", runtime)
    assert 'ENTRYPOINT ["greenscore"]' in runtime
    assert "org.opencontainers.image.version" in runtime
    # No secret passes through a build argument or an ENV layer.
    for name in re.findall(r"^(?:ARG|ENV)\s+(\w+)", text, flags=re.M):
        assert not re.search(r"SECRET|PASSWORD|TOKEN|PEPPER|MASTER_KEY", name), name


def test_build_context_leaves_out_local_state() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*") :][:4] == ["*", "!pyproject.toml", "!README.md", "!src/"]
    # Everything not re-included stays out: .env files, the home folder, keys, venvs.
    included = [line for line in ignore if line.startswith("!")]
    assert included == ["!pyproject.toml", "!README.md", "!src/"]

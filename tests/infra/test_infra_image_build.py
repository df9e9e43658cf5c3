"""Proof that the Dockerfile builds and the image runs (slow; `make test-all`), without a
Docker engine or an image registry: Buildah (Debian's package, chroot isolation, vfs
storage) builds it on a Debian bookworm base made locally with debootstrap and stored under
the name the Dockerfile asks for (python:3.11-slim-bookworm). The CPU torch wheel this
machine's pip resolves is served from a loopback index as TORCH_INDEX_URL; the rest comes
from PyPI, through the host's CA bundle when one is set. Then the image runs
`greenscore --help`, serves a small model, answers /health/live and passes its own
HEALTHCHECK command, as uid 10001.

The debootstrap tree is cached in `.image-build/` (`make clean`); images and build layers
in Buildah's own storage (vfs), so a second run rebuilds only what changed.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from infra_support import ROOT, output, service_missing, tool  # noqa: E402

pytestmark = pytest.mark.slow

CACHE = ROOT / ".image-build"
IMAGE = "localhost/greenscore:proof"
BASE = "docker.io/library/python:3.11-slim-bookworm"
CA_BUNDLE = Path(os.environ.get("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt"))


def _buildah(*args: str, timeout: float = 3600, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [tool("buildah"), "--storage-driver", "vfs", *args]
    env = {**os.environ, "BUILDAH_ISOLATION": "chroot"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check:
        assert result.returncode == 0, output(result)
    return result


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _base_image() -> None:
    """A Debian bookworm base with Python 3.11, made by debootstrap, named as the official one."""
    if BASE in _buildah("images", "--format", "{{.Name}}:{{.Tag}}").stdout:
        return
    rootfs = CACHE / "rootfs"
    if not (rootfs / "usr" / "bin" / "python3").exists():
        result = subprocess.run(
            [
                tool("debootstrap"),
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                "bookworm",
                str(rootfs),
                "http://deb.debian.org/debian",
            ],
            capture_output=True,
            text=True,
            timeout=1800,
        )
        assert result.returncode == 0, output(result)
    ctr = _buildah("from", "scratch").stdout.strip()
    mount = _buildah("mount", ctr).stdout.strip()
    subprocess.run(["cp", "-a", f"{rootfs}/.", mount], check=True)
    _buildah("umount", ctr)
    _buildah(
        "config", "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", ctr
    )
    _buildah("commit", "--rm", ctr, BASE)


@pytest.fixture(scope="module")
def torch_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A loopback package index holding the CPU torch wheel the host's pip resolves."""
    folder = tmp_path_factory.mktemp("torch-index")
    wheels = folder / "simple" / "torch"
    wheels.mkdir(parents=True)
    got = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
         "torch==2.13.0", "-d", str(wheels)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if got.returncode != 0 or not any("+cpu" in p.name for p in wheels.iterdir()):
        service_missing(f"no CPU torch 2.13.0 wheel for the local index: {got.stderr[-300:]}")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    server.shutdown()


@pytest.fixture(scope="module")
def image(torch_index: str) -> str:
    if os.geteuid() != 0:
        service_missing("building with Buildah's chroot isolation needs root here")
    CACHE.mkdir(exist_ok=True)
    _base_image()
    args = [
        "bud", "--pull=never", "--isolation", "chroot", "--network", "host", "--layers",
        "--format", "docker", "--build-arg", f"TORCH_INDEX_URL={torch_index}",
        "--build-arg", "PIP_EXTRA_INDEX_URL=https://pypi.org/simple", "-t", IMAGE,
    ]  # fmt: skip
    if CA_BUNDLE.is_file():
        args += [
            "-v",
            f"{CA_BUNDLE}:/etc/ssl/build-ca.crt:ro",
            "--build-arg",
            "PIP_CERT=/etc/ssl/build-ca.crt",
        ]
    _buildah(*args, str(ROOT))
    return IMAGE


def test_image_config_is_what_the_dockerfile_promises(image: str) -> None:
    config = json.loads(_buildah("inspect", "--type", "image", image).stdout)["Docker"]["config"]
    assert config["User"] == "10001:10001"
    assert config["Entrypoint"] == ["greenscore"] and config["Cmd"] == ["serve"]
    assert "/var/lib/greenscore" in config["Volumes"]
    assert "/health/live" in " ".join(config["Healthcheck"]["Test"])
    assert config["Labels"]["org.opencontainers.image.title"] == "greenscore"


def test_image_runs_the_cli_and_serves_health(image: str, tmp_path: Path) -> None:
    # The model is made inside the container, by the image's own GreenScore (a bundle is
    # signed with the keyring of the home it is saved in). /work, not the image's VOLUME
    # path, holds home and model: Buildah gives a declared volume its own storage.
    work = tmp_path / "work"
    work.mkdir()
    os.chown(work, 10001, 10001)
    os.chmod(tmp_path, 0o755)
    ctr = _buildah("from", "--pull=never", image).stdout.strip()
    mounts = ["--env", "GREENSCORE_ENVIRONMENT=test", "--env", "GREENSCORE_HOME=/work/home",
              "-v", f"{work}:/work"]  # fmt: skip
    try:
        helped = _buildah("run", ctr, "--", "greenscore", "--help")
        assert "serve" in helped.stdout
        versions = _buildah(
            "run", ctr, "--", "python", "-c",
            "import torch, greenscore; print(torch.__version__, greenscore.__version__)",
        )  # fmt: skip
        assert versions.stdout.split()[0] == "2.13.0+cpu"
        assert _buildah("run", ctr, "--", "id", "-u").stdout.strip() == "10001"
        script = (
            "import sys; sys.path.insert(0, '/tests'); "
            "from serving_bundle import build_bundle, dataset; "
            "build_bundle(dataset(rows=400), n_estimators=10).save('/work/model')"
        )
        tests = f"{ROOT / 'tests' / 'unit'}:/tests:ro"
        _buildah("run", *mounts, "-v", tests, ctr, "--", "python", "-c", script)
        port = _free_port()
        server = subprocess.Popen(
            [tool("buildah"), "--storage-driver", "vfs", "run", *mounts,
             "--env", f"GREENSCORE_SERVING__PORT={port}",
             "--env", "GREENSCORE_SERVING__ENERGY_CALIBRATION=false",
             ctr, "--", "greenscore", "serve", "--model", "/work/model"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
            env={**os.environ, "BUILDAH_ISOLATION": "chroot"},
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 300
            ready = None
            while time.monotonic() < deadline and server.poll() is None:
                try:
                    ready = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=2)
                    if ready.status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(1)
            log = server.stdout.read() if server.poll() is not None else "(still running)"
            assert ready is not None and ready.status_code == 200, log
            assert httpx.get(f"http://127.0.0.1:{port}/health/live").json()["status"] == "ok"
            # The image's own HEALTHCHECK command, run in the container.
            config = json.loads(_buildah("inspect", "--type", "image", image).stdout)
            check = config["Docker"]["config"]["Healthcheck"]["Test"][1:]  # drop "CMD"
            env = ["--env", f"GREENSCORE_SERVING__PORT={port}"]
            healthy = _buildah("run", *env, ctr, "--", *check, check=False)
            assert healthy.returncode == 0, output(healthy)
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    finally:
        _buildah("rm", ctr, check=False)

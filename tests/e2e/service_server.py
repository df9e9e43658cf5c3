"""Start the real scoring service (uvicorn via ``greenscore serve``) for end-to-end tests.

Not a test module. The server runs in a subprocess on a free loopback port with its home
folder in the test's temporary directory; ``Server.start`` waits for ``/health/ready``.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One ``greenscore serve`` subprocess; restartable on the same port and home."""

    def __init__(self, home: Path, args: list[str], env: dict[str, str] | None = None) -> None:
        self.home = home
        self.args = args
        self.env = dict(env or {})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None
        self.log = home / f"server-{self.port}.log"

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GREENSCORE_")}
        env.update(
            {
                "GREENSCORE_HOME": str(self.home),
                "GREENSCORE_ENVIRONMENT": "test",
                "GREENSCORE_LOG_LEVEL": "WARNING",
                "GREENSCORE_SERVING__ENERGY_CALIBRATION": "false",
                "OMP_NUM_THREADS": "1",
                "MLFLOW_DISABLE_TELEMETRY": "true",
                "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT / "src")]),
            }
        )
        env.update(self.env)
        env.update(extra or {})
        return env

    def start(self, extra_env: dict[str, str] | None = None, timeout: float = 120.0) -> None:
        if extra_env:
            self.env.update(extra_env)
        cmd = [
            sys.executable,
            "-m",
            "greenscore.cli",
            "serve",
            "--port",
            str(self.port),
            *self.args,
        ]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                cmd, env=self.environment(), stdout=log, stderr=log, cwd=str(self.home)
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"server not ready within {timeout} s:\n{self.tail()}")

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def tail(self) -> str:
        return self.log.read_text("utf-8", "replace")[-4000:] if self.log.exists() else ""

    def client(self, **headers: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    """Run the ``greenscore`` CLI against the same home folder."""
    env = Server(home, []).environment()
    return subprocess.run(
        [sys.executable, "-m", "greenscore.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=str(home),
        timeout=120,
    )

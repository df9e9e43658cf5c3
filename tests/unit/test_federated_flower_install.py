"""Flower, installed without its pins, works with GreenScore's own web and CLI stack.

flwr 1.42 declares fastapi 0.138, starlette 1.3, typer 0.20, uvicorn 0.49 and rich 14;
GreenScore runs newer ones, so the Makefile installs flwr with ``--no-deps`` (ADR 0004).
This imports every Flower module GreenScore uses and runs each deployment binary; the
end-to-end test runs them for real (TLS, node authentication).
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

#: Every Flower module GreenScore imports.
FLOWER_MODULES = [
    "flwr.app",
    "flwr.clientapp",
    "flwr.serverapp",
    "flwr.serverapp.strategy",
    "flwr.serverapp.strategy.strategy_utils",
    "flwr.server",
    "flwr.server.client_manager",
    "flwr.server.client_proxy",
    "flwr.server.compat.grid_client_proxy",
    "flwr.server.strategy",
    "flwr.server.workflow",
    "flwr.server.workflow.constant",
    "flwr.client.mod",
    "flwr.common",
    "flwr.common.constant",
    "flwr.common.serde",
    "flwr.common.secure_aggregation.secaggplus_constants",
    "flwr.compat.common.recorddict_compat",
    "flwr.supercore.run",
    "flwr.supercore.task_identity",
]
#: The binaries a deployment runs (the SuperLink and SuperNode serve HTTP with uvicorn
#: and FastAPI; flwr is a Typer app).
BINARIES = [
    "flower-superlink",
    "flower-supernode",
    "flwr",
    "flwr-serverapp",
    "flwr-clientapp",
    "flower-superexec",
]


def test_flower_is_the_pinned_release() -> None:
    assert metadata.version("flwr") == "1.42.0"


@pytest.mark.parametrize("name", FLOWER_MODULES)
def test_every_flower_module_we_use_imports(name: str) -> None:
    importlib.import_module(name)


@pytest.mark.parametrize("binary", BINARIES)
def test_deployment_binaries_run_on_our_stack(binary: str) -> None:
    path = Path(sys.executable).with_name(binary)
    done = subprocess.run(
        [str(path), "--help"], capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage" in (done.stdout + done.stderr).lower()


def test_our_stack_was_not_downgraded() -> None:
    import torch

    assert torch.__version__.startswith("2.13.0")
    # Flower's caps would pull these below what the service and CLI are written for.
    assert int(metadata.version("typer").split(".")[1]) > 20
    assert int(metadata.version("fastapi").split(".")[1]) > 138

"""A real federation: one SuperLink, one SuperNode per lender, over TLS, every lender
authenticated.

- **TLS**: the SuperLink serves its certificate from GreenScore's own TLS code
  (:func:`greenscore.security.tls.generate_self_signed`, what ``greenscore tls
  selfsigned`` writes) unless the bank's CA gave one; SuperNodes and the ``flwr`` CLI
  trust it through ``--root-certificates``.
- **Node authentication**: the SuperLink runs with ``--enable-supernode-auth``; each
  lender has an EC P-384 key pair (:func:`node_keys`); the consortium operator registers
  the lender's public key (``flwr supernode register``) and only registered SuperNodes,
  proving possession of the private key on every request, are let in.
- **No code installation**: SuperLink and SuperNodes run with
  ``--disable-runtime-dependency-installation``; the ServerApp and ClientApp are
  GreenScore's own modules, installed with it.
- **Flower App**: ``flwr run`` needs an app folder; :func:`write_flower_app` writes one
  whose components are :mod:`greenscore.federated.server_app` and
  :mod:`greenscore.federated.client_app`, and whose run config lists every plan setting.

Each function returns the command it would run, or runs it; the CLI (``greenscore
federate server|client``) and the end-to-end tests use the same ones.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import tomli_w

from greenscore.errors import ConfigError, ModelError
from greenscore.federated.plan import FederationPlan

CONNECTION = "greenscore"
APP_NAME = "greenscore-federation"
ERR_TOOL = "Flower's '{tool}' command is not installed in this environment (pip install flwr)"
ERR_PORT = "{what} did not open {host}:{port} within {seconds:g} s; its log: {log}"
ERR_REGISTER = "could not register the lender key {key}: {why}"
ERR_RUN = "flwr run failed: {why}"
ERR_RUN_TIMEOUT = "the federated run {run_id} did not finish within {seconds:g} s"


def flower_env(base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """The environment for Flower's processes: this Python's ``bin`` first on ``PATH``.

    Flower starts its helpers (``flower-superexec``, ``flwr-clientapp``) by bare name, so
    a venv that is not activated (``make test`` runs ``.venv/bin/python``) must still be
    found first.
    """
    env = dict(os.environ if base is None else base)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([venv_bin, env.get("PATH", "")]) if env.get("PATH") else venv_bin
    env.update(extra)
    return env


def _tool(name: str) -> str:
    """Path of a Flower console script next to this Python (the venv's bin)."""
    candidate = Path(sys.executable).with_name(name)
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        raise ConfigError(ERR_TOOL.format(tool=name))
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    host: str, port: int, *, seconds: float, what: str, log: Path | None = None
) -> None:
    """Wait until ``host:port`` accepts connections.

    Raises
    ------
    ModelError
        When it does not within ``seconds`` (naming the process's log).
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise ModelError(
        ERR_PORT.format(what=what, host=host, port=port, seconds=seconds, log=log or "-")
    )


# ---------------------------------------------------------------- credentials
def tls_pair(folder: Path, host: str = "localhost") -> tuple[Path, Path]:
    """The SuperLink's certificate and key: existing ones in ``folder``, else new ones."""
    from greenscore.security.tls import CERT_FILE, KEY_FILE, generate_self_signed

    cert, key = folder / CERT_FILE, folder / KEY_FILE
    if cert.is_file() and key.is_file():
        return cert, key
    return generate_self_signed(folder, host=host)


def node_keys(folder: Path, lender: str) -> tuple[Path, Path]:
    """Write a lender's EC P-384 key pair (OpenSSH format, as Flower reads it).

    Returns (private key path, public key path); the private key is owner-only.
    """
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    private = folder / f"{lender}.key"
    public = folder / f"{lender}.pub"
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.OpenSSH,
                serialization.NoEncryption(),
            )
        )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
    )
    return private, public


# ---------------------------------------------------------------- SuperLink side
def superlink_command(
    *, host: str, port: int, cert: Path, key: Path, database: Path, health_port: int
) -> list[str]:
    """``flower-superlink`` with TLS, node authentication and no runtime installs."""
    return [
        _tool("flower-superlink"),
        "--ssl-ca-certfile", str(cert),
        "--ssl-certfile", str(cert),
        "--ssl-keyfile", str(key),
        "--enable-supernode-auth",
        "--disable-runtime-dependency-installation",
        "--host", host,
        "--port", str(port),
        "--health-server-address", f"{host}:{health_port}",
        "--database", str(database),
    ]  # fmt: skip


def write_flower_config(flwr_home: Path, *, address: str, cert: Path) -> Path:
    """The ``flwr`` CLI's connection to the SuperLink (``FLWR_HOME/config.toml``)."""
    flwr_home.mkdir(parents=True, exist_ok=True)
    path = flwr_home / "config.toml"
    config = {
        "superlink": {
            "default": CONNECTION,
            CONNECTION: {"address": address, "root-certificates": str(cert.resolve())},
        }
    }
    path.write_text(tomli_w.dumps(config), "utf-8")
    return path


def _flwr(
    args: list[str], *, flwr_home: Path, cwd: Path | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    env = flower_env(FLWR_HOME=str(flwr_home))
    return subprocess.run(
        [_tool("flwr"), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def register_node(flwr_home: Path, public_key: Path) -> int:
    """Register a lender's public key with the SuperLink; return its node id.

    Raises
    ------
    ModelError
        If the SuperLink refuses (e.g. the key is already registered).
    """
    done = _flwr(
        ["supernode", "register", str(public_key), CONNECTION, "--format", "json"],
        flwr_home=flwr_home,
    )
    try:
        data = json.loads(done.stdout)
    except json.JSONDecodeError:
        data = {}
    if done.returncode != 0 or not data.get("success", False):
        why = data.get("error-message") or (done.stderr or done.stdout).strip()[-400:]
        raise ModelError(ERR_REGISTER.format(key=public_key, why=why))
    return int(data["node-id"])


def write_flower_app(folder: Path, plan: FederationPlan) -> Path:
    """A Flower App folder whose components are GreenScore's ServerApp and ClientApp."""
    folder.mkdir(parents=True, exist_ok=True)
    project = {
        "build-system": {"requires": ["hatchling"], "build-backend": "hatchling.build"},
        "project": {
            "name": APP_NAME,
            "version": "1.0.0",
            "description": "GreenScore federated credit-risk training",
            "license": "Apache-2.0",
            "dependencies": [],
        },
        "tool": {
            "flwr": {
                "app": {
                    "publisher": "greenscore",
                    "components": {
                        "serverapp": "greenscore.federated.server_app:app",
                        "clientapp": "greenscore.federated.client_app:app",
                    },
                    "config": FederationPlan().to_run_config(),
                }
            }
        },
    }
    (folder / "pyproject.toml").write_text(tomli_w.dumps(project), "utf-8")
    (folder / "run-config.toml").write_text(tomli_w.dumps(plan.to_run_config()), "utf-8")
    return folder


def submit_run(flwr_home: Path, app: Path) -> int:
    """Start the federated run on the SuperLink; return its run id.

    Raises
    ------
    ModelError
        If ``flwr run`` fails.
    """
    done = _flwr(
        [
            "run",
            str(app),
            CONNECTION,
            "--run-config",
            str(app / "run-config.toml"),
            "--format",
            "json",
        ],
        flwr_home=flwr_home,
    )
    try:
        data = json.loads(done.stdout)
    except json.JSONDecodeError:
        data = {}
    if done.returncode != 0 or not data.get("success", False):
        raise ModelError(
            ERR_RUN.format(
                why=data.get("error-message") or (done.stderr or done.stdout).strip()[-400:]
            )
        )
    return int(data["run-id"])


def run_status(flwr_home: Path, run_id: int) -> str:
    """The run's status as ``flwr ls`` reports it (``running``, ``finished:completed``...)."""
    done = _flwr(
        ["ls", CONNECTION, "--run-id", str(run_id), "--format", "json"], flwr_home=flwr_home
    )
    try:
        runs = json.loads(done.stdout).get("runs", [])
    except json.JSONDecodeError:
        return "unknown"
    return str(runs[0].get("status", "unknown")) if runs else "unknown"


def wait_for_run(flwr_home: Path, run_id: int, *, seconds: float, poll: float = 2.0) -> str:
    """Wait until the run finishes; return its final status.

    Raises
    ------
    ModelError
        If it does not finish within ``seconds``.
    """
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = run_status(flwr_home, run_id)
        if status.startswith("finished"):
            return status
        time.sleep(poll)
    raise ModelError(ERR_RUN_TIMEOUT.format(run_id=run_id, seconds=seconds))


# ---------------------------------------------------------------- SuperNode side
def supernode_command(
    *,
    superlink: str,
    root_cert: Path,
    private_key: Path,
    node_config: dict[str, str],
    port: int,
    health_port: int,
) -> list[str]:
    """``flower-supernode`` over TLS, authenticated by the lender's key.

    Runtime installation of app dependencies is off by default on a SuperNode (Flower
    has no flag to turn it off there, only one to allow it, which is not passed).
    """
    config = " ".join(f"{k}={json.dumps(str(v))}" for k, v in node_config.items())
    return [
        _tool("flower-supernode"),
        "--root-certificates", str(root_cert),
        "--superlink", superlink,
        "--auth-supernode-private-key", str(private_key),
        "--node-config", config,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--health-server-address", f"127.0.0.1:{health_port}",
    ]  # fmt: skip


# ---------------------------------------------------------------- whole roles
def run_server(
    plan: FederationPlan,
    *,
    lender_keys: list[Path],
    workdir: Path,
    host: str = "127.0.0.1",
    port: int = 9091,
    cert: Path | None = None,
    key: Path | None = None,
    wait_seconds: float = 3600.0,
    join_seconds: float = 600.0,
) -> tuple[int, str]:
    """Start the SuperLink, register the lenders, run the federation, stop; return
    (run id, final status). The model and report land in ``plan.out``.

    The SuperLink waits up to ``join_seconds`` for the registered lenders to connect
    (the run starts with those online; the strategy waits for ``plan.min_lenders``).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    if cert is None or key is None:
        cert, key = tls_pair(
            workdir / "tls", host="localhost" if host in {"127.0.0.1", "localhost"} else host
        )
    health = free_port(host)
    log_path = workdir / "superlink.log"
    link = subprocess.Popen(
        superlink_command(
            host=host,
            port=port,
            cert=cert,
            key=key,
            database=workdir / "superlink.db",
            health_port=health,
        ),
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        cwd=workdir,
        env=flower_env(),
    )
    try:
        wait_for_port(host, port, seconds=60, what="the SuperLink", log=log_path)
        flwr_home = workdir / "flwr-home"
        write_flower_config(flwr_home, address=f"{host}:{port}", cert=cert)
        for public in lender_keys:
            register_node(flwr_home, public)
        app = write_flower_app(workdir / "app", plan)
        _wait_for_nodes(flwr_home, len(lender_keys), seconds=join_seconds)
        run_id = submit_run(flwr_home, app)
        return run_id, wait_for_run(flwr_home, run_id, seconds=wait_seconds)
    finally:
        link.terminate()
        try:
            link.wait(timeout=20)
        except subprocess.TimeoutExpired:
            link.kill()


def online_nodes(flwr_home: Path) -> int:
    """How many registered SuperNodes are online now."""
    done = _flwr(["supernode", "list", CONNECTION, "--format", "json"], flwr_home=flwr_home)
    try:
        nodes = json.loads(done.stdout).get("nodes", [])
    except json.JSONDecodeError:
        return 0
    return sum(1 for n in nodes if str(n.get("status", "")).startswith("online"))


def _wait_for_nodes(flwr_home: Path, count: int, *, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and online_nodes(flwr_home) < count:
        time.sleep(2.0)


def run_client(
    *,
    superlink: str,
    root_cert: Path,
    private_key: Path,
    lender: str,
    data: Path,
    spec_fingerprint: str,
    epsilon_budget: float | None = None,
) -> int:
    """Run this lender's SuperNode until it is stopped; return its exit code.

    The lender's spec fingerprint travels in its node config: a task from a federation
    using another spec is refused (:data:`greenscore.federated.lender_data.ERR_SPEC`).
    """
    node_config = {
        "lender": lender,
        "data": str(Path(data).resolve()),
        "spec-fingerprint": spec_fingerprint,
    }
    if epsilon_budget is not None:
        node_config["epsilon-budget"] = str(epsilon_budget)
    command = supernode_command(
        superlink=superlink,
        root_cert=root_cert,
        private_key=private_key,
        node_config=node_config,
        port=free_port(),
        health_port=free_port(),
    )
    return subprocess.call(command)

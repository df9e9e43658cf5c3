"""Reads the ``greenscore`` commands out of Markdown files and runs them as a reader would.

Not a test module: :mod:`test_doc_commands` uses it. A command is a line of a fenced
``bash``/``sh``/``shell``/``console`` block whose first word is ``greenscore`` (a leading
``$ `` is dropped, ``\\`` continues a line, ``# ...`` comments are the shell's). Each file runs
in a *world*: a scratch folder with a home of its own (``GREENSCORE_HOME``), the working
directory ``work/`` and, one level up, ``shared/data/`` holding small samples of the real
datasets, so ``../shared/data/UCI_Credit_Card.csv`` in a page reads 400 rows.

Two things a reader supplies are supplied: ``--totp CODE`` (any digits shown in the page)
becomes the current code of the operator the command names, from the secret ``greenscore
mfa enroll`` printed (the next time step when the current one was used: codes are
single-use); and ``/mnt/worm`` (the anchor's write-once store in the pages) is a folder of
the world. Long-running servers (``serve``, ``dashboard``, ``mlflow ui``, ``--schedule``)
must start, then they are stopped: one given a ``--port`` gets a free port instead (two
runs never collide) and has started once that port accepts a connection; one without a port
must still be running after a few seconds; while a started server runs, the world's
``while_serving`` (if any) is called with its port — what a reader does with a running
server (the README's applications are sent to ``serve``). A comment ``# exits N ...`` on a command line
says the page documents that exit code, which the runner then accepts besides 0.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SHELLS = {"bash", "sh", "shell", "console"}
#: A command line: ``greenscore ...``, optionally after ``VAR=value`` assignments.
COMMAND = re.compile(r"^(\w+=\S+\s+)*greenscore(\s|$)")
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w-]*)")
SERVERS = (("serve",), ("dashboard",), ("mlflow", "ui"), ("federate", "server"))
SERVER_GRACE_S = 8.0
#: How long a server with a port may take to accept a connection (imports, model load).
SERVER_START_S = 180.0
PORT = re.compile(r"--port\s+(\d+)")
DOCUMENTED_EXIT = re.compile(r"#.*\bexits\s+(\d+)\b")
TOTP = re.compile(r"--totp\s+(\S+)")
SECRET = re.compile(r"secret:\s*([A-Z2-7]{16,})")
API_KEY = re.compile(r"^key:\s*(\S+)", re.M)
REAL_DATA = Path("/work/shared/data")
SAMPLE_ROWS = 400


@dataclass
class Command:
    """One command as written, where it was written."""

    file: Path
    line: int
    text: str

    @property
    def accepted_exits(self) -> set[int]:
        """0, and the exit code a ``# exits N`` comment on the line documents."""
        found = DOCUMENTED_EXIT.search(self.text)
        return {0} | ({int(found.group(1))} if found else set())


def commands_in(path: Path) -> list[Command]:
    """The ``greenscore`` commands of the shell blocks of one Markdown file, in order."""
    out: list[Command] = []
    in_block, shell, fence = False, False, ""
    pending, start = "", 0
    for number, raw in enumerate(path.read_text("utf-8").splitlines(), start=1):
        match = FENCE.match(raw)
        if not in_block and match:
            in_block, fence, shell = True, match.group(2), match.group(3).lower() in SHELLS
            continue
        if in_block and raw.strip().startswith(fence[:3]) and raw.strip().strip(fence[0]) == "":
            in_block = False
            continue
        if not (in_block and shell):
            continue
        line = raw.strip()
        if line.startswith("$ "):
            line = line[2:]
        if pending:
            pending += " " + line
        elif COMMAND.match(line):
            pending, start = line, number
        else:
            continue
        if pending.endswith("\\"):
            pending = pending[:-1].rstrip()
            continue
        out.append(Command(path, start, pending))
        pending = ""
    return out


def _words(text: str) -> list[str]:
    return shlex.split(text, comments=True)


def is_server(text: str) -> bool:
    words = _words(text)
    words = words[words.index("greenscore") + 1 :]
    if "--schedule" in words:
        return True
    return any(words[: len(s)] == list(s) for s in SERVERS)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def sample_shared_data(folder: Path) -> None:
    """``folder`` gets the first rows of each real dataset, under the same names."""
    folder.mkdir(parents=True, exist_ok=True)
    for source in sorted(REAL_DATA.glob("*.csv")):
        with source.open(encoding="utf-8") as handle:
            lines = [next(handle) for _ in range(SAMPLE_ROWS + 1)]
        (folder / source.name).write_text("".join(lines), encoding="utf-8")


@dataclass
class World:
    """A scratch place where one page's commands run in order."""

    root: Path
    secrets: dict[str, str] = field(default_factory=dict)
    last_step: dict[str, int] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    #: API keys ``greenscore keys create --name NAME`` printed, by name.
    keys: dict[str, str] = field(default_factory=dict)
    #: Called with (world, server command, port) while a started server with a port runs.
    while_serving: Callable[[World, str, int], None] | None = None

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        bin_dir = str(Path(sys.executable).parent)
        env.update(
            GREENSCORE_HOME=str(self.root / "home"),
            PATH=f"{bin_dir}:{env.get('PATH', '')}",
            MLFLOW_DISABLE_TELEMETRY="true",
            DO_NOT_TRACK="true",
            COLUMNS="200",
        )
        return env

    def prepare(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        (self.root / "worm").mkdir(exist_ok=True)
        if not (self.root / "shared" / "data").is_dir():
            sample_shared_data(self.root / "shared" / "data")

    def _totp(self, text: str) -> str:
        """``text`` with its ``--totp`` digits replaced by a valid, unused code."""
        import pyotp

        if not TOTP.search(text):
            return text
        words = _words(text)
        user = None
        for flag in ("--by", "--user"):
            if flag in words:
                user = words[words.index(flag) + 1]
                break
        if user is None or user not in self.secrets:
            raise AssertionError(f"{text!r}: no enrolled operator to take a TOTP code from")
        totp = pyotp.TOTP(self.secrets[user])
        # A code is accepted once per 30 s step, and one step of drift either way: use the
        # next unused step, waiting only when both the current and the next are spent.
        while True:
            step = int(time.time()) // 30
            wanted = max(step, self.last_step.get(user, -1) + 1)
            if wanted <= step + 1:
                break
            time.sleep(1.0)
        self.last_step[user] = wanted
        code = totp.at(wanted * 30)
        return TOTP.sub(f"--totp {code}", text, count=1)

    def run(self, command: Command, timeout: float = 900.0) -> subprocess.CompletedProcess[str]:
        """Run one command (as bash would) and return what it did; servers are stopped."""
        text = self._totp(command.text).replace("/mnt/worm", str(self.root / "worm"))
        if is_server(text):
            return self._run_server(text)
        done = subprocess.run(
            ["bash", "-c", text],
            cwd=self.work,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.log.append(f"$ {text}\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        for user_flag in re.finditer(r"mfa enroll .*--user\s+(\S+)", text):
            found = SECRET.search(done.stdout)
            if found:
                self.secrets[user_flag.group(1)] = found.group(1)
        for name_flag in re.finditer(r"keys create .*--name\s+(\S+)", text):
            found = API_KEY.search(done.stdout)
            if found:
                self.keys[name_flag.group(1)] = found.group(1)
        return done

    def _run_server(self, text: str) -> subprocess.CompletedProcess[str]:
        port = _free_port() if PORT.search(text) else None
        if port is not None:
            text = PORT.sub(f"--port {port}", text, count=1)
        process = subprocess.Popen(
            ["bash", "-c", f"exec {text}"],
            cwd=self.work,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        code = self._wait_started(process, port)
        if code == 0 and port is not None and self.while_serving is not None:
            try:
                self.while_serving(self, text, port)
            except BaseException:
                os.killpg(process.pid, signal.SIGKILL)
                raise
        if code == 0:  # still serving: it started
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        out, err = process.communicate()
        self.log.append(f"$ {text} (server)\n{out[-2000:]}{err[-2000:]}")
        return subprocess.CompletedProcess(text, code, out, err)

    @staticmethod
    def _wait_started(process: subprocess.Popen[str], port: int | None) -> int:
        """0 once the server accepts connections on ``port`` (or, without a port, is still
        running after the grace time); its exit code if it ended first; 1 if it never
        listened in time."""
        if port is None:
            try:
                return process.wait(timeout=SERVER_GRACE_S)
            except subprocess.TimeoutExpired:
                return 0
        deadline = time.monotonic() + SERVER_START_S
        while time.monotonic() < deadline:
            code = process.poll()
            if code is not None:
                return code if code != 0 else 1  # a server that ends by itself did not serve
            if _listening(port):
                return 0
            time.sleep(0.2)
        return 1

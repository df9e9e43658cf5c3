"""After the suite, ``greenscore audit verify`` on every GreenScore home the tests made.

A pytest plugin (tests/conftest.py calls :func:`register`). At the end of a session, on each xdist
worker (or the one process without xdist), it finds every home folder under the
session's temporary directory (a folder holding ``greenscore.db``) and checks its audit
chain with :func:`greenscore.security.verify_chain`, the function ``greenscore audit
verify`` runs. A broken chain fails the session, naming the home and the first bad event;
the summary says how many chains were verified, so a run that checked nothing shows it.

Left out, and counted as such:

- homes a test marked ``@pytest.mark.tampers_audit`` created or changed (snapshots of the
  homes are taken around each marked test): they are broken on purpose;
- homes with no audit entries (nothing to verify);
- homes whose keyring cannot be opened with any master key the tests used (the
  home's generated ``keys/master.key`` or a ``GREENSCORE_MASTER_KEY`` value seen while a
  test ran), or that have entries but no keyring: their chain key cannot be had, which
  says nothing about the chain; they are listed by reason.

Nothing is created in a home that would not be there anyway: the keyring is opened only
where it exists, and the master key candidates are given as files outside the homes.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

DB_NAME = "greenscore.db"
MASTER_KEY_ENV = "GREENSCORE_MASTER_KEY"
MARKER = "tampers_audit"
# An environment variable nobody sets, so the checker's settings read the master key from
# the candidate file it names and never from the session's environment.
_NO_ENV = "GREENSCORE_AUDIT_CHECK_NO_MASTER_KEY"
_WORKER_KEY = "greenscore_audit_chains"


@dataclass
class HomeResult:
    """What checking one home found."""

    home: str
    status: str  # verified | broken | empty | tampered | unverifiable
    entries: int = 0
    detail: str = ""


@dataclass
class Summary:
    """All homes' results, from one process or gathered from the xdist workers."""

    results: list[HomeResult] = field(default_factory=list)

    def by(self, status: str) -> list[HomeResult]:
        return [r for r in self.results if r.status == status]

    def lines(self, *, verbose: bool = False) -> list[str]:
        verified = self.by("verified")
        out = [
            f"audit chains verified: {len(verified)} homes, "
            f"{sum(r.entries for r in verified)} entries; broken: {len(self.by('broken'))}; "
            f"left out: {len(self.by('tampered'))} tampered on purpose, "
            f"{len(self.by('empty'))} without entries, "
            f"{len(self.by('unverifiable'))} whose chain key cannot be had"
        ]
        for r in self.by("broken"):
            out.append(f"BROKEN audit chain in {r.home}: {r.detail}")
        if verbose:
            for r in self.by("tampered"):
                out.append(f"  left out (tampered on purpose): {r.home} by {r.detail}")
        for r in self.by("unverifiable"):
            out.append(f"  not verifiable: {r.home}: {r.detail}")
        return out


def find_homes(root: Path) -> list[Path]:
    """Every folder under ``root`` holding a GreenScore SQLite database."""
    homes = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(folder, d))]
        if DB_NAME in files:
            homes.append(Path(folder))
    return sorted(homes)


def _signature(home: Path) -> tuple[tuple[str, int, int], ...]:
    """When and how much the database (and its journals) last changed."""
    out = []
    for suffix in ("", "-wal", "-journal"):
        try:
            st = (home / (DB_NAME + suffix)).stat()
        except FileNotFoundError:
            continue
        out.append((suffix, st.st_mtime_ns, st.st_size))
    return tuple(out)


def snapshot(root: Path) -> dict[Path, tuple[tuple[str, int, int], ...]]:
    """Each home under ``root`` and its database's signature."""
    return {home: _signature(home) for home in find_homes(root)}


def _audit_rows(home: Path) -> tuple[int, bool] | None:
    """(entries, has a chain head) read without GreenScore, or None without audit tables."""
    uri = f"file:{home / DB_NAME}?mode=ro"
    try:
        with sqlite3.connect(uri, uri=True, timeout=30) as conn:
            entries = conn.execute("SELECT COUNT(*) FROM security_audit_log").fetchone()[0]
            heads = conn.execute("SELECT COUNT(*) FROM security_audit_head").fetchone()[0]
    except sqlite3.DatabaseError:
        return None
    return int(entries), bool(heads)


def _keyed(home: Path) -> bool:
    """Whether the log has its switch-over record (every chain since release 0.1.0 has)."""
    uri = f"file:{home / DB_NAME}?mode=ro"
    try:
        with sqlite3.connect(uri, uri=True, timeout=30) as conn:
            return bool(conn.execute("SELECT COUNT(*) FROM security_audit_keying").fetchone()[0])
    except sqlite3.DatabaseError:
        return False


def _event_action(home: Path, entry_id: int | None) -> str:
    if entry_id is None:
        return "?"
    uri = f"file:{home / DB_NAME}?mode=ro"
    with sqlite3.connect(uri, uri=True, timeout=30) as conn:
        row = conn.execute(
            "SELECT action, ts FROM security_audit_log WHERE id = ?", (entry_id,)
        ).fetchone()
    return f"'{row[0]}' at {row[1]}" if row else "(no such entry)"


def _candidate_files(home: Path, seen_keys: list[str], key_dir: Path) -> Iterator[Path]:
    """Files holding each master key the home may have been keyed with."""
    generated = home / "keys" / "master.key"
    if generated.exists():
        yield generated
    for value in list(seen_keys):
        # Named by the key's digest: the same key is the same file (and the same cached
        # derived key) however the list is reordered.
        path = key_dir / f"candidate-{hashlib.sha256(value.encode()).hexdigest()[:16]}.key"
        if not path.exists():
            path.write_text(value, encoding="utf-8")
            path.chmod(0o600)
        yield path


def check_home(home: Path, seen_keys: list[str], key_dir: Path) -> HomeResult:
    """Verify one home's audit chain with the product's own verification.

    Parameters
    ----------
    home : Path
        A folder holding ``greenscore.db``.
    seen_keys : list of str
        ``GREENSCORE_MASTER_KEY`` values the tests used, tried after the home's own key.
    key_dir : Path
        A private folder outside the homes for the candidate key files.
    """
    from greenscore.config import Settings
    from greenscore.errors import PrivacyError
    from greenscore.privacy.keys import Keyring
    from greenscore.security import verify_chain

    rows = _audit_rows(home)
    if rows is None or rows == (0, False):
        return HomeResult(str(home), "empty")
    entries, _ = rows
    if not (home / "keys" / "keyring.gsk").exists():
        why = "entries but no keys/keyring.gsk"
        if not _keyed(home):
            why = "an unkeyed chain of release 0.1.0 and no keyring (a migration fixture)"
        return HomeResult(str(home), "unverifiable", entries, why)
    refusals = []
    for key_file in _candidate_files(home, seen_keys, key_dir):
        settings = Settings(
            home=home,
            database_url=None,
            environment="test",
            privacy={"master_key_env": _NO_ENV, "master_key_file": key_file},
        )
        try:
            Keyring.open(settings)  # the keyring exists: this only reads it
        except PrivacyError as exc:
            refusals.append(str(exc).split(":")[0])
            continue
        if key_file.parent == key_dir:  # most homes share a key: try this one first next time
            value = key_file.read_text(encoding="utf-8")
            seen_keys.remove(value)
            seen_keys.insert(0, value)
        result = verify_chain(settings=settings)
        if result.ok:
            return HomeResult(str(home), "verified", result.checked)
        return HomeResult(
            str(home),
            "broken",
            entries,
            f"{result.reason}; first bad event: id {result.first_bad_id}, "
            f"{_event_action(home, result.first_bad_id)}",
        )
    why = "; ".join(dict.fromkeys(refusals)) or "no master key candidate"
    return HomeResult(str(home), "unverifiable", entries, f"keyring not opened ({why})")


def check_homes(
    homes: list[Path], seen_keys: list[str], tampered: dict[Path, str]
) -> list[HomeResult]:
    """Check every home, leaving out those tests tampered with on purpose."""
    results = []
    with tempfile.TemporaryDirectory(prefix="gs-audit-check-") as key_dir:
        for home in homes:
            if home in tampered:
                results.append(HomeResult(str(home), "tampered", detail=tampered[home]))
                continue
            results.append(check_home(home, seen_keys, Path(key_dir)))
    return results


def register(config: pytest.Config) -> None:
    """Register the marker and the plugin (from a conftest's ``pytest_configure``)."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}: breaks the audit chain of its homes on purpose; the check that every "
        "home's chain verifies after the session leaves them out",
    )
    config.pluginmanager.register(AuditChainCheck(config), "greenscore-audit-chains")


class AuditChainCheck:
    """The plugin: watches marked tests and master keys, checks the homes at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.seen_keys: list[str] = []
        self.tampered: dict[Path, str] = {}
        self.gathered: list[dict[str, Any]] = []
        self.summary: Summary | None = None

    def _root(self) -> Path:
        return self.config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]

    def _note_key(self) -> None:
        value = os.environ.get(MASTER_KEY_ENV)
        if value and value not in self.seen_keys:
            self.seen_keys.append(value)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, None, None]:
        marked = item.get_closest_marker(MARKER) is not None
        before = snapshot(self._root()) if marked else {}
        yield
        if marked:
            for home, signature in snapshot(self._root()).items():
                if before.get(home) != signature:
                    self.tampered.setdefault(home, item.nodeid)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Generator[None, None, None]:
        yield
        self._note_key()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Generator[None, None, None]:
        yield
        self._note_key()

    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """xdist controller: keep each worker's results."""
        output = getattr(node, "workeroutput", {}) or {}
        self.gathered.extend(output.get(_WORKER_KEY, []))

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        worker = hasattr(self.config, "workerinput")
        if not worker and getattr(self.config.option, "numprocesses", None):
            results = [HomeResult(**r) for r in self.gathered]  # the workers checked
        else:
            homes = find_homes(self._root())
            results = check_homes(homes, self.seen_keys, self.tampered)
            if worker:
                self.config.workeroutput[_WORKER_KEY] = [r.__dict__ for r in results]  # type: ignore[attr-defined]
                return
        self.summary = Summary(results)
        if self.summary.by("broken"):
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.summary is None:
            return
        broken = bool(self.summary.by("broken"))
        terminalreporter.section("audit chains (greenscore audit verify)", red=broken, bold=broken)
        for line in self.summary.lines(verbose=self.config.get_verbosity() > 0):
            terminalreporter.write_line(line)

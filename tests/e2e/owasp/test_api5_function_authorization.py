"""OWASP API5 (broken function-level authorisation): every role × every route, generated.

The matrix is not written by hand. The routes come from the application itself (the
routes of ``create_app``, as the server runs them); the action each route checks is read
from its dependencies (``greenscore.serving.deps.permission``); what each role may do, and
which actions also need a second factor, come from the permission table
(``greenscore.security.rbac.PERMISSIONS`` / ``MFA_ACTIONS``). A new route is therefore in
the matrix the moment it exists, and one that checks no permission fails here unless it
is on the short, explicit list of public routes.

Each cell is a real request to the real server, for every caller kind: no credentials,
then for each role an API key, a token without and a token with a second factor. The
answer must be 401 without credentials; 403 for a role the table does not allow; 401 for
an allowed role without the second factor an MFA action needs; otherwise not 401/403 (the
request body is a JSON array, which every body model refuses with 422, so an allowed call
changes nothing).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from greenscore.config import use_settings
from greenscore.security.rbac import MFA_ACTIONS, PERMISSIONS, ROLES

from .owasp_env import Owasp, effective_routes

#: Routes that check no permission on purpose: probes, metrics (its own token or loopback
#: check, tested in API8), the OpenAPI document and the documentation pages.
PUBLIC = {
    ("GET", "/health/live"),
    ("GET", "/health/ready"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/redoc"),
    ("GET", "/docs/oauth2-redirect"),
    ("GET", "/docs/assets"),
}
#: Mounted static folders (the documentation's own assets, served from this host).
STATIC = {"/docs/assets"}
_NAMES = {
    f"permission_{a.replace(':', '_')}{s}": a for a in PERMISSIONS for s in ("", "_uncounted")
}


def _permission_names(dependant: Any) -> Iterator[str]:
    for dep in dependant.dependencies:
        name = getattr(dep.call, "__name__", "")
        if name.startswith("permission_"):
            yield name
        yield from _permission_names(dep)


def route_table(app: Any) -> dict[tuple[str, str], str | None]:
    """(method, path) -> the action the route checks (None: it checks none)."""
    table: dict[tuple[str, str], str | None] = {}
    for path, methods, route in effective_routes(app):
        if isinstance(route, Mount) and path in STATIC and isinstance(route.app, StaticFiles):
            table[("GET", path)] = None  # files only: the documentation's scripts and styles
            continue
        if not isinstance(route, Route):
            raise AssertionError(f"a mounted sub-application is outside this matrix: {path}")
        names = list(_permission_names(route.dependant)) if isinstance(route, APIRoute) else []
        unknown = [n for n in names if n not in _NAMES]
        assert not unknown, f"{path} checks actions not in the permission table: {unknown}"
        actions = {_NAMES[n] for n in names}
        assert len(actions) <= 1, f"{path} checks several actions: {actions}"
        for method in sorted(methods):
            if method != "HEAD":
                table[(method, path)] = next(iter(actions), None)
    return table


@pytest.fixture(scope="module")
def table(owasp: Owasp) -> dict[tuple[str, str], str | None]:
    from greenscore.serving.app import create_app

    use_settings(owasp.settings)  # the bundle's signature is checked with this home's keys
    app = create_app(owasp.settings, model=str(owasp.home / "model"))
    return route_table(app)


def _callers(owasp: Owasp) -> list[tuple[str, str | None, bool, dict[str, str]]]:
    """(label, role, mfa, headers) of every caller kind; role None: no credentials."""
    callers: list[tuple[str, str | None, bool, dict[str, str]]] = [("anonymous", None, False, {})]
    for role in ROLES:
        key = owasp.key(f"api5-{role}", role)
        callers.append((f"{role} key", role, False, {"X-API-Key": key}))
        for mfa in (False, True):
            token = owasp.token(f"api5-{role}-{mfa}", role, mfa=mfa)
            callers.append(
                (
                    f"{role} token{' +mfa' if mfa else ''}",
                    role,
                    mfa,
                    {"Authorization": f"Bearer {token}"},
                )
            )
    return callers


def expected(action: str | None, role: str | None, mfa: bool) -> str:
    """What the table says: 401, 403 or allowed."""
    if action is None:
        return "public"
    if role is None:
        return "401"
    if role not in PERMISSIONS[action]:
        return "403"
    if action in MFA_ACTIONS and not mfa:
        return "401"
    return "allowed"


def test_every_route_checks_a_permission_or_is_declared_public(table) -> None:
    unchecked = {route for route, action in table.items() if action is None}
    assert unchecked <= PUBLIC, f"routes without a permission check: {unchecked - PUBLIC}"
    protected = {route for route, action in table.items() if action is not None}
    assert len(protected) >= 11, protected  # the matrix below is not vacuous
    # Every role is refused somewhere and allowed somewhere: the table is not all-or-nothing.
    for role in ROLES:
        cells = {expected(a, role, True) for a in table.values() if a is not None}
        assert "allowed" in cells, role
    assert {"403"} <= {expected(a, "scorer", True) for a in table.values() if a}


def test_every_role_on_every_route_gets_what_the_permission_table_says(owasp: Owasp, table) -> None:
    wrong: list[str] = []
    cells = 0
    with owasp.server.client() as c:
        for ((method, path), action), (label, role, mfa, headers) in itertools.product(
            sorted(table.items(), key=lambda kv: kv[0]), _callers(owasp)
        ):
            if action is None:
                continue
            url = re.sub(r"\{[^}]+\}", "0" * 32, path)  # an id that names nothing
            r = c.request(
                method, url, headers={**headers, "content-type": "application/json"}, content=b"[]"
            )
            want = expected(action, role, mfa)
            got = r.status_code
            ok = got == int(want) if want in ("401", "403") else got not in (401, 403)
            cells += 1
            if not ok:
                wrong.append(f"{method} {path} ({action}) as {label}: {got}, expected {want}")
            assert got < 500, (method, path, label, r.text)
    assert not wrong, "\n".join(wrong)
    assert cells >= 11 * 10

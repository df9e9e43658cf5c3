"""OWASP API9 (improper inventory management): every route is in the OpenAPI document,
documented, and nothing answers that is not.

The inventory is the application's own route list (``create_app``, as the server runs
it): every API route must be in the document the running server publishes, with an
operation id, a summary, a description, tags, its path parameters and its error answers
(401/403/429 for a protected route, 422 for one that reads input); the only routes left
out of the document are the documentation pages and the document itself. Every route is
versioned (``/v1``) or an operational probe. And the running server answers 404 for the
paths where forgotten or shadow endpoints usually live.
"""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from greenscore.config import use_settings

from .owasp_env import Owasp, effective_routes

#: Routes outside the document on purpose: the document and the pages that render it.
UNDOCUMENTED = {"/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect", "/docs/assets"}
OPERATIONAL = {"/health/live", "/health/ready", "/metrics"}
SHADOW_PATHS = [
    "/admin",
    "/debug",
    "/console",
    "/internal",
    "/graphql",
    "/actuator",
    "/server-status",
    "/.env",
    "/.git/config",
    "/v0/score",
    "/v2/score",
    "/score",
    "/api/score",
    "/v1",
    "/v1/admin",
    "/v1/admin/keys",
    "/v1/admin/users",
    "/v1/keys",
    "/v1/users",
    "/v1/debug",
    "/v1/predictions",
    "/v1/admin/config",
    "/v1/admin/settings",
    "/static/../greenscore.db",
    "/greenscore.db",
    "/keys/master.key",
]


@pytest.fixture(scope="module")
def app(owasp: Owasp):
    from greenscore.serving.app import create_app

    use_settings(owasp.settings)  # the bundle's signature is checked with this home's keys
    return create_app(owasp.settings, model=str(owasp.home / "model"))


@pytest.fixture(scope="module")
def document(owasp: Owasp) -> dict:
    with owasp.server.client() as c:
        return c.get("/openapi.json").json()


def test_every_route_is_in_the_published_document_and_nothing_else_is(app, document) -> None:
    documented = {(m.upper(), p) for p, ops in document["paths"].items() for m in ops}
    routes: set[tuple[str, str]] = set()
    hidden: set[str] = set()
    for path, methods, route in effective_routes(app):
        static = isinstance(route, Mount) and isinstance(route.app, StaticFiles)
        assert static or isinstance(route, Route), (
            f"a mounted application is not inventoried: {path}"
        )
        if isinstance(route, APIRoute) and route.include_in_schema:
            routes |= {(m, path) for m in methods if m != "HEAD"}
        else:
            hidden.add(path)
    assert routes == documented, {"undocumented": routes - documented, "gone": documented - routes}
    assert hidden <= UNDOCUMENTED, f"routes served but not documented: {hidden - UNDOCUMENTED}"
    assert len(routes) >= 14


def test_every_operation_is_documented(app, document) -> None:
    ids = []
    for path, ops in document["paths"].items():
        assert path.startswith("/v1/") or path in OPERATIONAL, f"unversioned route {path}"
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            ids.append(op.get("operationId"))
            assert op.get("summary") and op.get("description"), where
            assert op.get("tags"), where
            named = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert named == set(_path_params(path)), where
            responses = set(op["responses"])
            if path.startswith("/v1/"):
                assert {"401", "403", "429", "503"} <= responses, (where, responses)
                assert op.get("security"), f"{where} declares no security scheme"
            if "requestBody" in op or op.get("parameters"):
                assert "422" in responses, where
            if named:
                assert "404" in responses, where
    assert len(ids) == len(set(ids)) and None not in ids


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def test_schemes_and_version_are_declared(document) -> None:
    schemes = document["components"]["securitySchemes"]
    assert {"ApiKey", "BearerJWT"} <= set(schemes)
    assert document["info"]["version"] and document["info"]["title"]


def test_no_shadow_endpoint_answers(owasp: Owasp) -> None:
    admin = owasp.token("api9-admin", "admin", mfa=True)
    with owasp.client(token=admin) as c:
        for path in SHADOW_PATHS:
            for method in ("GET", "POST"):
                r = c.request(method, path)
                assert r.status_code == 404, (method, path, r.status_code, r.text[:200])
                assert r.json()["error"] == "NotFoundError"

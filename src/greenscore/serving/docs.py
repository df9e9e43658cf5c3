"""The API's documentation pages, served without any outside host.

Swagger UI at ``/docs`` and ReDoc at ``/redoc`` load their scripts and styles from
``/docs/assets``: the copies of Swagger UI 5 and ReDoc 2 that the ``fastapi-offline``
package ships (MIT; Swagger UI is Apache-2.0, ReDoc MIT), so the pages work on a network
that reaches nothing outside and nothing is loaded from a CDN without integrity. Each page
carries a Content-Security-Policy allowing only this origin (plus Swagger UI's one inline
script, by its hash, and inline styles, which both renderers set) and no framing. The
assets may be cached; every other answer of the service is ``no-store``.
"""

from __future__ import annotations

import base64
import hashlib
import re
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_URL = "/docs/assets"
#: Swagger UI and ReDoc bundles shipped by the fastapi-offline package.
ASSETS_DIR = files("fastapi_offline") / "static"
#: Browsers may keep the assets a day (they change only with the package).
ASSETS_CACHE = "public, max-age=86400"

_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)
_POLICY = (
    "default-src 'none'; script-src 'self'{scripts}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self'; connect-src 'self'; worker-src blob:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)


class _Assets(StaticFiles):
    """Static files with a cache header (the middleware's ``no-store`` is kept off)."""

    def file_response(self, *args: Any, **kwargs: Any) -> Any:
        response = super().file_response(*args, **kwargs)
        response.headers["cache-control"] = ASSETS_CACHE
        return response


def content_security_policy(html: str) -> str:
    """The policy of a docs page: this origin only, and the page's inline scripts by hash."""
    hashes = [
        base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        for script in _INLINE_SCRIPT.findall(html)
    ]
    return _POLICY.format(scripts="".join(f" 'sha256-{h}'" for h in hashes))


def _page(response: HTMLResponse) -> HTMLResponse:
    html = bytes(response.body).decode()
    response.headers["content-security-policy"] = content_security_policy(html)
    return response


def add_docs(app: FastAPI) -> None:
    """Serve ``/docs``, ``/redoc`` and their assets (the app is made with both URLs None)."""
    app.mount(ASSETS_URL, _Assets(directory=str(ASSETS_DIR)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _page(
            get_swagger_ui_html(
                openapi_url=f"{root}{app.openapi_url}",
                title=f"{app.title} - Swagger UI",
                swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                # No call to the public validator service (an image from outside).
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _page(
            get_redoc_html(
                openapi_url=f"{root}{app.openapi_url}",
                title=f"{app.title} - ReDoc",
                redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                with_google_fonts=False,
            )
        )

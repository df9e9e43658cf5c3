"""The dashboard as an ASGI app: mounted in the API at ``/dashboard``, or served on its own.

Dash is a WSGI (Flask) app; a2wsgi runs it under ASGI servers (Starlette's own WSGI
adapter is deprecated), and :class:`~greenscore.sustainability.dashboard.gate.OperatorGate`
adds the login and the security headers. Inside the API the live panel reads the
service's own metrics registry, so nothing is fetched over the network.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from greenscore.config import Settings, get_settings
from greenscore.logging import get_logger
from greenscore.sustainability.serving_metrics import MetricsSource

log = get_logger(__name__)

MOUNT_PATH = "/dashboard"


def dashboard_asgi(
    settings: Settings | None = None,
    *,
    prefix: str = "/",
    require_login: bool,
    metrics_source: MetricsSource | None = None,
    tls: bool = False,
) -> Any:
    """The dashboard wrapped for an ASGI server (see the module docstring)."""
    from a2wsgi import WSGIMiddleware

    from greenscore.sustainability.dashboard.app import create_dashboard
    from greenscore.sustainability.dashboard.gate import OperatorGate

    settings = settings or get_settings()
    dash_app = create_dashboard(settings, metrics_source=metrics_source, prefix=prefix)
    dash_app.enable_dev_tools(
        debug=False,
        dev_tools_ui=False,
        dev_tools_props_check=False,
        dev_tools_hot_reload=False,
        dev_tools_serve_dev_bundles=False,
        dev_tools_disable_version_check=True,
    )
    return OperatorGate(
        WSGIMiddleware(dash_app.server, workers=4),
        settings=settings,
        prefix=prefix,
        require_login=require_login,
        csp_hashes=dash_app.csp_hashes(),
        tls=tls,
    )


def mount_dashboard(app: Any, settings: Settings | None = None) -> None:
    """Mount the dashboard in the API at ``/dashboard``, behind operator login.

    Called at the end of :func:`greenscore.serving.app.create_app` when
    ``sustainability.dashboard_in_api`` is set. The live panel reads ``app.state.monitor``.
    """
    from greenscore.sustainability.dashboard.app import metrics_from

    settings = settings or get_settings()
    monitor = getattr(app.state, "monitor", None)
    source = metrics_from(monitor.render) if monitor is not None else None
    app.mount(
        MOUNT_PATH,
        dashboard_asgi(
            settings,
            prefix=MOUNT_PATH + "/",
            require_login=True,
            metrics_source=source,
            tls=settings.serving.tls_cert is not None,
        ),
    )


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_dashboard(
    *, host: str, port: int, settings: Settings | None = None, login: bool | None = None
) -> None:
    """Run the dashboard with uvicorn until stopped.

    On a loopback address it opens without login (one user, this machine); on any other
    address operator login is required unless ``login`` says otherwise explicitly.
    """
    import uvicorn

    settings = settings or get_settings()
    require = (not is_loopback(host)) if login is None else login
    app = dashboard_asgi(settings, prefix="/", require_login=require)
    uvicorn.run(app, host=host, port=port, log_level="warning", lifespan="off")

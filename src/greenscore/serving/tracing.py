"""OpenTelemetry traces of the scoring service: one trace per request, to the audit commit.

Off by default (``observability.tracing_enabled``): then no span is made, the ASGI
middleware is not installed, and the service's hooks are a ``nullcontext`` and a ``None``
per applicant. On, a ``POST /v1/score`` gives one trace::

    POST /v1/score          (server span: this module's middleware)
    ├── validate            (the input guard: ranges, plausibility, input hash)
    ├── score               (runtime encode + PD, points, decision)
    ├── reasons             (reason codes; present even when none were owed)
    └── audit.commit        (the audit events and prediction rows' transaction)

and ``/v1/score/batch`` (and each job chunk, as its own root) the same under a ``decide``
span.

Shared work, one span per request. Requests scored in one micro-batch share one model
call, and the writer thread commits every batch waiting at that moment in one
transaction (a group commit). A span has one parent, so a single shared span (with links
to the requests) would leave every request but one without its scoring or commit in its
own trace, and "where did this decision's time go" could no longer be read from the
trace. So each request gets its own ``score``, ``reasons`` and ``audit.commit`` span,
child of its own server span, with the shared operation's start and end times and
``greenscore.batch.size`` / ``greenscore.commit.decisions`` saying how many decisions it
served: summing those spans across traces double-counts, their count attribute says by
how much. Work is attributed by parent span, so a batch request's 500 applicants give one
``score`` span, not 500. The parent context travels with each
:class:`~greenscore.serving.service.Item` (``Item.trace``) explicitly: the scoring runs in
a loop callback and the commit on the writer thread, where the current context is not the
request's.

What a span holds: route template, method, status, model label, counts, the request id
(``greenscore.request_id``, as ``X-Request-ID``) and an error's class name. Never an
applicant's fields, ids or hashes, and never an exception's message (a refused input's
message quotes the value): exceptions are not recorded as events. The
``opentelemetry-instrumentation-fastapi`` package is not used for that reason (it records
the full URL, the client address and user agent) and for its five extra packages.

The service has its own :class:`~opentelemetry.sdk.trace.TracerProvider`, not the global
one: MLflow's tracing sets and reads the global provider, and two users of it in one
process would export each other's spans.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode

from greenscore.config import ObservabilitySettings

#: The instrumentation scope of every span.
SCOPE = "greenscore.serving"
#: OTLP/HTTP's path for traces under the collector's base URL.
TRACES_PATH = "/v1/traces"

Attributes = Mapping[str, str | bool | int | float]


def traces_endpoint(base: str) -> str:
    """The OTLP/HTTP traces URL of a collector's base URL (``/v1/traces`` added once)."""
    base = base.rstrip("/")
    return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


class Tracing:
    """The service's spans, or none (``provider`` None: tracing off).

    Parameters
    ----------
    provider : TracerProvider, optional
        Where spans go; :meth:`from_settings` builds it.
    """

    def __init__(self, provider: TracerProvider | None = None) -> None:
        self.provider = provider
        self.enabled = provider is not None
        self._tracer = provider.get_tracer(SCOPE) if provider is not None else None

    @classmethod
    def from_settings(
        cls, settings: ObservabilitySettings, *, exporter: SpanExporter | None = None
    ) -> Tracing:
        """Tracing as configured: off unless ``tracing_enabled``; spans exported in
        batches by OTLP/HTTP (protobuf) to ``otlp_endpoint``, or to ``exporter`` (tests:
        an in-memory one)."""
        if not settings.tracing_enabled:
            return cls(None)
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            endpoint = settings.otlp_endpoint
            exporter = OTLPSpanExporter(endpoint=traces_endpoint(endpoint) if endpoint else None)
        provider = TracerProvider(
            # A caller's traceparent decides (its sampled flag is kept), else the ratio.
            sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)),
            resource=Resource.create({SERVICE_NAME: settings.service_name}),
        )
        provider.add_span_processor(BatchSpanProcessor(exporter))
        return cls(provider)

    # ------------------------------------------------------------------ spans
    def current(self) -> otel_context.Context | None:
        """The current context, to parent later spans on (None when off)."""
        return otel_context.get_current() if self.enabled else None

    def span(
        self, name: str, attributes: Attributes | None = None
    ) -> contextlib.AbstractContextManager[Any]:
        """A child span of the current one around a block (nothing when off)."""
        if self._tracer is None:
            return contextlib.nullcontext()
        return self._current_span(self._tracer, name, attributes)

    @staticmethod
    @contextlib.contextmanager
    def _current_span(
        tracer: trace.Tracer, name: str, attributes: Attributes | None
    ) -> Iterator[trace.Span]:
        span = tracer.start_span(name, attributes=attributes)
        with trace.use_span(
            span, end_on_exit=True, record_exception=False, set_status_on_exception=False
        ):
            try:
                yield span
            except BaseException as exc:
                failed(span, exc)
                raise

    def fan_out(
        self,
        name: str,
        parents: Iterable[otel_context.Context | None],
        start_ns: int,
        end_ns: int,
        attributes: Attributes | None = None,
        *,
        error: BaseException | None = None,
    ) -> None:
        """One span of a shared operation (``start_ns``..``end_ns``, epoch nanoseconds) under
        each distinct parent span in ``parents`` (module docstring: why not one span)."""
        if self._tracer is None:
            return
        for parent in _distinct(parents):
            span = self._tracer.start_span(
                name, context=parent, attributes=attributes, start_time=start_ns
            )
            if error is not None:
                failed(span, error)
            span.end(end_time=end_ns)

    def shared(
        self,
        name: str,
        parents: Sequence[otel_context.Context | None],
        attributes: Attributes | None = None,
    ) -> contextlib.AbstractContextManager[Any]:
        """:meth:`fan_out` around a block, timed by it (nothing when off)."""
        if self._tracer is None or not parents:
            return contextlib.nullcontext()
        return self._timed(name, parents, attributes)

    @contextlib.contextmanager
    def _timed(
        self,
        name: str,
        parents: Sequence[otel_context.Context | None],
        attributes: Attributes | None,
    ) -> Iterator[None]:
        start = time.time_ns()
        try:
            yield
        except BaseException as exc:
            self.fan_out(name, parents, start, time.time_ns(), attributes, error=exc)
            raise
        self.fan_out(name, parents, start, time.time_ns(), attributes)

    def force_flush(self) -> None:
        """Export what the batch processor holds (tests, shutdown)."""
        if self.provider is not None:
            self.provider.force_flush()

    def shutdown(self) -> None:
        """Export what is left and stop the exporter (service shutdown)."""
        if self.provider is not None:
            self.provider.shutdown()


def failed(span: trace.Span, exc: BaseException) -> None:
    """Mark a span failed by the error's class alone (a message may quote applicant data)."""
    kind = type(exc).__name__
    span.set_attribute("error.type", kind)
    span.set_status(Status(StatusCode.ERROR, kind))


def _distinct(
    parents: Iterable[otel_context.Context | None],
) -> list[otel_context.Context | None]:
    """One context per parent span (a batch's applicants share their request's)."""
    seen: dict[int, otel_context.Context | None] = {}
    for parent in parents:
        span = trace.get_current_span(parent) if parent is not None else None
        key = span.get_span_context().span_id if span is not None else 0
        seen.setdefault(key, parent)
    return list(seen.values())


# ---------------------------------------------------------------------- the server span
class TracingMiddleware:
    """Pure ASGI middleware: the server span of each HTTP request, current while it runs.

    Installed outermost, so the span covers the request guard too. A caller's W3C
    ``traceparent`` is honoured (the API gateway's trace continues here). The span is
    named by the route template (``POST /v1/score``), never the raw path, which may hold
    ids; the request id is ``greenscore.request_id``.
    """

    def __init__(self, app: Any, *, tracing: Tracing) -> None:
        assert tracing._tracer is not None, "install the middleware only with tracing on"
        self.app = app
        self._tracer = tracing._tracer

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "")
        carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        span = self._tracer.start_span(
            method,
            context=extract(carrier),
            kind=SpanKind.SERVER,
            attributes={"http.request.method": method},
        )
        status: list[int] = []

        async def traced_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status.append(int(message["status"]))
            await send(message)

        token = otel_context.attach(trace.set_span_in_context(span))
        try:
            await self.app(scope, receive, traced_send)
        except BaseException as exc:
            failed(span, exc)
            raise
        finally:
            otel_context.detach(token)
            _finish(span, scope, method, status[0] if status else None)


def _finish(span: trace.Span, scope: dict, method: str, status: int | None) -> None:
    route = getattr(scope.get("route"), "path", None)
    if route:
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
    request_id = scope.get("state", {}).get("request_id")
    if request_id:
        span.set_attribute("greenscore.request_id", str(request_id))
    if status is not None:
        span.set_attribute("http.response.status_code", status)
        if status >= 500:  # a 4xx is the caller's mistake, not a failed server span
            span.set_status(Status(StatusCode.ERROR))
    span.end()

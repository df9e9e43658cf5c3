"""OpenTelemetry traces of the scoring service, read back from an in-memory exporter.

With ``observability.tracing_enabled`` a decision is one trace: the server span, and
under it ``validate``, ``score``, ``reasons`` and ``audit.commit`` (the commit is made on
the writer thread, parented on the request's context that travels with the item). A
batch request has them under one ``decide`` span. Requests scored and committed
together each get their own spans (greenscore.serving.tracing says why). Off, nothing
is traced and no middleware is installed. No span holds an applicant's data.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

sys.path.insert(0, str(Path(__file__).parents[1] / "unit"))
from serving_bundle import applicant, shared  # noqa: E402

from greenscore.config import ObservabilitySettings, Settings, use_settings  # noqa: E402
from greenscore.security import create_key  # noqa: E402
from greenscore.serving.app import create_app  # noqa: E402
from greenscore.serving.model_store import ModelStore  # noqa: E402
from greenscore.serving.tracing import Tracing, TracingMiddleware, traces_endpoint  # noqa: E402

DECISION_SPANS = {"validate", "score", "reasons", "audit.commit"}


def _app(tmp_path: Path, *, tracing: bool, exporter: InMemorySpanExporter) -> tuple[Any, Settings]:
    settings = Settings(home=tmp_path, environment="test")
    settings.serving.energy_calibration = False
    settings.serving.job_worker = False
    settings.serving.cache_size = 0
    settings.observability.tracing_enabled = tracing
    use_settings(settings)
    _, bundle = shared()
    store = ModelStore(settings.serving, loader=lambda uri: bundle)
    store.load("good")
    return create_app(settings, store=store, span_exporter=exporter), settings


@pytest.fixture
def traced(
    tmp_path: Path,
) -> Iterator[tuple[TestClient, InMemorySpanExporter, dict[str, str], Any]]:
    exporter = InMemorySpanExporter()
    app, settings = _app(tmp_path, tracing=True, exporter=exporter)
    key = {"X-API-Key": create_key(name="lender", role="scorer", settings=settings)[1]}
    with TestClient(app) as client:
        yield client, exporter, key, app
    use_settings(None)


def _spans(app: Any, exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    app.state.tracing.force_flush()
    return list(exporter.get_finished_spans())


def _server_span(spans: list[ReadableSpan], request_id: str) -> ReadableSpan:
    (server,) = [
        s for s in spans if s.attributes and s.attributes.get("greenscore.request_id") == request_id
    ]
    assert server.kind is SpanKind.SERVER
    return server


def _children(spans: list[ReadableSpan], parent: ReadableSpan) -> dict[str, ReadableSpan]:
    assert parent.context is not None
    out: dict[str, ReadableSpan] = {}
    for s in spans:
        if s.parent is not None and s.parent.span_id == parent.context.span_id:
            assert s.name not in out, f"two {s.name} spans under {parent.name}"
            out[s.name] = s
    return out


def _holds_no_applicant_data(spans: list[ReadableSpan], sent: dict[str, Any]) -> None:
    """No attribute is named like a field or quotes a field's text or decimal value
    (counts such as a batch size may equal a small whole number sent; they are not data)."""
    values = {str(v) for v in sent.values() if isinstance(v, str | float) and len(str(v)) > 2}
    for s in spans:
        for name, value in (s.attributes or {}).items():
            assert name not in sent, f"{s.name} holds field {name}"
            if isinstance(value, str | float):
                assert not any(v in str(value) for v in values), (s.name, name, value)
        assert not s.events, f"{s.name} recorded events (an exception's message?)"


def test_a_decision_is_one_trace_from_request_to_audit_commit(traced: Any) -> None:
    client, exporter, key, app = traced
    ds, _ = shared()
    sent = applicant(ds, 3)
    r = client.post("/v1/score", json=sent, headers=key)
    assert r.status_code == 200, r.text
    request_id = r.json()["request_id"]
    assert request_id == r.headers["x-request-id"]
    spans = _spans(app, exporter)
    server = _server_span(spans, request_id)
    assert server.name == "POST /v1/score"
    assert server.attributes is not None
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["http.route"] == "/v1/score"
    assert server.context is not None and server.parent is None
    # One trace: every span of this request has the server span's trace id.
    assert {s.context.trace_id for s in spans if s.context} == {server.context.trace_id}
    children = _children(spans, server)
    assert set(children) == DECISION_SPANS
    commit = children["audit.commit"]
    assert commit.attributes is not None
    assert commit.attributes["greenscore.commit.decisions"] == 1
    score = children["score"]
    assert score.attributes is not None and score.attributes["greenscore.batch.size"] == 1
    assert score.attributes["greenscore.model"] == app.state.store.deployment.primary.model.label
    # In order, inside the request: validated, scored, explained, then committed.
    v, s, e, c = (children[n] for n in ("validate", "score", "reasons", "audit.commit"))
    assert server.start_time <= v.start_time <= v.end_time <= s.start_time  # type: ignore[operator]
    assert s.end_time <= e.start_time <= e.end_time <= c.start_time  # type: ignore[operator]
    assert c.end_time <= server.end_time  # type: ignore[operator]
    assert all(x.status.status_code is not StatusCode.ERROR for x in spans)
    _holds_no_applicant_data(spans, sent)


def test_a_batch_request_is_one_trace_with_one_span_per_step(traced: Any) -> None:
    client, exporter, key, app = traced
    ds, _ = shared()
    applicants = [applicant(ds, i) for i in range(5)]
    r = client.post("/v1/score/batch", json={"applicants": applicants}, headers=key)
    assert r.status_code == 200, r.text
    assert r.json()["errors"] == 0
    spans = _spans(app, exporter)
    server = _server_span(spans, r.headers["x-request-id"])
    assert server.name == "POST /v1/score/batch"
    assert server.context is not None
    assert {s.context.trace_id for s in spans if s.context} == {server.context.trace_id}
    (decide,) = _children(spans, server).values()
    assert decide.name == "decide"
    assert decide.attributes is not None and decide.attributes["greenscore.applicants"] == 5
    children = _children(spans, decide)
    assert set(children) == DECISION_SPANS  # one of each for five applicants
    assert children["score"].attributes is not None
    assert children["score"].attributes["greenscore.batch.size"] == 5
    assert children["audit.commit"].attributes is not None
    assert children["audit.commit"].attributes["greenscore.commit.decisions"] == 5
    _holds_no_applicant_data(spans, applicants[0])


def test_requests_scored_and_committed_together_each_keep_their_whole_trace(
    traced: Any,
) -> None:
    """Concurrent single requests share micro-batches and group commits: each request's
    trace still holds its own score, reasons and commit, with the shared sizes."""
    client, exporter, key, app = traced
    ds, _ = shared()

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return list(
                await asyncio.gather(
                    *(c.post("/v1/score", json=applicant(ds, i), headers=key) for i in range(8))
                )
            )

    answers = asyncio.run(burst())
    assert [a.status_code for a in answers] == [200] * 8
    spans = _spans(app, exporter)
    sizes = []
    for a in answers:
        server = _server_span(spans, a.json()["request_id"])
        children = _children(spans, server)
        assert set(children) == DECISION_SPANS
        assert children["score"].context is not None and server.context is not None
        assert children["audit.commit"].context.trace_id == server.context.trace_id  # type: ignore[union-attr]
        sizes.append(children["score"].attributes["greenscore.batch.size"])  # type: ignore[index]
    assert len({s.context.trace_id for s in spans if s.kind is SpanKind.SERVER}) == 8  # type: ignore[union-attr]
    assert max(sizes) > 1, "the burst was never micro-batched: the test shows nothing"


def test_a_caller_traceparent_continues_its_trace(traced: Any) -> None:
    client, exporter, key, app = traced
    ds, _ = shared()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    parent = f"00-{trace_id}-00f067aa0ba902b7-01"
    r = client.post("/v1/score", json=applicant(ds, 2), headers={**key, "traceparent": parent})
    assert r.status_code == 200
    server = _server_span(_spans(app, exporter), r.json()["request_id"])
    assert server.context is not None and server.parent is not None
    assert f"{server.context.trace_id:032x}" == trace_id
    assert f"{server.parent.span_id:016x}" == "00f067aa0ba902b7"


def test_a_refused_input_marks_validate_failed_by_class_only(traced: Any) -> None:
    client, exporter, key, app = traced
    app.state.service.settings.serving.refuse_out_of_range = True
    ds, _ = shared()
    sent = applicant(ds, 0)
    column = next(
        c
        for c, r in app.state.store.deployment.primary.model.training_ranges.items()
        if isinstance(r, dict) and "max" in r
    )
    sent[column] = 1e12
    r = client.post("/v1/score", json=sent, headers=key)
    assert r.status_code == 422, r.text
    spans = _spans(app, exporter)
    server = _server_span(spans, r.headers["x-request-id"])
    children = _children(spans, server)
    assert set(children) == {"validate"}
    validate = children["validate"]
    assert validate.status.status_code is StatusCode.ERROR
    assert validate.attributes is not None and validate.attributes["error.type"] == "DataError"
    assert "1e12" not in str(validate.status.description) and not validate.events
    assert server.status.status_code is not StatusCode.ERROR  # a 4xx is the caller's


def test_tracing_off_makes_no_span_and_no_middleware(tmp_path: Path) -> None:
    exporter = InMemorySpanExporter()
    app, settings = _app(tmp_path, tracing=False, exporter=exporter)
    key = {"X-API-Key": create_key(name="lender", role="scorer", settings=settings)[1]}
    ds, _ = shared()
    with TestClient(app) as client:
        assert client.post("/v1/score", json=applicant(ds, 1), headers=key).status_code == 200
        r = client.post("/v1/score/batch", json={"applicants": [applicant(ds, 2)]}, headers=key)
        assert r.status_code == 200
    use_settings(None)
    assert not app.state.tracing.enabled
    assert exporter.get_finished_spans() == ()
    assert not any(m.cls is TracingMiddleware for m in app.user_middleware)


def test_settings_from_the_environment_and_the_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREENSCORE_OBSERVABILITY__TRACING_ENABLED", "true")
    monkeypatch.setenv("GREENSCORE_OBSERVABILITY__OTLP_ENDPOINT", "http://otel-collector:4318")
    monkeypatch.setenv("GREENSCORE_OBSERVABILITY__SAMPLE_RATIO", "0.25")
    obs = Settings().observability
    assert obs.tracing_enabled and obs.sample_ratio == 0.25
    assert traces_endpoint(obs.otlp_endpoint or "") == "http://otel-collector:4318/v1/traces"
    assert traces_endpoint("http://c:4318/v1/traces/") == "http://c:4318/v1/traces"
    tracing = Tracing.from_settings(obs)  # the OTLP/HTTP exporter; nothing is sent yet
    exporter = tracing.provider._active_span_processor._span_processors[0].span_exporter  # type: ignore[union-attr]
    assert type(exporter).__name__ == "OTLPSpanExporter"
    assert exporter._endpoint == "http://otel-collector:4318/v1/traces"
    tracing.shutdown()
    assert not Tracing.from_settings(ObservabilitySettings()).enabled


def test_spans_reach_an_otlp_http_collector(tmp_path: Path) -> None:
    """The real exporter, as configured by the settings, posts OTLP/HTTP protobuf to the
    endpoint's /v1/traces: a stand-in collector on loopback decodes what arrived."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    received: list[tuple[str, str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings = Settings(home=tmp_path, environment="test")
    settings.serving.energy_calibration = False
    settings.serving.job_worker = False
    settings.observability = ObservabilitySettings(
        tracing_enabled=True,
        otlp_endpoint=f"http://127.0.0.1:{server.server_port}",
        service_name="greenscore-test",
    )
    use_settings(settings)
    _, bundle = shared()
    store = ModelStore(settings.serving, loader=lambda uri: bundle)
    store.load("good")
    app = create_app(settings, store=store)
    key = {"X-API-Key": create_key(name="lender", role="scorer", settings=settings)[1]}
    ds, _ = shared()
    try:
        with TestClient(app) as client:
            r = client.post("/v1/score", json=applicant(ds, 4), headers=key)
            assert r.status_code == 200
        # Leaving the app's lifespan shut the provider down: what it held was exported.
    finally:
        server.shutdown()
        use_settings(None)
    assert received, "nothing reached the collector"
    names, services = set(), set()
    for path, content_type, body in received:
        assert path == "/v1/traces" and content_type == "application/x-protobuf"
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            for attribute in resource_spans.resource.attributes:
                if attribute.key == "service.name":
                    services.add(attribute.value.string_value)
            for scope_spans in resource_spans.scope_spans:
                names |= {s.name for s in scope_spans.spans}
    assert services == {"greenscore-test"}
    assert names == DECISION_SPANS | {"POST /v1/score"}


def test_a_job_chunk_outside_any_request_is_a_decide_trace_of_its_own(traced: Any) -> None:
    """The job worker calls decide_payloads from its own thread, with no request span:
    its chunk is one trace rooted at ``decide``, not four stray root spans."""
    _, exporter, _, app = traced
    ds, _ = shared()
    outcomes = app.state.service.decide_payloads(
        [applicant(ds, i) for i in range(3)], actor="job-owner", route="/v1/jobs"
    )
    assert len(outcomes) == 3 and not any(isinstance(o, BaseException) for o in outcomes)
    spans = _spans(app, exporter)
    (decide,) = [s for s in spans if s.parent is None]
    assert decide.name == "decide" and decide.context is not None
    assert {s.context.trace_id for s in spans if s.context} == {decide.context.trace_id}
    assert set(_children(spans, decide)) == DECISION_SPANS

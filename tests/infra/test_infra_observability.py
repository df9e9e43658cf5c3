"""Prometheus rules and config, Grafana dashboards, the OpenTelemetry collector config:
promtool checks and unit-tests the rules, every alert links a runbook that exists, and
every rule and panel query names a metric GreenScore really exposes (names read from the
live registries of serving.monitoring.Monitor and sustainability.budgets.BudgetGauges)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from infra_support import (  # noqa: E402
    DEPLOY,
    OVERLAYS,
    ROOT,
    RUNBOOK_URL,
    documents,
    exposed_metrics,
    metric_names,
    output,
    recording_rules,
    rendered,
    run,
    tool,
    unknown_metrics,
)

PROM = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def _rules(path: Path = PROM / "rules.yml") -> list[dict]:
    return [r for g in yaml.safe_load(path.read_text())["groups"] for r in g["rules"]]


def _alerts() -> list[dict]:
    return [r for r in _rules() if "alert" in r]


def runbook_problems(rules: list[dict]) -> list[str]:
    """Alerts whose runbook_url is missing or does not resolve to a file in docs/runbooks."""
    problems = []
    for rule in rules:
        url = rule.get("annotations", {}).get("runbook_url", "")
        match = RUNBOOK_URL.search(url)
        if not match:
            problems.append(f"{rule['alert']}: runbook_url {url!r} is not a docs/runbooks link")
        elif not (ROOT / match.group(1)).is_file():
            problems.append(f"{rule['alert']}: {match.group(1)} does not exist")
    return problems


COMPOSE_TOKEN_FILE = "/run/secrets/metrics-token"


def test_promtool_checks_the_rules_and_the_compose_config(tmp_path: Path) -> None:
    promtool = tool("promtool")
    rules = run([promtool, "check", "rules", str(PROM / "rules.yml")])
    assert rules.returncode == 0, output(rules)
    # promtool opens the bearer token file, which only the container has: a copy of the
    # folder names a stand-in token file and is checked whole (rule files included).
    shutil.copytree(PROM, tmp_path / "prometheus")
    copy = tmp_path / "prometheus" / "prometheus.yml"
    token = tmp_path / "metrics-token"
    token.write_text("scrape-token\n")
    text = copy.read_text()
    assert COMPOSE_TOKEN_FILE in text
    copy.write_text(text.replace(COMPOSE_TOKEN_FILE, str(token)))
    config = run([promtool, "check", "config", str(copy)])
    assert config.returncode == 0, output(config)
    token.unlink()  # and the file is really read: without it the config fails
    assert run([promtool, "check", "config", str(copy)]).returncode != 0


def _bearer_file(job: dict) -> str:
    auth = job["authorization"]
    assert auth.get("type", "Bearer") == "Bearer" and "credentials" not in auth, auth
    return str(auth["credentials_file"])


def test_compose_prometheus_sends_the_services_metrics_token() -> None:
    # /metrics answers only loopback callers and holders of serving.metrics_token: the
    # API and the worker get the token, Prometheus the same value as a secret file.
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    for name in ("api", "worker"):
        value = services[name]["environment"]["GREENSCORE_SERVING__METRICS_TOKEN"]
        assert value.startswith("${GREENSCORE_METRICS_TOKEN:?"), (name, value)
    assert compose["secrets"]["metrics-token"] == {"environment": "GREENSCORE_METRICS_TOKEN"}
    assert "metrics-token" in services["prometheus"]["secrets"]
    config = yaml.safe_load((PROM / "prometheus.yml").read_text())
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "greenscore"]
    assert _bearer_file(job) == COMPOSE_TOKEN_FILE
    assert "GREENSCORE_METRICS_TOKEN=" in (DEPLOY / "dev-env.sh").read_text()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_pods_and_scrape_job_share_the_metrics_token(overlay: str) -> None:
    config = yaml.safe_load((PROM / "prometheus-kubernetes.yml").read_text())
    (job,) = config["scrape_configs"]
    assert _bearer_file(job).startswith("/etc/prometheus/secrets/greenscore-metrics/")
    deployments = [d for d in documents(rendered(overlay)) if d["kind"] == "Deployment"]
    assert deployments
    for deployment in deployments:
        (container,) = [
            c
            for c in deployment["spec"]["template"]["spec"]["containers"]
            if c["name"] != "istio-proxy"
        ]
        env = {e["name"]: e for e in container.get("env", [])}
        ref = env["GREENSCORE_SERVING__METRICS_TOKEN"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": "greenscore-secrets", "key": "metrics-token"}, deployment["metadata"]


def test_promtool_unit_tests_fire_every_alert() -> None:
    tests = [PROM / "rules.test.yml", PROM / "rules.daily.test.yml"]
    result = run([tool("promtool"), "test", "rules", *map(str, tests)], cwd=PROM)
    assert result.returncode == 0, output(result)
    tested = {
        t["alertname"]
        for f in tests
        for case in yaml.safe_load(f.read_text())["tests"]
        for t in case.get("alert_rule_test", [])
        if t.get("exp_alerts")
    }
    assert tested == {a["alert"] for a in _alerts()}


def test_promtool_rejects_a_broken_rule(tmp_path: Path) -> None:
    broken = tmp_path / "rules.yml"
    broken.write_text(
        (PROM / "rules.yml")
        .read_text()
        .replace(
            "greenscore:request_errors:ratio_rate5m > 0.05",
            "rate(greenscore_requests_total) > 0.05",
        )
    )
    result = run([tool("promtool"), "check", "rules", str(broken)])
    assert result.returncode != 0
    assert "range vector" in output(result)


def test_every_alert_has_a_runbook_that_exists() -> None:
    assert runbook_problems(_alerts()) == []
    assert {a["labels"]["severity"] for a in _alerts()} <= {"page", "ticket"}


def test_a_dangling_runbook_link_is_caught() -> None:
    alert = {**_alerts()[0]}
    alert["annotations"] = {
        "runbook_url": "https://git.example.com/g/g/blob/main/docs/runbooks/nowhere.md"
    }
    assert runbook_problems([alert]) == [
        f"{alert['alert']}: docs/runbooks/nowhere.md does not exist"
    ]


def test_the_service_exposes_what_the_rules_read() -> None:
    names = exposed_metrics()
    # The registry parse itself: counters carry _total, histograms _bucket.
    assert {"greenscore_requests_total", "greenscore_request_latency_seconds_bucket"} <= names
    assert "greenscore_prediction_psi" in names and "greenscore_energy_kwh_total" in names
    assert "greenscore_carbon_budget_used_ratio" in names  # the carbon-budget gauges
    for rule in _rules():
        assert unknown_metrics(rule["expr"]) == set(), rule.get("alert") or rule["record"]


def test_a_misspelt_metric_is_caught() -> None:
    assert unknown_metrics('sum(rate(greenscore_request_total{status=~"5.."}[5m]))') == {
        "greenscore_request_total"
    }
    assert unknown_metrics('up{job="greenscore"}') == set()


def test_kubernetes_scrape_config_labels_what_rules_and_adapter_need() -> None:
    # Debian's promtool lacks Kubernetes discovery: check the structure instead.
    config = yaml.safe_load((PROM / "prometheus-kubernetes.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["job_name"] == "greenscore"
    assert job["kubernetes_sd_configs"][0]["role"] == "pod"
    targets = {r.get("target_label") for r in job["relabel_configs"]}
    assert {"namespace", "pod", "track", "__address__", "__metrics_path__"} <= targets


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_queries_name_real_metrics(path: Path) -> None:
    board = json.loads(path.read_text())
    assert board["uid"] and board["panels"]
    for panel in board["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = metric_names(target["expr"])
            assert names, (panel["title"], target["expr"])
            assert unknown_metrics(target["expr"]) == set(), (panel["title"], target["expr"])
            assert target["datasource"]["uid"] == "prometheus"


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    # promtool parses every query, wrapped as a recording rule; Grafana's $__range becomes 1h.
    rules = [
        {
            "record": f"check:{p.stem.replace('-', '_')}:{panel['id']}{t['refId']}",
            "expr": t["expr"].replace("$__range", "1h"),
        }
        for p in DASHBOARDS
        for panel in json.loads(p.read_text())["panels"]
        for t in panel["targets"]
    ]
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = run([tool("promtool"), "check", "rules", str(path)])
    assert result.returncode == 0, output(result)
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_dashboards_cover_slo_model_and_energy_and_are_provisioned() -> None:
    uids = {json.loads(p.read_text())["uid"] for p in DASHBOARDS}
    assert uids == {"greenscore-slo", "greenscore-model", "greenscore-energy"}
    sources = yaml.safe_load((GRAFANA / "provisioning/datasources/datasources.yaml").read_text())
    assert "prometheus" in {d["uid"] for d in sources["datasources"]}
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/dashboards.yaml").read_text())
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert "./grafana/dashboards:/var/lib/grafana/dashboards:ro" in mounts


def test_recording_rules_read_only_real_metrics() -> None:
    for name, expr in recording_rules().items():
        assert metric_names(expr), name
        assert unknown_metrics(expr) == set(), name


def test_otel_collector_pipeline_exports_traces_to_jaeger() -> None:
    config = yaml.safe_load((DEPLOY / "otel-collector" / "config.yaml").read_text())
    traces = config["service"]["pipelines"]["traces"]
    assert traces["receivers"] == ["otlp"]
    assert "otlp/jaeger" in traces["exporters"]
    assert config["exporters"]["otlp/jaeger"]["endpoint"] == "jaeger:4317"
    assert set(config["receivers"]["otlp"]["protocols"]) == {"grpc", "http"}


# ---------------------------------------------------------------------- traces
TRACING_PREFIX = "GREENSCORE_OBSERVABILITY__"


def _observability_env(env: dict[str, str]) -> dict[str, str]:
    """The observability settings a container's environment sets, checked against the
    real settings model (a misspelt name would be ignored by the service)."""
    from greenscore.config import ObservabilitySettings

    chosen = {
        k.removeprefix(TRACING_PREFIX).lower(): str(v)
        for k, v in env.items()
        if k.startswith(TRACING_PREFIX)
    }
    unknown = set(chosen) - set(ObservabilitySettings.model_fields)
    assert not unknown, f"not observability settings: {sorted(unknown)}"
    ObservabilitySettings.model_validate(chosen)  # the values parse too
    return chosen


def _collector_http_port(config: dict) -> int:
    return int(config["receivers"]["otlp"]["protocols"]["http"]["endpoint"].rsplit(":", 1)[1])


def compose_otlp_problems(compose: dict, collector: dict) -> list[str]:
    """Compose services whose traces would go nowhere: tracing on without an endpoint, or
    an endpoint whose host is not a service of the file or whose port is not where the
    collector receives OTLP/HTTP."""
    from urllib.parse import urlsplit

    services = compose["services"]
    port = _collector_http_port(collector)
    problems = []
    for name, svc in services.items():
        env = _observability_env(svc.get("environment") or {})
        if env.get("tracing_enabled", "false").lower() != "true":
            continue
        url = urlsplit(env.get("otlp_endpoint", ""))
        if url.hostname not in services:
            problems.append(f"{name}: OTLP endpoint host {url.hostname!r} is no compose service")
        elif url.port != port:
            problems.append(f"{name}: OTLP endpoint port {url.port} is not the collector's {port}")
    return problems


def _compose_and_collector() -> tuple[dict, dict]:
    return (
        yaml.safe_load((DEPLOY / "compose.yaml").read_text()),
        yaml.safe_load((DEPLOY / "otel-collector" / "config.yaml").read_text()),
    )


def test_compose_services_send_traces_to_the_collector() -> None:
    compose, collector = _compose_and_collector()
    assert compose_otlp_problems(compose, collector) == []
    services = compose["services"]
    for name in ("api", "worker"):
        env = _observability_env(services[name]["environment"])
        assert env["tracing_enabled"] == "true" and env["service_name"] == f"greenscore-{name}"
        assert services[name]["depends_on"]["otel-collector"]
    assert "otel-collector" in services


def test_an_otlp_endpoint_naming_no_service_or_port_is_caught() -> None:
    compose, collector = _compose_and_collector()
    env = compose["services"]["api"]["environment"]
    env[TRACING_PREFIX + "OTLP_ENDPOINT"] = "http://otel-colector:4318"
    compose["services"]["worker"]["environment"][TRACING_PREFIX + "OTLP_ENDPOINT"] = (
        "http://otel-collector:4317"  # the gRPC port: the service speaks OTLP/HTTP
    )
    problems = compose_otlp_problems(compose, collector)
    assert problems == [
        "api: OTLP endpoint host 'otel-colector' is no compose service",
        "worker: OTLP endpoint port 4317 is not the collector's 4318",
    ]
    env[TRACING_PREFIX + "TRACING_ENABLE"] = "true"
    with pytest.raises(AssertionError, match="tracing_enable"):
        compose_otlp_problems(compose, collector)


def kubernetes_otlp_problems(docs: list[dict]) -> list[str]:
    """The rendered config's OTLP endpoint must be a cluster service whose namespace and
    port the pods' egress NetworkPolicy allows (else default-deny drops every export)."""
    from urllib.parse import urlsplit

    (config,) = [
        d for d in docs if d["kind"] == "ConfigMap" and "greenscore-config" in d["metadata"]["name"]
    ]
    env = _observability_env(config["data"])
    url = urlsplit(env.get("otlp_endpoint", ""))
    parts = (url.hostname or "").split(".")
    if len(parts) < 3 or parts[2:] != ["svc", "cluster", "local"][: len(parts) - 2]:
        return [f"OTLP endpoint {url.hostname!r} is not a <service>.<namespace>.svc name"]
    namespace = parts[1]
    (egress,) = [
        d
        for d in docs
        if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "greenscore-egress"
    ]
    for rule in egress["spec"]["egress"]:
        names = {
            t.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name")
            for t in rule.get("to", [])
        }
        ports = {p["port"] for p in rule.get("ports", []) if p.get("protocol", "TCP") == "TCP"}
        if namespace in names and url.port in ports:
            return []
    return [f"egress to {namespace}:{url.port} (the OTLP endpoint) is not allowed"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_kubernetes_pods_may_reach_their_otlp_endpoint(overlay: str) -> None:
    docs = documents(rendered(overlay))
    assert kubernetes_otlp_problems(docs) == []
    (config,) = [
        d for d in docs if d["kind"] == "ConfigMap" and "greenscore-config" in d["metadata"]["name"]
    ]
    env = _observability_env(config["data"])
    # Off by default; staging traces every request.
    assert env["tracing_enabled"] == ("true" if overlay == "staging" else "false")
    (worker,) = [
        d
        for d in docs
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "greenscore-worker"
    ]
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    names = {e["name"]: e.get("value") for e in container["env"]}
    assert names[TRACING_PREFIX + "SERVICE_NAME"] == "greenscore-worker"


def test_an_unreachable_kubernetes_otlp_endpoint_is_caught() -> None:
    docs = documents(rendered("production"))
    (config,) = [
        d for d in docs if d["kind"] == "ConfigMap" and "greenscore-config" in d["metadata"]["name"]
    ]
    key = TRACING_PREFIX + "OTLP_ENDPOINT"
    config["data"][key] = "http://otel-collector.tracing.svc.cluster.local:4318"
    assert kubernetes_otlp_problems(docs) == [
        "egress to tracing:4318 (the OTLP endpoint) is not allowed"
    ]
    config["data"][key] = "http://otel-collector:4318"
    assert kubernetes_otlp_problems(docs) == [
        "OTLP endpoint 'otel-collector' is not a <service>.<namespace>.svc name"
    ]

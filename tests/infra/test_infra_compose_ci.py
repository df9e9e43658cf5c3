"""The compose stack (compose-spec schema, the services and hardening it promises), the CI
workflow (actionlint with shellcheck, the GitHub workflow schema, the jobs it must have)
and the deploy scripts (shellcheck; the canary gate against a stand-in Prometheus; the
overlay renderer pinning a digest)."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from infra_support import DEPLOY, ROOT, documents, output, run, tool  # noqa: E402

COMPOSE = DEPLOY / "compose.yaml"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
SCRIPTS = sorted(DEPLOY.glob("*.sh"))


# ------------------------------------------------------------------ compose
def test_compose_file_passes_the_compose_spec_schema() -> None:
    result = run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)]
    )
    assert result.returncode == 0, output(result)


def test_compose_schema_check_fails_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("    healthcheck:\n", "    helthcheck:\n", 1))
    result = run([tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(broken)])
    assert result.returncode != 0
    assert "helthcheck" in output(result)


def test_compose_stack_has_every_component_healthy_and_hardened() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    services = compose["services"]
    wanted = {"api", "worker", "postgres", "redis", "mlflow", "prometheus", "grafana"}
    assert wanted | {"otel-collector", "jaeger"} <= set(services)
    # Long-running services probe their health (the collector's image has no shell or client).
    for name in wanted | {"jaeger"}:
        assert services[name]["healthcheck"]["test"], name
    for name in ("api", "worker"):
        svc = services[name]
        assert svc["read_only"] is True and svc["cap_drop"] == ["ALL"]
        assert svc["user"] == "10001:10001"
        assert "/health/ready" in " ".join(svc["healthcheck"]["test"])
        assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["api"]["environment"]["GREENSCORE_SERVING__JOB_WORKER"] == "false"
    assert services["worker"]["environment"]["GREENSCORE_SERVING__JOB_WORKER"] == "true"
    # Named volumes for every stateful service, declared at the top level.
    for name in ("postgres", "redis", "mlflow", "prometheus", "grafana", "api"):
        named = [v.split(":")[0] for v in services[name]["volumes"] if not v.startswith(".")]
        assert named and set(named) <= set(compose["volumes"]), name
    # Not-yet-existing commands stay behind profiles.
    assert services["dashboard"]["profiles"] == ["dashboard"]


def test_compose_holds_no_secret_values() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    for name, svc in compose["services"].items():
        for key, value in (svc.get("environment") or {}).items():
            if any(w in key for w in ("PASSWORD", "SECRET", "PEPPER", "MASTER_KEY", "TOKEN")):
                assert str(value).startswith("${") and ":?" in str(value), (name, key)


# ------------------------------------------------------------------ CI workflow
def test_actionlint_passes_with_shellcheck() -> None:
    tool("shellcheck")  # actionlint checks the run: scripts with it when it is on PATH
    result = run([tool("actionlint"), "-verbose", str(WORKFLOW)])
    assert result.returncode == 0, output(result)


def test_actionlint_fails_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "ci.yml"
    broken.parent.mkdir(parents=True)
    text = WORKFLOW.read_text().replace(
        "needs: [lint, test, audit, manifests, image]", "needs: [lint, tset]", 1
    )
    broken.write_text(
        text.replace(
            'kubectl -n "$NS" rollout undo "deployment/$d"', "cd $undefined_dir_var && rollout undo"
        )
    )
    result = run([tool("actionlint"), str(broken)], cwd=tmp_path)
    assert result.returncode != 0
    assert "tset" in result.stdout
    assert "SC2154" in result.stdout or "SC2086" in result.stdout  # shellcheck inside run:


def test_workflow_passes_the_github_workflow_schema() -> None:
    result = run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW)]
    )
    assert result.returncode == 0, output(result)


def test_workflow_mirrors_ci_and_stages_deployments() -> None:
    flow = yaml.safe_load(WORKFLOW.read_text())
    jobs = flow["jobs"]
    assert {
        "lint",
        "test",
        "audit",
        "manifests",
        "image",
        "deploy-staging",
        "deploy-production",
        "rollback",
    } <= set(jobs)
    assert set(jobs["test"]["services"]) == {"postgres", "redis"}
    assert "bash .ci/run" in [s.get("run") for s in jobs["test"]["steps"]]
    assert "make lint" in [s.get("run") for s in jobs["lint"]["steps"]]
    assert any("pip-audit" in (s.get("run") or "") for s in jobs["audit"]["steps"])
    assert any("trivy-action" in (s.get("uses") or "") for s in jobs["image"]["steps"])
    assert jobs["deploy-staging"]["environment"]["name"] == "staging"
    assert jobs["deploy-production"]["environment"]["name"] == "production"
    assert "refs/tags/v" in jobs["deploy-production"]["if"]
    assert set(jobs["deploy-production"]["needs"]) >= {"test", "image", "manifests", "audit"}
    assert "deploy-production.result == 'failure'" in jobs["rollback"]["if"]


# ------------------------------------------------------------------ deploy scripts
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_scripts_pass_shellcheck(script: Path) -> None:
    result = run([tool("shellcheck"), str(script)])
    assert result.returncode == 0, output(result)


class _Prometheus(BaseHTTPRequestHandler):
    """Answers /api/v1/query from a table of query -> value (None: no series)."""

    answers: dict[str, str | None] = {}

    def do_GET(self) -> None:  # noqa: N802 - the http.server hook's name
        query = parse_qs(urlparse(self.path).query)["query"][0]
        value = self.answers[query]
        result = [] if value is None else [{"metric": {}, "value": [0, value]}]
        body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": result}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def prometheus() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Prometheus)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


ERRORS = 'greenscore:request_errors:ratio_rate5m{track="canary"}'
P99 = 'greenscore:request_latency_seconds:p99_5m{track="canary"}'
TARGET = "max(greenscore_latency_sla_target_seconds)"
FIRING = 'count(ALERTS{alertname=~"GreenScore.*",alertstate="firing",track="canary"})'


@pytest.mark.parametrize(
    ("answers", "passes", "says"),
    [
        ({ERRORS: "0.0002", P99: "0.020", TARGET: "0.05", FIRING: None}, True, "gate: passed"),
        ({ERRORS: "0.004", P99: "0.020", TARGET: "0.05", FIRING: None}, False, "misses its SLOs"),
        ({ERRORS: "0", P99: "0.080", TARGET: "0.05", FIRING: None}, False, "misses its SLOs"),
        ({ERRORS: "0", P99: "0.020", TARGET: "0.05", FIRING: "1"}, False, "alerts are firing"),
        ({ERRORS: None, P99: None, TARGET: "0.05", FIRING: None}, False, "no canary traffic"),
    ],
)
def test_canary_gate(prometheus: str, answers: dict, passes: bool, says: str) -> None:
    tool("jq")
    _Prometheus.answers = answers
    result = run(["bash", str(DEPLOY / "canary-gate.sh"), prometheus])
    assert (result.returncode == 0) is passes, output(result)
    assert says in result.stdout + result.stderr


def test_render_overlay_pins_the_image_digest() -> None:
    tool("kubectl")
    digest = "sha256:" + "ab" * 32
    result = run(
        [
            "bash",
            str(DEPLOY / "render-overlay.sh"),
            "production",
            f"ghcr.io/bank/greenscore@{digest}",
        ]
    )
    assert result.returncode == 0, output(result)
    images = {
        c["image"]
        for d in documents(result.stdout)
        if d["kind"] == "Deployment"
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {f"ghcr.io/bank/greenscore@{digest}"}
    bad = run(["bash", str(DEPLOY / "render-overlay.sh"), "production", "ghcr.io/bank/greenscore"])
    assert bad.returncode == 2 and "must carry a tag or a digest" in bad.stderr

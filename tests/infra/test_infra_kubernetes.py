"""Kubernetes manifests: base and overlays render (kubectl's kustomize), pass the API schemas
(kubernetes-validate, strict), Istio's CRD schemas (node validator), a checkov policy scan
and GreenScore's own deployment rules; broken copies fail the same checks."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from infra_support import (  # noqa: E402
    CRD_DIR,
    K8S,
    OVERLAYS,
    checkov,
    documents,
    output,
    relabel,
    render,
    rendered,
    run,
    service_missing,
    tool,
    unknown_metrics,
)

ALL = ("base", *OVERLAYS)
WORKLOADS = {"greenscore-api", "greenscore-api-canary", "greenscore-worker"}


def _kinds(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    wanted = selector.get("matchLabels", {})
    return all(labels.get(k) == v for k, v in wanted.items())


def deployment_problems(docs: list[dict]) -> list[str]:
    """GreenScore's rules for every Deployment: sizes, probes, hardening, identity."""
    problems = []
    for d in _kinds(docs, "Deployment"):
        name = d["metadata"]["name"]
        pod = d["spec"]["template"]["spec"]
        psc = pod.get("securityContext", {})
        if psc.get("runAsNonRoot") is not True:
            problems.append(f"{name}: pod runAsNonRoot is not true")
        if psc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            problems.append(f"{name}: seccomp profile is not RuntimeDefault")
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{name}: service-account token is mounted")
        for c in pod["containers"]:
            where = f"{name}/{c['name']}"
            res = c.get("resources", {})
            for part in ("requests", "limits"):
                for key in ("cpu", "memory"):
                    if key not in res.get(part, {}):
                        problems.append(f"{where}: no {part}.{key}")
            for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
                if probe not in c:
                    problems.append(f"{where}: no {probe}")
            if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/health/ready":
                problems.append(f"{where}: readiness is not /health/ready")
            if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/health/live":
                problems.append(f"{where}: liveness is not /health/live")
            sc = c.get("securityContext", {})
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: root filesystem is writable")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: privilege escalation allowed")
            if sc.get("capabilities", {}).get("drop") != ["ALL"]:
                problems.append(f"{where}: capabilities not dropped")
            for env in c.get("env", []):
                if any(w in env["name"] for w in ("SECRET", "PEPPER", "KEY", "DATABASE_URL")):
                    if "secretKeyRef" not in env.get("valueFrom", {}):
                        problems.append(f"{where}: {env['name']} is not a secret reference")
    return problems


def network_problems(docs: list[dict]) -> list[str]:
    """A default-deny policy, and every workload admitted by an explicit allow policy."""
    policies = _kinds(docs, "NetworkPolicy")
    problems = []
    deny = [
        p
        for p in policies
        if p["spec"].get("podSelector") == {}
        and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    if not deny:
        problems.append("no default-deny NetworkPolicy (empty podSelector, Ingress and Egress)")
    for d in _kinds(docs, "Deployment"):
        labels = d["spec"]["template"]["metadata"]["labels"]
        for key in ("ingress", "egress"):
            allowed = [
                p
                for p in policies
                if p["spec"].get(key) and _selects(p["spec"]["podSelector"], labels)
            ]
            if not allowed:
                problems.append(f"{d['metadata']['name']}: no NetworkPolicy allows its {key}")
    return problems


def mesh_problems(docs: list[dict]) -> list[str]:
    """mTLS STRICT, and canary routing whose subsets and weights fit the Deployments."""
    problems = []
    peer = _kinds(docs, "PeerAuthentication")
    if not any(p["spec"].get("mtls", {}).get("mode") == "STRICT" for p in peer):
        problems.append("no PeerAuthentication with mTLS STRICT")
    rules = {r["metadata"]["name"]: r for r in _kinds(docs, "DestinationRule")}
    pods = [d["spec"]["template"]["metadata"]["labels"] for d in _kinds(docs, "Deployment")]
    for vs in _kinds(docs, "VirtualService"):
        for http in vs["spec"]["http"]:
            routes = http["route"]
            total = sum(r.get("weight", 0) for r in routes)
            if total != 100:
                problems.append(f"VirtualService {vs['metadata']['name']}: weights sum to {total}")
            for r in routes:
                dest = r["destination"]
                rule = rules.get(dest["host"])
                subsets = {
                    s["name"]: s["labels"] for s in (rule or {}).get("spec", {}).get("subsets", [])
                }
                if dest.get("subset") not in subsets:
                    problems.append(f"route to {dest['host']}/{dest.get('subset')}: no such subset")
                elif not any(_selects({"matchLabels": subsets[dest["subset"]]}, p) for p in pods):
                    problems.append(f"subset {dest['subset']}: selects no Deployment's pods")
    for rule in rules.values():
        if rule["spec"].get("trafficPolicy", {}).get("tls", {}).get("mode") != "ISTIO_MUTUAL":
            problems.append(f"DestinationRule {rule['metadata']['name']}: not ISTIO_MUTUAL")
    return problems


def access_problems(docs: list[dict]) -> list[str]:
    """No secret values, least-privilege identity, TLS ingress, autoscaling and budgets."""
    problems = []
    if _kinds(docs, "Secret"):
        problems.append("a Secret with values is part of the manifests")
    for sa in _kinds(docs, "ServiceAccount"):
        if sa.get("automountServiceAccountToken") is not False:
            problems.append(f"ServiceAccount {sa['metadata']['name']} mounts its token")
    for kind in ("Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"):
        if _kinds(docs, kind):
            problems.append(f"a {kind} grants API access GreenScore does not need")
    for ing in _kinds(docs, "Ingress"):
        tls_hosts = {h for t in ing["spec"].get("tls", []) for h in t["hosts"]}
        for rule in ing["spec"]["rules"]:
            if rule["host"] not in tls_hosts:
                problems.append(f"Ingress host {rule['host']} has no TLS")
    hpas = _kinds(docs, "HorizontalPodAutoscaler")
    metrics = {m["type"]: m for h in hpas for m in h["spec"]["metrics"]}
    if metrics.get("Resource", {}).get("resource", {}).get("name") != "cpu":
        problems.append("no HPA on CPU")
    if "Pods" not in metrics:
        problems.append("no HPA on request latency")
    pdbs = _kinds(docs, "PodDisruptionBudget")
    for d in _kinds(docs, "Deployment"):
        labels = d["spec"]["template"]["metadata"]["labels"]
        if d["metadata"]["name"] != "greenscore-api-canary" and not any(
            _selects(p["spec"]["selector"], labels) for p in pdbs
        ):
            problems.append(f"{d['metadata']['name']}: no PodDisruptionBudget")
    return problems


def all_problems(docs: list[dict]) -> list[str]:
    return (
        deployment_problems(docs)
        + network_problems(docs)
        + mesh_problems(docs)
        + access_problems(docs)
    )


def _validate(text: str, tmp_path: Path) -> list:
    path = tmp_path / "manifests.yaml"
    path.write_text(text)
    schemas = run([tool("kubernetes-validate"), "--strict", "--quiet", str(path)])
    return [schemas, path]


def _crd_validator() -> list[str]:
    node = tool("node")
    if not (CRD_DIR / "node_modules" / "@kubernetes-models" / "istio").is_dir():
        service_missing("Istio CRD validators not installed (run `make infra-tools`)")
    return [node, str(CRD_DIR / "validate-crds.mjs")]


@pytest.mark.parametrize("name", ALL)
def test_manifests_render_and_follow_the_deployment_rules(name: str) -> None:
    docs = documents(rendered(name))
    assert WORKLOADS <= {d["metadata"]["name"] for d in _kinds(docs, "Deployment")}
    assert all_problems(docs) == []


@pytest.mark.parametrize("name", ALL)
def test_manifests_pass_the_kubernetes_schemas(name: str, tmp_path: Path) -> None:
    schemas, _ = _validate(rendered(name), tmp_path)
    assert schemas.returncode == 0, output(schemas)
    # Only the Istio kinds lack a core schema; the CRD test below covers them.
    missing = {
        line.split("kind ")[1].split(" ")[0]
        for line in schemas.stdout.splitlines() + schemas.stderr.splitlines()
        if "Couldn't find schema" in line
    }
    assert missing <= {"PeerAuthentication", "DestinationRule", "VirtualService"}


@pytest.mark.parametrize("name", ALL)
def test_istio_resources_pass_istio_crd_schemas(name: str, tmp_path: Path) -> None:
    path = tmp_path / "manifests.yaml"
    path.write_text(rendered(name))
    result = run([*_crd_validator(), str(path)])
    assert result.returncode == 0, output(result)
    assert "3 valid, 0 invalid, 0 without schema" in result.stdout


@pytest.fixture(scope="module")
def policy_scan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """One checkov scan of both overlays and of a copy without resource limits, and one
    of a copy without NetworkPolicies (alone: checkov matches policies to pods across
    every file it reads, namespaces aside)."""
    scan = tmp_path_factory.mktemp("checkov")
    for name in OVERLAYS:
        (scan / f"{name}.yaml").write_text(rendered(name))
    docs = relabel(documents(rendered("production")), namespace="broken-limits")
    for d in _kinds(docs, "Deployment"):
        del d["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    (scan / "no-limits.yaml").write_text(yaml.safe_dump_all(docs))
    failed = checkov(scan, ("kubernetes",))
    alone = tmp_path_factory.mktemp("checkov-netpol")
    docs = [d for d in documents(rendered("production")) if d["kind"] != "NetworkPolicy"]
    (alone / "no-netpol.yaml").write_text(yaml.safe_dump_all(docs))
    failed.update(checkov(alone, ("kubernetes",)))
    return failed


@pytest.mark.parametrize("name", OVERLAYS)
def test_overlays_pass_the_checkov_policy_scan(name: str, policy_scan: dict) -> None:
    assert policy_scan[f"{name}.yaml"] == set()


def test_checkov_fails_deployments_without_limits(policy_scan: dict) -> None:
    assert {"CKV_K8S_11", "CKV_K8S_13"} <= policy_scan["no-limits.yaml"]  # cpu, memory


def test_checkov_fails_pods_without_network_policy(policy_scan: dict) -> None:
    assert "CKV2_K8S_6" in policy_scan["no-netpol.yaml"]


def test_staging_and_production_differ_where_they_should() -> None:
    staging = {(d["kind"], d["metadata"]["name"]): d for d in documents(rendered("staging"))}
    production = {(d["kind"], d["metadata"]["name"]): d for d in documents(rendered("production"))}
    assert (
        staging[("Deployment", "greenscore-api")]["metadata"]["namespace"] == "greenscore-staging"
    )
    assert production[("Deployment", "greenscore-api")]["metadata"]["namespace"] == "greenscore"
    assert staging[("Deployment", "greenscore-api-canary")]["spec"]["replicas"] == 0
    assert production[("Deployment", "greenscore-api-canary")]["spec"]["replicas"] == 1
    vhost = "nginx.ingress.kubernetes.io/upstream-vhost"
    for env, docs in (("greenscore-staging", staging), ("greenscore", production)):
        ingress = docs[("Ingress", "greenscore-api")]
        assert (
            ingress["metadata"]["annotations"][vhost] == f"greenscore-api.{env}.svc.cluster.local"
        )


def test_hpa_latency_metric_is_the_one_prometheus_adapter_serves() -> None:
    adapter = yaml.safe_load((K8S / "prometheus-adapter" / "values.yaml").read_text())
    served = {r["name"]["as"] for r in adapter["rules"]["custom"]}
    hpa = _kinds(documents(rendered("production")), "HorizontalPodAutoscaler")[0]
    wanted = {m["pods"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Pods"}
    assert wanted and wanted <= served
    series = adapter["rules"]["custom"][0]["seriesQuery"]
    assert unknown_metrics(series) == set()


# ------------------------------------------------------------------ broken copies fail
def _broken_copy(tmp_path: Path, relative: str, edit) -> Path:
    """A copy of deploy/k8s with one base file edited; returns the production overlay."""
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns(".render.*"))
    path = copy / "base" / relative
    path.write_text(edit(path.read_text()))
    return copy / "overlays" / "production"


def _without_limits(text: str) -> str:
    doc = yaml.safe_load(text)
    del doc["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    return yaml.safe_dump(doc)


def test_a_deployment_without_limits_fails(tmp_path: Path) -> None:
    text = render(_broken_copy(tmp_path, "deployment-api.yaml", _without_limits))
    problems = deployment_problems(documents(text))
    assert "greenscore-api/api: no limits.cpu" in problems
    assert "greenscore-api/api: no limits.memory" in problems


def test_missing_network_policies_fail(tmp_path: Path) -> None:
    overlay = _broken_copy(
        tmp_path, "kustomization.yaml", lambda t: t.replace("  - networkpolicy.yaml\n", "")
    )
    text = render(overlay)
    problems = network_problems(documents(text))
    assert "no default-deny NetworkPolicy (empty podSelector, Ingress and Egress)" in problems
    assert "greenscore-worker: no NetworkPolicy allows its ingress" in problems


def test_a_root_container_and_a_bad_field_fail(tmp_path: Path) -> None:
    def as_root(text: str) -> str:
        doc = yaml.safe_load(text)
        pod = doc["spec"]["template"]["spec"]
        pod["securityContext"].update(runAsNonRoot=False, runAsUser=0)
        pod["containers"][0]["securityContext"]["runAsNonRoot"] = False
        pod["containers"][0]["resources"]["limits"]["cpu"] = {"cores": 2}
        return yaml.safe_dump(doc)

    text = render(_broken_copy(tmp_path, "deployment-worker.yaml", as_root))
    assert "greenscore-worker: pod runAsNonRoot is not true" in deployment_problems(documents(text))
    schemas, _ = _validate(text, tmp_path)
    assert schemas.returncode != 0  # a limit must be a quantity, not an object
    assert "greenscore-worker" in schemas.stdout + schemas.stderr


def test_a_bad_istio_resource_and_an_unbalanced_canary_fail(tmp_path: Path) -> None:
    def loosen(text: str) -> str:
        return text.replace("mode: STRICT", "mode: LOOSE")

    overlay = _broken_copy(tmp_path, "peerauthentication.yaml", loosen)
    vs = overlay.parents[1] / "base" / "virtualservice.yaml"
    vs.write_text(vs.read_text().replace("weight: 0", "weight: 10"))
    text = render(overlay)
    problems = mesh_problems(documents(text))
    assert "no PeerAuthentication with mTLS STRICT" in problems
    assert "VirtualService greenscore-api: weights sum to 110" in problems
    path = tmp_path / "manifests.yaml"
    path.write_text(text)
    result = run([*_crd_validator(), str(path)])
    assert result.returncode == 1, output(result)
    assert "INVALID" in result.stdout and "PeerAuthentication/default" in result.stdout

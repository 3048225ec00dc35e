"""Render the Helm chart in deploy/helm/lifeboat and validate every manifest it produces.

* Rendering: helm's own Go template engine (sprig functions, ``include``, ``required``,
  ``values.schema.json``), through the ``helm-python-sdk`` wheel from PyPI, which bundles Helm's
  Go SDK as a shared library: no helm binary, no Go toolchain, no cluster. Values that fail the
  chart's ``values.schema.json`` fail the render, naming the field.
* Lint: ``helm lint --strict`` of the same SDK, at the targeted Kubernetes version.
* Validation: each rendered manifest against the OpenAPI schemas of Kubernetes
  ``KUBE_VERSION`` with ``kubernetes-validate`` in strict mode (an unknown field is an error).
* Then Lifeboat's own rules: every service probes /healthz (liveness) and /readyz (readiness),
  every container has resource requests and limits, every Deployment with more than one
  replica has a PodDisruptionBudget, every pod is under a NetworkPolicy, secret values appear
  only in Secrets, the ingress routes /<service> with Prefix (and / to the dashboard when on),
  the receiver runs as its own Deployment with a Service.

Each values file in deploy/helm/lifeboat/ci/ is rendered and checked.
Run: ``uv run python deploy/check_chart.py`` (exit 1 with one line per problem).
"""

from __future__ import annotations

import sys
import time
import uuid
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

CHART = Path(__file__).resolve().parent / "helm" / "lifeboat"
KUBE_VERSION = "1.31.0"
SERVICES = {
    "policy": 8701,
    "replicator": 8702,
    "orchestrator": 8703,
    "verifier": 8704,
    "billing": 8705,
}
RELEASE = "check"

Problems = list[str]
Manifest = dict[str, Any]


class ValuesRefused(Exception):
    """The chart's values.schema.json (or a `required`) refused the values."""


def render(values: dict[str, Any], chart: Path = CHART) -> list[Manifest]:
    """Render the chart as `helm template check CHART -n lifeboat` would; ValuesRefused if the
    values fail the schema or a template's `required`."""
    import helm_python as helm  # the native library loads on first use

    with helm.Chart.load(str(chart)) as loaded:
        try:
            rendered = loaded.render(values, name=RELEASE, namespace="lifeboat")
        except (helm.HelmValuesError, helm.HelmRenderError) as exc:
            raise ValuesRefused(str(exc)) from None
    docs: list[Manifest] = []
    for path in sorted(rendered):
        if path.endswith((".yaml", ".yml")):
            docs.extend(d for d in yaml.safe_load_all(rendered[path]) if d)
    return docs


def lint(values: dict[str, Any], where: str, problems: Problems, chart: Path = CHART) -> None:
    import helm_python as helm

    report = helm.lint(str(chart), values, strict=True, kube_version=f"v{KUBE_VERSION}")
    for message in report.get("messages", []):
        if message.get("severity", 0) >= 2:
            problems.append(f"{where}: helm lint: {message.get('path')}: {message.get('error')}")
    problems.extend(f"{where}: helm lint: {error}" for error in report.get("errors") or [])


def validate(docs: list[Manifest], where: str, problems: Problems) -> None:
    for doc in docs:
        name = f"{doc.get('kind')} {doc.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(p) for p in exc.path) or "(top level)"
            problems.append(f"{where}: {name}: {path}: {exc.message} (Kubernetes {KUBE_VERSION})")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{where}: {name}: no {doc.get('apiVersion')} in {KUBE_VERSION}")


def _pod(doc: Manifest) -> Manifest:
    spec: Manifest = doc["spec"]["template"]["spec"]
    return spec


def _component(doc: Manifest) -> str:
    return str(doc["metadata"].get("labels", {}).get("app.kubernetes.io/component", ""))


def check_rules(
    docs: list[Manifest], values: dict[str, Any], where: str, problems: Problems
) -> None:
    kinds: dict[str, list[Manifest]] = {}
    for doc in docs:
        kinds.setdefault(doc["kind"], []).append(doc)
    deployments = {_component(d): d for d in kinds.get("Deployment", [])}
    services = {_component(d): d for d in kinds.get("Service", [])}
    for name, port in SERVICES.items():
        dep = deployments.get(name)
        if dep is None or name not in services:
            problems.append(f"{where}: no Deployment and Service for {name}")
            continue
        container = _pod(dep)["containers"][0]
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            if container.get(probe, {}).get("httpGet", {}).get("path") != path:
                problems.append(f"{where}: {name}: {probe} is not an HTTP GET of {path}")
        if container["ports"][0]["containerPort"] != port:
            problems.append(f"{where}: {name} listens on the wrong port")
    for doc in kinds.get("Deployment", []) + kinds.get("Job", []):
        for container in _pod(doc)["containers"]:
            resources = container.get("resources") or {}
            if not (resources.get("requests") and resources.get("limits")):
                problems.append(f"{where}: {doc['metadata']['name']}: no requests and limits")
    budgets = {_component(d) for d in kinds.get("PodDisruptionBudget", [])}
    for component, dep in deployments.items():
        if dep["spec"]["replicas"] > 1 and component not in budgets:
            problems.append(f"{where}: Deployment {component}: no PodDisruptionBudget")
    if not kinds.get("NetworkPolicy"):
        problems.append(f"{where}: no NetworkPolicy")
    if (values.get("receiver") or {}).get("enabled"):
        if "receiver" not in deployments or "receiver" not in services:
            problems.append(f"{where}: the receiver has no Deployment and Service")
        policies = [d for d in kinds.get("NetworkPolicy", []) if "receiver" in str(d["spec"])]
        if not policies:
            problems.append(f"{where}: no NetworkPolicy for the receiver's port")
    if (values.get("ingress") or {}).get("enabled"):
        check_ingress(kinds.get("Ingress", []), values, where, problems)
    check_secrets_stay_secret(docs, values, where, problems)


def check_ingress(
    ingresses: list[Manifest], values: dict[str, Any], where: str, problems: Problems
) -> None:
    if len(ingresses) != 1 or len(ingresses[0]["spec"]["rules"]) != 1:
        problems.append(f"{where}: expected one Ingress with one host")
        return
    paths = {
        p["path"]: (p["pathType"], p["backend"]["service"]["name"])
        for p in ingresses[0]["spec"]["rules"][0]["http"]["paths"]
    }
    wanted = {f"/{name}": f"{RELEASE}-lifeboat-{name}" for name in SERVICES}
    if (values.get("dashboard") or {}).get("enabled"):
        wanted["/"] = f"{RELEASE}-lifeboat-dashboard"
    for path, backend in wanted.items():
        if paths.get(path) != ("Prefix", backend):
            problems.append(f"{where}: ingress: {path} must go to {backend} (Prefix)")


def check_secrets_stay_secret(
    docs: list[Manifest], values: dict[str, Any], where: str, problems: Problems
) -> None:
    secret = values.get("secret") or {}
    canaries = [v for k, v in secret.items() if k in ("apiToken", "linkPsk") and v]
    for doc in docs:
        if doc["kind"] == "Secret":
            continue
        text = yaml.safe_dump(doc)
        if any(canary in text for canary in canaries):
            problems.append(f"{where}: a secret value in {doc['kind']} {doc['metadata']['name']}")


def values_files(chart: Path = CHART) -> list[Path]:
    return sorted((chart / "ci").glob("*.yaml"))


def check_chart(problems: Problems, chart: Path = CHART) -> list[str]:
    """Render, lint and validate every ci/*.yaml values file; one summary line per file."""
    summary: list[str] = []
    files = values_files(chart)
    if not files:
        problems.append(f"{chart}/ci: no values file to render")
    for path in files:
        where = f"{chart.name}/ci/{path.name}"
        values = yaml.safe_load(path.read_text("utf-8")) or {}
        if path.name.startswith("embedded"):  # inline secrets: make them canaries
            values.setdefault("secret", {})["apiToken"] = "chartcanary" + uuid.uuid4().hex
        started = time.perf_counter()
        try:
            docs = render(values, chart)
        except ValuesRefused as exc:
            problems.append(f"{where}: render refused: {exc}")
            continue
        lint(values, where, problems, chart)
        validate(docs, where, problems)
        check_rules(docs, values, where, problems)
        took = time.perf_counter() - started
        summary.append(f"{where}: {len(docs)} manifests, {took:.1f}s")
    return summary


def main() -> int:
    problems: Problems = []
    summary = check_chart(problems)
    for problem in problems:
        print(f"check_chart: {problem}", file=sys.stderr)
    if problems:
        print(f"check_chart: FAILED, {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check_chart: OK, rendered and valid against Kubernetes {KUBE_VERSION} (strict): ")
    print("\n".join(f"  {line}" for line in summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

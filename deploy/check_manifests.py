"""Static checks of docker-compose.yml, the Dockerfile and the Helm chart in deploy/helm/lifeboat.

Neither Docker's engine nor helm runs on the development machines or in CI, so nothing here
starts a container or renders the chart with helm's Go template engine. Instead:

* docker-compose.yml is interpolated the way Compose does (``${VAR:-default}``, ``$$``, with an
  empty environment) and validated against the Compose specification's JSON schema as vendored in
  the ``check-jsonschema`` package (``vendor.compose-spec``), then cross-checked: depends_on
  targets exist, each Lifeboat service runs ``lifeboat-<name> serve`` on its port, publishes that
  port, has a /readyz healthcheck and waits for Kafka, PostgreSQL and the migrate step.
* the Dockerfile's COPY sources exist and cover every uv workspace member's pyproject.toml.
* the chart: Chart.yaml fields, values.yaml parses, every ``.Values.a.b`` a template reads exists
  in values.yaml, every ``include`` names a ``define``, if/range/with/define blocks are balanced,
  and each template still parses as YAML once its template directives are stripped (an
  approximation of a render, not ``helm template``). If a ``helm`` binary happens to be on PATH,
  ``helm lint`` and ``helm template`` are run as well.

Exit status 0 when everything holds; 1 with one line per problem otherwise.
Run: ``uv run python deploy/check_manifests.py`` (``--root DIR`` checks another checkout).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
CHART = ROOT / "deploy" / "helm" / "lifeboat"
SERVICES = {
    "policy": 8701,
    "replicator": 8702,
    "orchestrator": 8703,
    "verifier": 8704,
    "billing": 8705,
}

Problems = list[str]
# What the operator must provide to docker-compose.yml (sample values for the static check).
COMPOSE_SECRETS = {
    "LIFEBOAT_API_TOKEN": "check-manifests-token",
    "POSTGRES_PASSWORD": "check-manifests-password",
    "LIFEBOAT_LINK_PSK_FILE": "./link.psk",
}


# ----------------------------------------------------------------------------- docker compose


_INTERPOLATION = re.compile(
    r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<op>:?[-?+])?(?P<arg>[^}]*)\})"
)


def interpolate(value: str, env: dict[str, str], where: str, problems: Problems) -> str:
    """Compose's variable substitution, so the schema sees the values Compose would validate."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op") or "", match.group("arg")
        current = env.get(name)
        unset_or_empty = not current if op.startswith(":") else current is None
        if op.endswith("-"):
            return arg if unset_or_empty else str(current)
        if op.endswith("?"):
            if unset_or_empty:
                problems.append(f"{where}: ${{{name}}} is required by the file but not set")
            return current or ""
        if op.endswith("+"):
            return "" if unset_or_empty else arg
        return current or ""

    return _INTERPOLATION.sub(one, value)


def interpolate_tree(node: Any, env: dict[str, str], where: str, problems: Problems) -> Any:
    if isinstance(node, str):
        return interpolate(node, env, where, problems)
    if isinstance(node, list):
        return [interpolate_tree(v, env, f"{where}[{i}]", problems) for i, v in enumerate(node)]
    if isinstance(node, dict):
        return {k: interpolate_tree(v, env, f"{where}.{k}", problems) for k, v in node.items()}
    return node


def compose_schema() -> dict[str, Any]:
    try:
        vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    except ModuleNotFoundError:
        sys.exit(
            "check_manifests: the check-jsonschema package is missing (it vendors the Compose "
            "schema): add it to the dev dependency group, or run "
            "`uv run --with check-jsonschema python deploy/check_manifests.py`"
        )
    schema: dict[str, Any] = json.loads(vendor.joinpath("compose-spec.json").read_text("utf-8"))
    return schema


def check_compose(problems: Problems) -> None:
    doc = yaml.safe_load(COMPOSE.read_text("utf-8"))
    if not isinstance(doc, dict):
        problems.append(f"{COMPOSE.name}: top level is not a mapping")
        return
    # The secrets have no fallback in the file: without them compose must refuse to start.
    unset: Problems = []
    interpolate_tree(doc, {}, COMPOSE.name, unset)
    missing = {re.sub(r".*\$\{(\w+)\}.*", r"\1", p) for p in unset}
    if missing != set(COMPOSE_SECRETS):
        problems.append(
            f"{COMPOSE.name}: the variables required without a fallback must be exactly "
            f"{sorted(COMPOSE_SECRETS)}, got {sorted(missing)} (a secret with a default value?)"
        )
    names = "|".join(COMPOSE_SECRETS)
    for fallback in re.findall(rf"\$\{{(?:{names}):?[-+][^}}]*\}}", COMPOSE.read_text("utf-8")):
        problems.append(f"{COMPOSE.name}: {fallback}: a secret must not have a fallback value")
    doc = interpolate_tree(doc, COMPOSE_SECRETS, COMPOSE.name, problems)
    validator = Draft202012Validator(
        compose_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(doc), key=lambda e: [str(p) for p in e.absolute_path])
    deeper = {tuple(e.absolute_path)[:n] for e in errors for n in range(len(e.absolute_path))}
    for error in errors:
        if error.validator == "unevaluatedProperties" and tuple(error.absolute_path) in deeper:
            continue  # a consequence of the more precise error reported below it
        path = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        problems.append(f"{COMPOSE.name}: {path}: {error.message} (compose-spec schema)")
    services: dict[str, Any] = doc.get("services") or {}
    for name, svc in services.items():
        for dep in svc.get("depends_on") or []:
            if dep not in services:
                problems.append(f"{COMPOSE.name}: services.{name}.depends_on: no service {dep!r}")
    for name, port in SERVICES.items():
        check_compose_service(name, port, services.get(name), services, problems)


def check_compose_service(
    name: str, port: int, svc: Any, services: dict[str, Any], problems: Problems
) -> None:
    where = f"{COMPOSE.name}: services.{name}"
    if not isinstance(svc, dict):
        problems.append(f"{where}: missing (every Lifeboat service must be in the stack)")
        return
    if svc.get("command") != [f"lifeboat-{name}", "serve"]:
        problems.append(f"{where}.command: expected ['lifeboat-{name}', 'serve']")
    if "build" not in svc:
        problems.append(f"{where}.build: missing (services are built from ./Dockerfile)")
    env = svc.get("environment") or {}
    if not isinstance(env, dict):
        problems.append(f"{where}.environment: use the mapping form")
        env = {}
    if str(env.get(f"LIFEBOAT_{name.upper()}_HTTP_PORT")) != str(port):
        problems.append(f"{where}.environment: LIFEBOAT_{name.upper()}_HTTP_PORT must be {port}")
    for key, want in (("LIFEBOAT_MODE", "production"), ("LIFEBOAT_BUS", "kafka")):
        if env.get(key) != want:
            problems.append(f"{where}.environment: {key} must be {want!r}")
    for key in ("LIFEBOAT_API_TOKEN", "LIFEBOAT_DATABASE_URL", "LIFEBOAT_KAFKA_BOOTSTRAP"):
        if not env.get(key):
            problems.append(f"{where}.environment: {key} is not set")
    if name == "replicator" and (
        "link_psk" not in (svc.get("secrets") or [])
        or env.get("LIFEBOAT_REPLICATOR_LINK_PSK_FILE") != "/run/secrets/link_psk"
    ):
        problems.append(f"{where}: the link key must come from the link_psk secret")
    if not any(str(p).endswith(f":{port}") for p in svc.get("ports") or []):
        problems.append(f"{where}.ports: container port {port} is not published")
    test = " ".join(str(t) for t in (svc.get("healthcheck") or {}).get("test") or [])
    if f":{port}/readyz" not in test:
        problems.append(f"{where}.healthcheck: must probe http://127.0.0.1:{port}/readyz")
    deps = svc.get("depends_on") or {}
    wanted = {
        "kafka": "service_healthy",
        "postgres": "service_healthy",
        "migrate": "service_completed_successfully",
    }
    for dep, condition in wanted.items():
        got = deps.get(dep, {}).get("condition") if isinstance(deps, dict) else None
        if got != condition:
            problems.append(f"{where}.depends_on.{dep}: condition must be {condition}")
    if "migrate" in services:
        command = " ".join(str(c) for c in services["migrate"].get("command") or [])
        if "migrate" not in command:
            problems.append(f"{COMPOSE.name}: services.migrate.command does not migrate")


# ----------------------------------------------------------------------------- Dockerfile


def check_dockerfile(problems: Problems) -> None:
    lines = DOCKERFILE.read_text("utf-8").splitlines()
    copied: set[str] = set()
    for number, line in enumerate(lines, 1):
        words = line.split()
        if not words or words[0].upper() != "COPY" or any(w.startswith("--from") for w in words):
            continue
        for source in [w for w in words[1:-1] if not w.startswith("--")]:
            copied.add(source.rstrip("/"))
            if not (ROOT / source).exists():
                problems.append(f"Dockerfile:{number}: COPY source {source} does not exist")
    root = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    for pattern in root["tool"]["uv"]["workspace"]["members"]:
        for member in sorted(ROOT.glob(pattern)):
            if not (member / "pyproject.toml").is_file():
                continue
            rel = member.relative_to(ROOT).as_posix()
            for needed in (f"{rel}/pyproject.toml", f"{rel}/src"):
                if needed not in copied:
                    problems.append(f"Dockerfile: workspace member {rel}: COPY {needed} missing")
    text = "\n".join(lines)
    if not re.search(r"^USER\s+(?!root\b|0\b)\S+", text, re.MULTILINE):
        problems.append("Dockerfile: the final stage must switch to a non-root USER")
    if "--no-install-workspace" not in text or "--frozen" not in text:
        problems.append("Dockerfile: expected a cached `uv sync --frozen --no-install-workspace`")


# ----------------------------------------------------------------------------- Helm chart

_ACTION = re.compile(r"{{-?\s*(.*?)\s*-?}}", re.DOTALL)
_COMMENT = re.compile(r"{{-?\s*/\*.*?\*/\s*-?}}", re.DOTALL)
_VALUES_REF = re.compile(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)")
_SVC_REF = re.compile(r"\$svc\.([A-Za-z_][A-Za-z0-9_]*)")
_DIRECTIVE_LINE = re.compile(r"^\s*(?:{{.*?}}\s*)+$")
_OPENERS = ("if", "range", "with", "define", "block")


def templates() -> Iterator[Path]:
    yield from sorted(p for p in (CHART / "templates").iterdir() if p.is_file())


def lookup(values: Any, dotted: str) -> bool:
    node = values
    for key in dotted.strip(".").split("."):
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def strip_directives(text: str) -> str:
    """Drop directive-only lines and turn inline actions into a scalar, keeping the YAML shape."""
    text = _COMMENT.sub("", text)
    kept = [line for line in text.splitlines() if not _DIRECTIVE_LINE.match(line)]
    return _ACTION.sub("TPL", "\n".join(kept))


def check_chart_metadata(problems: Problems) -> Any:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text("utf-8"))
    if not isinstance(chart, dict):
        problems.append("Chart.yaml: not a mapping")
        return None
    if chart.get("apiVersion") != "v2":
        problems.append("Chart.yaml: apiVersion must be v2")
    for field in ("name", "version", "appVersion", "description"):
        if not chart.get(field):
            problems.append(f"Chart.yaml: {field} is missing")
    if not re.fullmatch(r"\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?", str(chart.get("version", ""))):
        problems.append("Chart.yaml: version must be SemVer 2 (e.g. 0.1.0)")
    if chart.get("type", "application") not in ("application", "library"):
        problems.append("Chart.yaml: type must be application or library")
    if chart.get("name") != CHART.name:
        problems.append(f"Chart.yaml: name must match the directory ({CHART.name})")
    values = yaml.safe_load((CHART / "values.yaml").read_text("utf-8"))
    if not isinstance(values, dict):
        problems.append("values.yaml: not a mapping")
        return None
    return values


def check_chart_values(values: dict[str, Any], problems: Problems) -> None:
    services = values.get("services") or {}
    for name, port in SERVICES.items():
        svc = services.get(name)
        if not isinstance(svc, dict):
            problems.append(f"values.yaml: services.{name} is missing")
        elif svc.get("port") != port:
            problems.append(f"values.yaml: services.{name}.port must be {port}")
    probes = values.get("probes") or {}
    for probe, path in (("liveness", "/healthz"), ("readiness", "/readyz")):
        if (probes.get(probe) or {}).get("path") != path:
            problems.append(f"values.yaml: probes.{probe}.path must be {path}")


def check_chart_templates(values: dict[str, Any], problems: Problems) -> None:
    helpers = "\n".join(p.read_text("utf-8") for p in templates() if p.suffix == ".tpl")
    defined = set(re.findall(r'{{-?\s*define\s+"([^"]+)"', helpers))
    for path in templates():
        text = path.read_text("utf-8")
        name = f"templates/{path.name}"
        for ref in sorted(set(_VALUES_REF.findall(text))):
            if not lookup(values, ref):
                problems.append(f"{name}: .Values{ref} is not in values.yaml")
        for key in sorted(set(_SVC_REF.findall(text))):
            optional = lookup(values, f"defaults.{key}")
            for svc_name, svc in (values.get("services") or {}).items():
                if not optional and key not in svc:
                    problems.append(f"{name}: $svc.{key} read but services.{svc_name}.{key} unset")
        for included in sorted(set(re.findall(r'(?:include|template)\s+"([^"]+)"', text))):
            if included not in defined:
                problems.append(f'{name}: include "{included}" has no define')
        depth = 0
        for action in _ACTION.findall(_COMMENT.sub("", text)):
            word = action.split(maxsplit=1)[0] if action.split() else ""
            depth += 1 if word in _OPENERS else -1 if word == "end" else 0
            if depth < 0:
                problems.append(f"{name}: {{{{ end }}}} without an opening block")
                depth = 0
        if depth:
            problems.append(f"{name}: {depth} if/range/with/define block(s) never closed")
        if path.suffix != ".yaml":
            continue
        try:
            docs = [d for d in yaml.safe_load_all(strip_directives(text)) if d is not None]
        except yaml.YAMLError as exc:
            problems.append(f"{name}: not YAML once directives are stripped: {exc}")
            continue
        for doc in docs:
            if not isinstance(doc, dict) or not {"apiVersion", "kind", "metadata"} <= set(doc):
                problems.append(f"{name}: a document lacks apiVersion, kind or metadata")


# ----------------------------------------------------------------------------- optional helm


# Canary values: in the rendered chart they may appear in the Secret and nowhere else.
HELM_CANARY = "chartcanary" + uuid.uuid4().hex
HELM_TEST_VALUES = {
    "secret": {
        "apiToken": HELM_CANARY,
        "linkPsk": uuid.uuid4().hex + uuid.uuid4().hex,
        "kafkaSaslPassword": HELM_CANARY,
    },
    "database": {"url": f"postgresql+asyncpg://lifeboat:{HELM_CANARY}@postgres:5432/lifeboat"},
    "kafka": {
        "security": {"protocol": "SASL_SSL", "saslUsername": "lifeboat", "caSecret": "kafka-ca"}
    },
}


# A helm built without release flags assumes Kubernetes 1.20, below the chart's kubeVersion.
HELM_KUBE_VERSION = "1.31.0"


def check_with_helm(helm: str, problems: Problems) -> None:
    """Only where a helm binary exists: a real lint and render, then checks on the output."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as handle:
        yaml.safe_dump(HELM_TEST_VALUES, handle)
    try:
        for args in (["lint", "--strict"], ["template", "check"]):
            args.extend(["--kube-version", HELM_KUBE_VERSION])
            run = subprocess.run(
                [helm, *args, str(CHART), "-f", handle.name],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if run.returncode:
                problems.append(f"helm {args[0]}: {(run.stdout + run.stderr).strip()}")
                return
        rendered = [d for d in yaml.safe_load_all(run.stdout) if d]
    finally:
        os.unlink(handle.name)
    deployments = {d["metadata"]["name"]: d for d in rendered if d["kind"] == "Deployment"}
    for name, port in SERVICES.items():
        dep = deployments.get(f"check-lifeboat-{name}")
        if dep is None:
            problems.append(f"helm template: no Deployment for {name}")
            continue
        container = dep["spec"]["template"]["spec"]["containers"][0]
        if container["livenessProbe"]["httpGet"]["path"] != "/healthz":
            problems.append(f"helm template: {name} liveness probe is not /healthz")
        if container["readinessProbe"]["httpGet"]["path"] != "/readyz":
            problems.append(f"helm template: {name} readiness probe is not /readyz")
        if container["ports"][0]["containerPort"] != port:
            problems.append(f"helm template: {name} listens on the wrong port")
    psk = str(HELM_TEST_VALUES["secret"]["linkPsk"])
    for doc in rendered:
        text = yaml.safe_dump(doc)
        if doc["kind"] != "Secret" and (HELM_CANARY in text or psk in text):
            problems.append(f"helm template: a secret value in {doc['kind']} {doc['metadata']}")
    pod = deployments.get("check-lifeboat-replicator", {}).get("spec", {}).get("template", {})
    containers = pod.get("spec", {}).get("containers", [])
    mounts = [m["mountPath"] for c in containers for m in c.get("volumeMounts", [])]
    if "/etc/lifeboat/link" not in mounts:
        problems.append("helm template: the replicator does not mount the link key")
    kinds = sorted({d["kind"] for d in rendered})
    for kind in ("ConfigMap", "Job", "Secret", "Service"):
        if kind not in kinds:
            problems.append(f"helm template: no {kind} rendered (got {kinds})")


def use_root(root: Path) -> None:
    global ROOT, COMPOSE, DOCKERFILE, CHART
    ROOT = root.resolve()
    COMPOSE = ROOT / "docker-compose.yml"
    DOCKERFILE = ROOT / "Dockerfile"
    CHART = ROOT / "deploy" / "helm" / "lifeboat"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root to check")
    use_root(parser.parse_args().root)
    problems: Problems = []
    check_compose(problems)
    check_dockerfile(problems)
    values = check_chart_metadata(problems)
    if isinstance(values, dict):
        check_chart_values(values, problems)
        check_chart_templates(values, problems)
    helm = shutil.which("helm")
    if helm:
        check_with_helm(helm, problems)
    for problem in problems:
        print(f"check_manifests: {problem}", file=sys.stderr)
    if problems:
        print(f"check_manifests: FAILED, {len(problems)} problem(s)", file=sys.stderr)
        return 1
    rendered = "helm lint + template ran" if helm else "no helm on PATH: chart not rendered"
    print(
        "check_manifests: OK - docker-compose.yml valid against the compose-spec schema, "
        f"Dockerfile covers the workspace, Helm chart structure sound ({rendered})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

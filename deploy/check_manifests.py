"""Checks of docker-compose.yml, the Dockerfile and the Helm chart in deploy/helm/lifeboat.

No Docker engine runs on the development machines or in CI, so nothing here starts a container:

* docker-compose.yml is interpolated the way Compose does (``${VAR:-default}``, ``$$``, with an
  empty environment) and validated against the Compose specification's JSON schema as vendored in
  the ``check-jsonschema`` package (``vendor.compose-spec``), then cross-checked: depends_on
  targets exist, each Lifeboat service runs ``lifeboat-<name> serve`` on its port, publishes that
  port, has a /readyz healthcheck and waits for Kafka, PostgreSQL and the migrate step.
* the Dockerfile's COPY sources exist and cover every uv workspace member's pyproject.toml.
* the chart is rendered with helm's own template engine for each values file in its ci/ folder,
  linted, and every manifest validated against Kubernetes' schemas in strict mode: see
  check_chart.py beside this file.

Exit status 0 when everything holds; 1 with one line per problem otherwise.
Run: ``uv run python deploy/check_manifests.py`` (``--root DIR`` checks another checkout).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_chart import KUBE_VERSION, check_chart  # a script beside this one

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
# Rendered with helm's Go template engine and validated against Kubernetes' schemas: check_chart.py.


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
    summary = check_chart(problems, CHART)
    for problem in problems:
        print(f"check_manifests: {problem}", file=sys.stderr)
    if problems:
        print(f"check_manifests: FAILED, {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(
        "check_manifests: OK - docker-compose.yml valid against the compose-spec schema, "
        f"Dockerfile covers the workspace, Helm chart rendered and valid against Kubernetes "
        f"{KUBE_VERSION} (strict): {'; '.join(summary)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`lifeboat plan create|list|show|refresh|check|delete`: recovery plans (orchestrator service).

Also home of the ``--orchestrator-url`` option every orchestrator verb shares. A plan file is
checked here against the same ``PlanSpec`` model the service uses, so a typo in a file names the
field and exits 2 (a usage error) before anything is sent.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote

import typer
import yaml
from rich.table import Table

from lifeboat_cli.verbs._client import (
    DEFAULT_TOKEN,
    Column,
    JsonOut,
    Token,
    call,
    console,
    fail,
    show,
    show_fields,
)

if TYPE_CHECKING:
    from pydantic import ValidationError

OrchestratorUrl = Annotated[
    str,
    typer.Option(
        "--orchestrator-url", envvar="LIFEBOAT_ORCHESTRATOR_URL", help="Orchestrator service URL"
    ),
]
DEFAULT_ORCHESTRATOR_URL = "http://127.0.0.1:8703"
ENV_HINT = "LIFEBOAT_ORCHESTRATOR_URL"

app = typer.Typer(
    no_args_is_help=True, help="Recovery plans: what comes up where, in which order, wired how"
)


def ocall(method: str, url: str, path: str, token: str, **kwargs: Any) -> Any:
    """``call`` with the hint that names the orchestrator's URL variable."""
    return call(method, url, path, token, env_hint=ENV_HINT, **kwargs)


def seg(value: str) -> str:
    """One URL path segment (plan names may hold spaces or slashes)."""
    return quote(value, safe="")


def _ready(plan: dict[str, Any]) -> str:
    readiness = plan.get("readiness")
    if not readiness:
        return "unchecked"
    return "yes" if readiness.get("ready") else "no"


COLUMNS: list[Column] = [
    ("name", lambda p: p["name"]),
    ("id", lambda p: p["id"]),
    ("status", lambda p: p["state"]["status"]),
    ("active site", lambda p: p["state"]["active_site"]),
    ("protected to", lambda p: p["state"]["protected_to"]),
    ("ready", _ready),
    ("members", lambda p: p["members"]),
    ("recovery sites", lambda p: ", ".join(p["spec"]["target_sites"])),
]


def _error_lines(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{loc}: {msg}" if loc else msg)  # model checks name their field
    return "; ".join(lines)


def _parse(text: str, source: str, as_yaml: bool) -> Any:
    if as_yaml:
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1} column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or type(exc).__name__
            fail(f"--file {source}: not valid YAML{where}: {problem}", code=2)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(
            f"--file {source}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
            code=2,
        )


def load_plan_file(path: str) -> dict[str, Any]:
    """The plan spec in a JSON or YAML file (``-``: stdin, JSON or YAML), validated locally."""
    if path == "-":
        text = sys.stdin.read()
        as_yaml = not text.lstrip().startswith(("{", "["))
    else:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            fail(f"--file {path}: cannot read it ({reason})", code=2)
        as_yaml = Path(path).suffix.lower() in (".yaml", ".yml")
    data = _parse(text, path, as_yaml)
    if not isinstance(data, dict):
        fail(f"--file {path}: expected one object (the plan spec), got {type(data).__name__}", 2)
    from pydantic import ValidationError

    from lifeboat_orchestrator.domain.plan import PlanSpec  # only when a plan file is read

    try:
        PlanSpec.model_validate(data)
    except ValidationError as exc:
        fail(f"--file {path}: {_error_lines(exc)}", code=2)
    return data


def resolve(url: str, token: str, plan: str) -> dict[str, Any]:
    """A plan by id or name (the service accepts either)."""
    found: dict[str, Any] = ocall("GET", url, f"/v1/plans/{seg(plan)}", token)
    return found


PlanArg = Annotated[str, typer.Argument(help="Plan name or id")]


@app.command("create")
def create(
    file: Annotated[
        str, typer.Option("--file", "-f", help="Plan spec: .json, .yaml/.yml, or - for stdin")
    ],
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Create a plan; the service captures its servers' configuration from the protected site."""
    body = load_plan_file(file)
    plan = ocall("POST", orchestrator_url, "/v1/plans", token, body=body)
    if json_output:
        show(plan, COLUMNS, as_json=True)
        return
    show(plan, COLUMNS, as_json=False)
    console.print(f"check it is ready: lifeboat plan check {plan['name']}", highlight=False)


@app.command("list")
def list_plans(
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """List plans with their status, where they run and whether the last check found them ready."""
    data = ocall("GET", orchestrator_url, "/v1/plans", token)
    show(data, COLUMNS, as_json=json_output, title="Recovery plans")


def _fields(plan: dict[str, Any]) -> dict[str, Any]:
    spec, state = plan["spec"], plan["state"]
    readiness = plan.get("readiness") or {}
    return {
        "id": plan["id"],
        "name": plan["name"],
        "project": spec["project_id"],
        "status": state["status"],
        "active site": state["active_site"],
        "protected to": state["protected_to"],
        "protected site": spec["source_site"],
        "recovery sites": ", ".join(spec["target_sites"]),
        "groups": ", ".join(spec["groups"]),
        "environment": spec["environment"],
        "failover mode": spec["failover_mode"],
        "members": plan["members"],
        "ready": _ready(plan),
        "partition": _partition(plan),
        "checked at": readiness.get("checked_at"),
        "updated": plan["updated_at"],
    }


def _partition(plan: dict[str, Any]) -> str | None:
    """UC6: the cut link the plan replicates over while both sites are up, and what it allows."""
    p = plan.get("partition")
    if not p:
        return None
    offer = p.get("offer") or "none (only the primary runs)"
    return f"{p['link']} since {p['since']}; offer: {offer}"


def _tiers_table(plan: dict[str, Any]) -> Table:
    captured = (plan.get("capture") or {}).get("servers", {})
    table = Table(title="Tiers (boot order)")
    for header in ("tier", "depends on", "servers", "stateless"):
        table.add_column(header)
    for tier in plan["spec"]["tiers"]:
        servers = [captured.get(s, {}).get("name", s) for s in tier["servers"]]
        stateless = [f"{m['name']} x{m['count']}" for m in tier["stateless"]]
        deps = tier["depends_on"]
        table.add_row(
            tier["name"],
            "(previous)" if deps is None else ", ".join(deps) or "-",
            ", ".join(servers) or "-",
            ", ".join(stateless) or "-",
        )
    return table


@app.command("show")
def show_plan(
    plan: PlanArg,
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Show a plan: where it runs, its tiers and the servers captured for each."""
    data = resolve(orchestrator_url, token, plan)
    if json_output:
        show_fields(data, as_json=True)
        return
    show_fields(_fields(data), as_json=False)
    console.print(_tiers_table(data))


@app.command("refresh")
def refresh(
    plan: PlanArg,
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Capture the servers' configuration again (after flavors, ports or volumes changed)."""
    data = ocall("POST", orchestrator_url, f"/v1/plans/{seg(plan)}/refresh", token)
    show(data, COLUMNS, as_json=json_output)


def _print_sites(sites: list[dict[str, Any]]) -> None:
    """Per recovery site: each group's newest verified CP there and its age (UC3a x UC9)."""
    if not sites:
        return
    table = Table(title="Consistency points by recovery site")
    for header in ("site", "group", "consistency point", "age", "site qualifies", "site ready"):
        table.add_column(header)
    for row in sites:
        yes = {True: "[green]yes[/]", False: "[red]no[/]"}
        for g in row["groups"] or [{"group": "-", "consistency_point_id": None}]:
            age = g.get("age_seconds")
            table.add_row(
                row["site"],
                g["group"],
                g["consistency_point_id"] or "[red]none[/]",
                f"{age:.0f} s" if age is not None else "-",
                yes[row["qualifies"]],
                yes[row["ready"]],
            )
    console.print(table)


@app.command("check")
def check(
    plan: PlanArg,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when the plan is not ready (for scripts)")
    ] = False,
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Dry run at every recovery site: CPs, flavors, images, networks, quotas."""
    data = ocall("POST", orchestrator_url, f"/v1/plans/{seg(plan)}/readiness", token)
    readiness = data.get("readiness") or {"ready": False, "checks": []}
    if json_output:
        show_fields(readiness, as_json=True)
    else:
        verdict = "[green]READY[/]" if readiness["ready"] else "[red]NOT READY[/]"
        table = Table(title=f"Readiness of plan {data['name']}: {verdict}")
        for header in ("site", "check", "ok", "detail"):
            table.add_column(header)
        for c in readiness["checks"]:
            ok = "[green]yes[/]" if c["ok"] else "[red]no[/]"
            table.add_row(c["site"], c["check"], ok, c["detail"] or "-")
        console.print(table)
        _print_sites(readiness.get("sites") or [])
    if strict and not readiness["ready"]:
        raise typer.Exit(1)


@app.command("delete")
def delete(
    plan: PlanArg,
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
) -> None:
    """Delete a plan (refused while one of its executions runs)."""
    ocall("DELETE", orchestrator_url, f"/v1/plans/{seg(plan)}", token)
    typer.echo(f"deleted plan {plan}")

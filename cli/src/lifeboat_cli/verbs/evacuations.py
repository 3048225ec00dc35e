"""`lifeboat evacuate --from SITE` and `lifeboat evacuation list|show|approve` (UC9).

An evacuation moves every plan off a site in waves; by default each wave waits for an operator's
`approve`, so a human sees the first wave land before the next starts. `show` is the live view:
one row per plan with its wave, target, execution and state.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.table import Table

from lifeboat_cli.verbs._client import (
    DEFAULT_TOKEN,
    Column,
    JsonOut,
    Token,
    console,
    show,
    show_fields,
)
from lifeboat_cli.verbs.plans import DEFAULT_ORCHESTRATOR_URL, OrchestratorUrl, ocall, seg

app = typer.Typer(no_args_is_help=True, help="Site evacuations: many plans leave a site in waves")


class Kind(StrEnum):
    failover = "failover"
    planned_migration = "planned-migration"


def _vms(e: dict[str, Any]) -> str:
    s = e["summary"]
    return f"{s['vms_recovered']}/{s['vms']}"


def _waves(e: dict[str, Any]) -> str:
    waves = e["summary"]["waves"]
    return f"{sum(1 for w in waves if w['state'] == 'done')}/{len(waves)}"


COLUMNS: list[Column] = [
    ("id", lambda e: e["id"]),
    ("state", lambda e: e["state"]),
    ("from", lambda e: e["spec"]["source_site"]),
    ("kind", lambda e: e["spec"]["kind"]),
    ("plans", lambda e: e["summary"]["plans"]),
    ("VMs recovered", _vms),
    ("waves done", _waves),
    ("started", lambda e: e["created_at"]),
]


def _waiting(e: dict[str, Any]) -> bool:
    return any(w["state"] == "awaiting-approval" for w in e["waves"])


def render(e: dict[str, Any], *, as_json: bool) -> None:
    """Summary fields, one row per plan, and the next thing to do."""
    if as_json:
        show_fields(e, as_json=True)
        return
    spec, summary = e["spec"], e["summary"]
    show_fields(
        {
            "id": e["id"],
            "state": e["state"],
            "from": spec["source_site"],
            "to": ", ".join(spec["target_sites"] or []) or "each plan's recovery sites",
            "kind": spec["kind"],
            "approval": spec["approval"],
            "wave size / max parallel": f"{spec['wave_size']} / {spec['max_parallel']}",
            "plans by state": summary["by_state"],
            "VMs recovered": _vms(e),
            "VMs by target": summary["vms_by_target"],
            "elapsed": f"{summary['elapsed_seconds']:.1f} s",
        },
        as_json=False,
    )
    table = Table(title="Waves")
    for header in ("wave", "wave state", "plan", "VMs", "to", "execution", "state", "error"):
        table.add_column(header)
    for wave in e["waves"]:
        for p in wave["plans"]:
            table.add_row(
                str(wave["index"]),
                wave["state"],
                p["name"],
                str(p["vms"]),
                p["target_site"],
                p["execution_id"] or "-",
                p["state"],
                p["error"] or "-",
            )
    console.print(table)
    for p in e.get("not_evacuable") or []:
        console.print(f"[red]not evacuable[/] {p['name']}: {p['reason']}", highlight=False)
    if e["state"] == "running" and _waiting(e):
        console.print(f"next wave waits: lifeboat evacuation approve {e['id']}", highlight=False)


def evacuate(
    source: Annotated[str, typer.Option("--from", help="Site to evacuate")],
    to: Annotated[
        list[str] | None,
        typer.Option("--to", help="Spread plans over these sites (repeat; default: each plan's)"),
    ] = None,
    plan: Annotated[
        list[str] | None,
        typer.Option("--plan", help="Only these plans, name or id (repeat; default: all there)"),
    ] = None,
    wave_size: Annotated[int | None, typer.Option(min=1, help="Plans per wave")] = None,
    max_parallel: Annotated[
        int | None, typer.Option(min=1, help="Plans failing over at once")
    ] = None,
    kind: Annotated[Kind, typer.Option(help="How each plan moves")] = Kind.failover,
    approve_each_wave: Annotated[
        bool,
        typer.Option(
            "--approve-each-wave/--no-approval",
            help="Each wave waits for `lifeboat evacuation approve`",
        ),
    ] = True,
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Evacuate a site: fail its plans over in waves, least-loaded target first."""
    body: dict[str, Any] = {
        "source_site": source,
        "kind": kind.value,
        "approval": "each-wave" if approve_each_wave else "none",
    }
    for key, value in (
        ("target_sites", to),
        ("plans", plan),
        ("wave_size", wave_size),
        ("max_parallel", max_parallel),
    ):
        if value:
            body[key] = value
    render(
        ocall("POST", orchestrator_url, "/v1/evacuations", token, body=body), as_json=json_output
    )


def register(root: typer.Typer) -> None:
    """`evacuate` sits at the top level, next to `failover`."""
    root.command("evacuate")(evacuate)


EvacuationId = Annotated[str, typer.Argument(help="Evacuation id")]


@app.command("list")
def list_evacuations(
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """List evacuations, newest first."""
    data = ocall("GET", orchestrator_url, "/v1/evacuations", token)
    show(data, COLUMNS, as_json=json_output, title="Evacuations")


@app.command("show")
def show_evacuation(
    evacuation_id: EvacuationId,
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """The live view: waves, each plan's target, execution and state."""
    path = f"/v1/evacuations/{seg(evacuation_id)}"
    render(ocall("GET", orchestrator_url, path, token), as_json=json_output)


@app.command("approve")
def approve(
    evacuation_id: EvacuationId,
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Approve the next wave waiting for approval."""
    path = f"/v1/evacuations/{seg(evacuation_id)}/approve"
    render(ocall("POST", orchestrator_url, path, token), as_json=json_output)

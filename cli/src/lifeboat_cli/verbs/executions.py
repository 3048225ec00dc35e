"""`lifeboat failover|planned-migration|test-failover|test-cleanup|reprotect|failback|reconcile`
and `lifeboat execution list|show|watch`.

Starting an execution returns at once on the service; by default the verb then follows it
(``--wait``) with a progress bar of finished steps, because an operator in a disaster wants to see
it move and to get the achieved RPO and RTO at the end. The exit code says how it ended (1: failed
or cancelled), so scripts can chain verbs. Interrupting the wait leaves the execution running.
"""

from __future__ import annotations

import time
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from lifeboat_cli.verbs._client import (
    DEFAULT_TOKEN,
    Column,
    JsonOut,
    Token,
    console,
    errors,
    fail,
    show,
    show_fields,
)
from lifeboat_cli.verbs.plans import (
    DEFAULT_ORCHESTRATOR_URL,
    OrchestratorUrl,
    PlanArg,
    ocall,
    resolve,
    seg,
)

app = typer.Typer(no_args_is_help=True, help="Executions of plans: progress, steps, outcome")

POLL_SECONDS = 0.5


class State(StrEnum):
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


class Resolution(StrEnum):
    keep_primary = "keep-primary"
    keep_dr = "keep-dr"
    keep_both = "keep-both"


def _seconds(value: float | None) -> str | None:
    return None if value is None else f"{value:.1f} s"


COLUMNS: list[Column] = [
    ("id", lambda e: e["id"]),
    ("plan", lambda e: e.get("plan_name") or e["plan_id"]),
    ("kind", lambda e: e["kind"]),
    ("state", lambda e: e["state"]),
    ("steps", lambda e: f"{e['done']}/{e['total']}" if e["total"] else "-"),
    ("to", lambda e: e["target_site"]),
    ("RPO", lambda e: _seconds(e["rpo_seconds"])),
    ("RTO", lambda e: _seconds(e["rto_seconds"])),
    ("started", lambda e: e["created_at"]),
]


def _took(step: dict[str, Any]) -> str | None:
    if not step["started_at"] or not step["finished_at"]:
        return None
    start = datetime.fromisoformat(step["started_at"])
    end = datetime.fromisoformat(step["finished_at"])
    return f"{(end - start).total_seconds():.1f} s"


def _summary(e: dict[str, Any]) -> dict[str, Any]:
    return {
        "execution": e["id"],
        "kind": e["kind"],
        "plan": e.get("plan_name") or e["plan_id"],
        "state": e["state"],
        "from -> to": f"{e['source_site']} -> {e['target_site']}",
        "steps done": f"{e['done']}/{e['total']}",
        "consistency point": e["consistency_point_id"],
        "recovery point": e["recovery_point"],
        "RPO (achieved)": _seconds(e["rpo_seconds"]),
        "source stopped": e.get("source_stopped_at"),
        "RPO measured by": e.get("rpo_basis"),
        "decision time": _seconds(e.get("decision_seconds")),
        "RTO (achieved)": _seconds(e["rto_seconds"]),
        "error": e["error"],
    }


def _steps_table(steps: list[dict[str, Any]], title: str) -> Table:
    table = Table(title=title)
    for header in ("step", "action", "tier", "site", "state", "attempts", "took", "error"):
        table.add_column(header)
    for s in steps:
        table.add_row(
            s["id"],
            s["action"],
            s["tier"] or "-",
            s["site"] or "-",
            s["state"],
            str(s["attempts"]),
            _took(s) or "-",
            s["error"] or "-",
        )
    return table


def report(e: dict[str, Any], *, as_json: bool, plan: str | None = None) -> None:
    """The outcome: summary fields, the failed steps, and what to do next."""
    if as_json:
        show_fields(e, as_json=True)
        return
    show_fields(_summary({"plan_name": plan, **e}), as_json=False)
    failed = [s for s in e.get("steps", []) if s["state"] == "failed"]
    if failed:
        console.print(_steps_table(failed, "Failed steps"))
    if e["state"] == "running":
        console.print(f"follow it: lifeboat execution watch {e['id']}", highlight=False)
    elif e["kind"] == "test-failover" and e["state"] == "succeeded":
        console.print(
            f"tear the test down: lifeboat test-cleanup {plan or e['plan_id']} --test {e['id']}",
            highlight=False,
        )


def follow(
    url: str, token: str, e: dict[str, Any], *, timeout: float, quiet: bool
) -> dict[str, Any]:
    """Poll until the execution ends, drawing done/total steps; returns its last detail."""
    deadline = time.monotonic() + timeout
    progress = Progress(
        TextColumn(f"{e['kind']} -> {e['target_site']}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[now]}"),
        console=errors,
        disable=quiet,
    )
    try:
        with progress:
            task = progress.add_task("", total=e["total"], completed=e["done"], now="")
            while e["state"] == "running":
                if time.monotonic() > deadline:
                    progress.stop()
                    fail(
                        f"execution {e['id']} is still running after {timeout:.0f} s; follow "
                        f"it with `lifeboat execution watch {e['id']}`"
                    )
                time.sleep(POLL_SECONDS)
                e = ocall("GET", url, f"/v1/executions/{seg(e['id'])}", token)
                running = [s["id"] for s in e.get("steps", []) if s["state"] == "running"]
                now = ", ".join(running[:3]) + (" ..." if len(running) > 3 else "")
                progress.update(task, total=e["total"], completed=e["done"], now=now)
    except KeyboardInterrupt:
        errors.print(
            f"stopped watching; execution {e['id']} continues on the service "
            f"(`lifeboat execution watch {e['id']}`)",
            highlight=False,
        )
        raise typer.Exit(130) from None
    return e


def _exit_code(e: dict[str, Any]) -> int:
    return 0 if e["state"] in ("succeeded", "running") else 1


def start(
    kind: str,
    plan: str,
    *,
    orchestrator_url: str,
    token: str,
    wait: bool,
    timeout: float,
    json_output: bool,
    idempotency_key: str | None,
    target: str | None = None,
    cp: str | None = None,
    degraded: bool = False,
    test: str | None = None,
    resolution: Resolution | None = None,
) -> None:
    """POST the execution, optionally follow it, report, and exit 1 if it did not succeed. Takes
    the verbs' own parameters (each verb passes ``**locals()``)."""
    body: dict[str, Any] = {"kind": kind}
    for key, value in (
        ("target_site", target),
        ("consistency_point_id", cp),
        ("test_id", test),
        ("degraded", degraded or None),
        ("resolution", resolution.value if resolution else None),
    ):
        if value is not None:
            body[key] = value
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    url = orchestrator_url
    e = ocall("POST", url, f"/v1/plans/{seg(plan)}/executions", token, body=body, headers=headers)
    if wait:
        e = follow(url, token, e, timeout=timeout, quiet=json_output)
    report(e, as_json=json_output, plan=plan)
    raise typer.Exit(_exit_code(e))


Target = Annotated[
    str | None, typer.Option("--target", help="Recovery site (default: the plan's first)")
]
Cp = Annotated[
    str | None, typer.Option("--cp", help="Consistency point id (default: the newest verified)")
]
Wait = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Follow it to the end (exit 1 if it fails)")
]
Timeout = Annotated[float, typer.Option(min=1, help="Give up waiting after this many seconds")]
IdemKey = Annotated[
    str | None,
    typer.Option("--idempotency-key", help="Retrying with the same key starts one execution"),
]


def failover(
    plan: PlanArg,
    target: Target = None,
    cp: Cp = None,
    degraded: Annotated[
        bool,
        typer.Option(
            "--degraded", help="Split brain: bring the DR copy up while the primary still runs"
        ),
    ] = False,
    wait: Wait = True,
    timeout: Timeout = 3600,
    idempotency_key: IdemKey = None,
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Fail a plan over to its recovery site from a consistency point (the source may be gone)."""
    start("failover", **locals())


def planned_migration(
    plan: PlanArg,
    target: Target = None,
    wait: Wait = True,
    timeout: Timeout = 3600,
    idempotency_key: IdemKey = None,
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Move a plan with no data loss: stop, final sync, bring up at the recovery site."""
    start("planned-migration", **locals())


def bubble_test(
    plan: PlanArg,
    target: Target = None,
    cp: Cp = None,
    wait: Wait = True,
    timeout: Timeout = 3600,
    idempotency_key: IdemKey = None,
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Bring a copy up in an isolated bubble at the recovery site; production is untouched."""
    start("test-failover", **locals())


def bubble_cleanup(
    plan: PlanArg,
    test: Annotated[str, typer.Option("--test", help="Execution id of the test failover")],
    wait: Wait = True,
    timeout: Timeout = 3600,
    idempotency_key: IdemKey = None,
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Tear a test failover's bubble down, leaving nothing behind."""
    start("test-cleanup", **locals())


def reprotect(
    plan: PlanArg,
    wait: Wait = True,
    timeout: Timeout = 3600,
    idempotency_key: IdemKey = None,
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """After a failover, replicate back to the old site (sending only the differences)."""
    start("reprotect", **locals())


def failback(
    plan: PlanArg,
    wait: Wait = True,
    timeout: Timeout = 3600,
    idempotency_key: IdemKey = None,
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Go home after reprotect: a planned move back with zero data loss."""
    start("failback", **locals())


def reconcile(
    plan: PlanArg,
    resolution: Annotated[
        Resolution | None,
        typer.Option(help="Which side wins (default: the plan's split_brain.reconcile)"),
    ] = None,
    wait: Wait = True,
    timeout: Timeout = 3600,
    idempotency_key: IdemKey = None,
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """End a split brain; the losing side's data is kept as snapshots."""
    start("reconcile", **locals())


def register(root: typer.Typer) -> None:
    """The execution verbs sit at the top level (`lifeboat failover PLAN`)."""
    for name, verb in (
        ("failover", failover),
        ("planned-migration", planned_migration),
        ("test-failover", bubble_test),
        ("test-cleanup", bubble_cleanup),
        ("reprotect", reprotect),
        ("failback", failback),
        ("reconcile", reconcile),
    ):
        root.command(name)(verb)


ExecutionId = Annotated[str, typer.Argument(help="Execution id")]


@app.command("list")
def list_executions(
    plan: Annotated[str | None, typer.Option(help="Only this plan (name or id)")] = None,
    state: Annotated[State | None, typer.Option(help="Only executions in this state")] = None,
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """List executions, newest first."""
    plan_id = resolve(orchestrator_url, token, plan)["id"] if plan else None
    params = {"plan_id": plan_id, "state": state.value if state else None}
    data = ocall("GET", orchestrator_url, "/v1/executions", token, params=params)
    if not json_output:
        names = {p["id"]: p["name"] for p in ocall("GET", orchestrator_url, "/v1/plans", token)}
        data = [{**e, "plan_name": names.get(e["plan_id"])} for e in data]
    show(data, COLUMNS, as_json=json_output, title="Executions")


@app.command("show")
def show_execution(
    execution_id: ExecutionId,
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Show an execution and every step: state, attempts, how long it took, its error."""
    e = ocall("GET", orchestrator_url, f"/v1/executions/{seg(execution_id)}", token)
    if json_output:
        show_fields(e, as_json=True)
        return
    show_fields(_summary(e), as_json=False)
    console.print(_steps_table(e["steps"], "Steps"))


@app.command("watch")
def watch(
    execution_id: ExecutionId,
    timeout: Timeout = 3600,
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Follow a running execution to its end (exit 1 if it fails)."""
    e = ocall("GET", orchestrator_url, f"/v1/executions/{seg(execution_id)}", token)
    e = follow(orchestrator_url, token, e, timeout=timeout, quiet=json_output)
    report(e, as_json=json_output)
    raise typer.Exit(_exit_code(e))

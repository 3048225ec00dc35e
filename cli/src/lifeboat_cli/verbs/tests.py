"""`lifeboat test define|list|run|show`: bubble tests (verifier service).

A definition file (JSON or YAML) names the plan, an optional cron schedule, the consistency
point (default: the newest) and the checks; ``run`` starts one now and follows it: the phase,
then each check's verdict, until the teardown is confirmed; it exits 1 when the run failed.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

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
from lifeboat_cli.verbs.plans import load_plan_file

VerifierUrl = Annotated[
    str, typer.Option("--verifier-url", envvar="LIFEBOAT_VERIFIER_URL", help="Verifier URL")
]
DEFAULT_VERIFIER_URL = "http://127.0.0.1:8704"
ENV_HINT = "LIFEBOAT_VERIFIER_URL"

app = typer.Typer(
    no_args_is_help=True,
    help="Bubble tests: prove a recovery plan works, on a schedule or now, with your checks",
)


def vcall(method: str, url: str, path: str, token: str, **kwargs: Any) -> Any:
    return call(method, url, path, token, env_hint=ENV_HINT, **kwargs)


COLUMNS: list[Column] = [
    ("name", lambda d: d["name"]),
    ("id", lambda d: d["definition_id"]),
    ("plan", lambda d: d["plan_id"]),
    ("schedule", lambda d: d["schedule"] or "on demand"),
    ("next", lambda d: d["next_due_at"]),
    ("checks", lambda d: ", ".join(c["name"] for c in d["checks"])),
    ("enabled", lambda d: "yes" if d["enabled"] else "no"),
]
RUN_COLUMNS: list[Column] = [
    ("run", lambda r: r["test_id"]),
    ("plan", lambda r: r["plan_id"]),
    ("phase", lambda r: r["phase"]),
    ("verdict", lambda r: r["status"]),
    ("RTO s", lambda r: r["rto_seconds"]),
    ("RPO s", lambda r: r["rpo_seconds"]),
    ("cleanup", lambda r: r["cleanup"]),
    ("started", lambda r: r["started_at"]),
]
CHECK_COLUMNS: list[Column] = [
    ("check", lambda c: c["name"]),
    ("kind", lambda c: c["kind"]),
    ("target", lambda c: c["target"]),
    ("ok", lambda c: "yes" if c["passed"] else "NO"),
    ("tries", lambda c: c["attempts"]),
    ("s", lambda c: c["duration_seconds"]),
    ("reason", lambda c: c["reason"]),
]


@app.command("define")
def define(
    file: Annotated[
        str, typer.Option("--file", "-f", help="Definition: .json, .yaml/.yml, or - for stdin")
    ],
    verifier_url: VerifierUrl = DEFAULT_VERIFIER_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Define a bubble test (plan_id, schedule, consistency_point_id, checks)."""
    body = load_plan_file(file)
    data = vcall("POST", verifier_url, "/v1/test-definitions", token, body=body)
    show(data, COLUMNS, as_json=json_output)


@app.command("list")
def list_tests(
    runs: Annotated[bool, typer.Option("--runs", help="List runs instead of definitions")] = False,
    verifier_url: VerifierUrl = DEFAULT_VERIFIER_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """List test definitions (or, with --runs, test runs, newest first)."""
    if runs:
        data = vcall("GET", verifier_url, "/v1/test-runs", token)
        show(data, RUN_COLUMNS, as_json=json_output, title="Bubble test runs")
        return
    data = vcall("GET", verifier_url, "/v1/test-definitions", token)
    show(data, COLUMNS, as_json=json_output, title="Bubble test definitions")


def _summary(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "run": run["test_id"],
        "definition": run["definition_id"],
        "plan": run["plan_id"],
        "site": run["site_id"],
        "phase": run["phase"],
        "verdict": run["status"],
        "started by": run["started_by"],
        "started": run["started_at"],
        "bubble ready": run["ready_at"],
        "finished": run["finished_at"],
        "RTO (s)": run["rto_seconds"],
        "RPO (s)": run["rpo_seconds"],
        "failover error": run["failover_error"],
        "cleanup": f"{run['cleanup']} ({run['cleanup_attempts']} request(s))",
    }


def _print_run(run: dict[str, Any], as_json: bool) -> None:
    if as_json:
        show_fields(run, as_json=True)
        return
    show_fields(_summary(run), as_json=False)
    if run["checks"]:
        show(run["checks"], CHECK_COLUMNS, as_json=False, title="Checks")


@app.command("show")
def show_run(
    run_id: Annotated[str, typer.Argument(help="Run id (lifeboat test list --runs)")],
    verifier_url: VerifierUrl = DEFAULT_VERIFIER_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Show a run: phase, verdict, RTO, RPO, each check, cleanup; exits 1 if it failed."""
    run = vcall("GET", verifier_url, f"/v1/test-runs/{run_id}", token)
    _print_run(run, json_output)
    if run["status"] == "failed":
        raise typer.Exit(1)


@app.command("run")
def run_test(
    definition_id: Annotated[str, typer.Argument(help="Definition id (lifeboat test list)")],
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the run")] = True,
    timeout: Annotated[float, typer.Option(help="Give up following after this many s")] = 1800,
    verifier_url: VerifierUrl = DEFAULT_VERIFIER_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Run a bubble test now and follow it; exits 1 when the run failed."""
    run = vcall("POST", verifier_url, f"/v1/test-definitions/{definition_id}/runs", token)
    if not wait:
        _print_run(run, json_output)
        return
    run = follow(verifier_url, token, run["test_id"], timeout, quiet=json_output)
    _print_run(run, json_output)
    if run["status"] != "passed":
        raise typer.Exit(1)


def follow(url: str, token: str, run_id: str, timeout: float, *, quiet: bool) -> dict[str, Any]:
    """Poll the run until done, printing its phase changes and each check as it lands."""
    deadline = time.monotonic() + timeout
    phase, seen = "", set()
    while True:
        run: dict[str, Any] = vcall("GET", url, f"/v1/test-runs/{run_id}", token)
        if not quiet:
            if run["phase"] != phase:
                phase = run["phase"]
                console.print(f"{run_id}: {phase}", highlight=False)
            for c in run["checks"]:
                key = (c["name"], c["target"])
                if key not in seen:
                    seen.add(key)
                    mark = "[green]ok[/]" if c["passed"] else f"[red]FAILED[/] {c['reason']}"
                    console.print(f"  {c['name']} on {c['target']}: {mark}", highlight=False)
        if run["phase"] == "done":
            return run
        if time.monotonic() > deadline:
            fail(f"run {run_id} still {run['phase']} after {timeout:g} s")
        time.sleep(1)

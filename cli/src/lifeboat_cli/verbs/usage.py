"""`lifeboat usage list`: the usage ledger (billing service)."""

from __future__ import annotations

from typing import Annotated

import typer

from lifeboat_cli.verbs._billing import DEFAULT_BILLING_URL, BillingUrl, bcall
from lifeboat_cli.verbs._client import DEFAULT_TOKEN, Column, JsonOut, Token, console, show

app = typer.Typer(no_args_is_help=True, help="Usage: what each project consumed, event by event")

COLUMNS: list[Column] = [
    ("usage", lambda u: u["usage_id"]),
    ("project", lambda u: u["project_id"]),
    ("metric", lambda u: u["metric"]),
    ("quantity", lambda u: u["quantity"]),
    ("group", lambda u: u["group_id"]),
    ("plan", lambda u: u.get("plan_id")),
    ("from", lambda u: u["period_start"]),
    ("billed in", lambda u: u.get("billed_period")),
    ("event", lambda u: u.get("event_id")),
]


@app.command("list")
def list_usage(
    project: Annotated[
        str | None, typer.Option("--project", help="Admins: only this project")
    ] = None,
    billing_url: BillingUrl = DEFAULT_BILLING_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """The usage ledger (your project's; an admin's: every project's) and totals per metric."""
    data = bcall("GET", billing_url, "/v1/usage", token, params={"project_id": project})
    if json_output:
        show(data, COLUMNS, as_json=True)
        return
    show(data["entries"], COLUMNS, as_json=False, title="Usage")
    for metric, total in sorted(data["totals"].items()):
        console.print(f"{metric}: {total}", highlight=False)

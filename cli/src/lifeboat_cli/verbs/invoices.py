"""`lifeboat invoice list|show|export`: invoices per project and month (billing service).

``print_invoice`` prints a project's rated usage over any range (what `lifeboat story` shows).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from lifeboat_cli.verbs._billing import DEFAULT_BILLING_URL, ENV_HINT, BillingUrl, bcall, seg
from lifeboat_cli.verbs._client import (
    DEFAULT_TOKEN,
    Column,
    JsonOut,
    Token,
    console,
    describe_error,
    fail,
    show,
)

app = typer.Typer(no_args_is_help=True, help="Invoices: rated DR usage per project and month")

Project = Annotated[str, typer.Argument(help="Project id")]
Period = Annotated[str, typer.Argument(help="Month, YYYY-MM (UTC)")]

COLUMNS: list[Column] = [
    ("project", lambda i: i["project_id"]),
    ("period", lambda i: i["period"]),
    ("status", lambda i: i["status"]),
    ("lines", lambda i: len(i["lines"])),
    ("total", lambda i: f"{i['total']} {i['currency']}"),
    ("id", lambda i: i["id"]),
]


def invoice_table(invoice: dict[str, Any]) -> Table:
    table = Table(
        title=f"Invoice {invoice['project_id']} {invoice['period']} ({invoice['status']})"
    )
    for header in ("line", "metric", "group / plan", "quantity", "unit", "amount"):
        table.add_column(header)
    for x in invoice["lines"]:
        owner = x["group_id"] or (f"plan {x['plan_id']}" if x["plan_id"] else "-")
        kind = f"adjusts {x['adjusts_period']}" if x["kind"] == "adjustment" else "usage"
        table.add_row(kind, x["metric"], owner, str(x["quantity"]), x["unit"], str(x["amount"]))
    table.add_row("total", "", "", "", "", f"{invoice['total']} {invoice['currency']}")
    return table


def print_invoice(
    billing_url: str, token: str, project: str, start: datetime, end: datetime
) -> dict[str, Any]:
    """Print (and return) a project's rated usage starting in ``[start, end)``."""
    report: dict[str, Any] = bcall(
        "GET",
        billing_url,
        f"/v1/invoice-reports/{seg(project)}",
        token,
        params={"start": start.isoformat(), "end": end.isoformat()},
    )
    console.print(invoice_table(report))
    return report


@app.command("list")
def list_invoices(
    project: Annotated[
        str | None, typer.Option("--project", help="Admins: only this project")
    ] = None,
    billing_url: BillingUrl = DEFAULT_BILLING_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Invoices: closed months (frozen) and open ones (drafts)."""
    data = bcall("GET", billing_url, "/v1/invoices", token, params={"project_id": project})
    show(data, COLUMNS, as_json=json_output, title="Invoices")


@app.command("show")
def show_invoice(
    project: Project,
    period: Period,
    billing_url: BillingUrl = DEFAULT_BILLING_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """A month's invoice: lines per metric and protection group (or plan), adjustments, total."""
    data = bcall("GET", billing_url, f"/v1/invoices/{seg(project)}/{seg(period)}", token)
    if json_output:
        show(data, COLUMNS, as_json=True)
        return
    console.print(invoice_table(data))


@app.command("export")
def export_invoice(
    project: Project,
    period: Period,
    fmt: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
    billing_url: BillingUrl = DEFAULT_BILLING_URL,
    token: Token = DEFAULT_TOKEN,
) -> None:
    """Print a month's invoice as CSV (one row per line, then the total) or JSON."""
    import httpx  # lazily: other verbs start without it

    if fmt not in ("csv", "json"):
        fail("--format: csv or json", code=2)
    url = f"{billing_url.rstrip('/')}/v1/invoices/{seg(project)}/{seg(period)}"
    try:
        r = httpx.get(
            url, params={"format": fmt}, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
    except httpx.TransportError as exc:
        fail(f"cannot reach {billing_url} ({type(exc).__name__}); set {ENV_HINT}")
    if r.status_code >= 400:
        fail(f"{r.status_code}: {describe_error(r)}")
    typer.echo(r.text, nl=not r.text.endswith("\n"))

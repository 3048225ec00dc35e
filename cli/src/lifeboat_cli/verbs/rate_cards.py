"""`lifeboat rate-card list|show|create`: versioned, effective-dated prices (billing service)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from lifeboat_cli.verbs._billing import DEFAULT_BILLING_URL, BillingUrl, bcall
from lifeboat_cli.verbs._client import (
    DEFAULT_TOKEN,
    Column,
    JsonOut,
    Token,
    console,
    fail,
    show,
    show_fields,
)

app = typer.Typer(no_args_is_help=True, help="Rate cards: unit prices per usage metric")

COLUMNS: list[Column] = [
    ("version", lambda c: c["version"]),
    ("name", lambda c: c["name"]),
    ("currency", lambda c: c["currency"]),
    ("effective from", lambda c: c["effective_from"]),
    ("metrics", lambda c: len(c["prices"])),
    ("overrides", lambda c: len(c["overrides"])),
]


@app.command("list")
def list_cards(
    billing_url: BillingUrl = DEFAULT_BILLING_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Every rate card version; the one in force for a usage is the latest effective before it."""
    show(bcall("GET", billing_url, "/v1/rate-cards", token), COLUMNS, as_json=json_output)


@app.command("show")
def show_card(
    version: Annotated[int, typer.Argument(help="Rate card version")],
    billing_url: BillingUrl = DEFAULT_BILLING_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """A rate card's prices, tiers and (for an admin: every; else your project's) overrides."""
    card = bcall("GET", billing_url, f"/v1/rate-cards/{version}", token)
    if json_output:
        show_fields(card, as_json=True)
        return
    show_fields({k: v for k, v in card.items() if k not in ("prices", "overrides")}, as_json=False)
    table = Table(title="Prices")
    for header in ("metric", "unit price", "tiers (up to: price)"):
        table.add_column(header)
    for metric, price in sorted(card["prices"].items()):
        tiers = ", ".join(f"{t['up_to'] or 'rest'}: {t['unit_price']}" for t in price["tiers"])
        table.add_row(metric, price["unit_price"], tiers or "-")
    console.print(table)
    for project, override in sorted(card["overrides"].items()):
        console.print(f"override {project}: {json.dumps(override, sort_keys=True)}")


@app.command("create")
def create_card(
    file: Annotated[str, typer.Option("--file", "-f", help="Rate card: .json or .yaml/.yml")],
    billing_url: BillingUrl = DEFAULT_BILLING_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Create the next rate card version (admin); see services/billing/README.md for the format."""
    try:
        text = Path(file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"--file {file}: cannot read it ({exc})", code=2)
    try:
        body: Any = yaml.safe_load(text)  # JSON is YAML too
    except yaml.YAMLError as exc:
        fail(f"--file {file}: not valid JSON/YAML ({type(exc).__name__})", code=2)
    if not isinstance(body, dict):
        fail(f"--file {file}: expected one object (the rate card)", code=2)
    created = bcall("POST", billing_url, "/v1/rate-cards", token, body=body)
    show(created, COLUMNS, as_json=json_output)

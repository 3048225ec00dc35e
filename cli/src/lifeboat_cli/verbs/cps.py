"""`lifeboat cp list --group G`: consistency points, from the replicator's API."""

from __future__ import annotations

from typing import Annotated

import typer

from lifeboat_cli.verbs._client import (
    DEFAULT_REPLICATOR_URL,
    DEFAULT_TOKEN,
    JsonOut,
    ReplicatorUrl,
    Token,
    call,
    show,
)

app = typer.Typer(no_args_is_help=True, help="Consistency points (verified copies at the DR site)")

COLUMNS = [
    ("id", lambda c: c["id"]),
    ("group", lambda c: c["group_id"]),
    ("consistency", lambda c: c["consistency"]),
    ("taken at", lambda c: c["taken_at"]),
    ("created at", lambda c: c["created_at"]),
    ("bytes sent", lambda c: c["bytes_sent"]),
    ("volumes", lambda c: len(c.get("members") or [])),
]


@app.command("list")
def list_cps(
    group: Annotated[str, typer.Option(help="Protection group (or application set) id")],
    replicator_url: ReplicatorUrl = DEFAULT_REPLICATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """List a group's consistency points."""
    data = call(
        "GET",
        replicator_url,
        "/v1/consistency-points",
        token,
        params={"group_id": group},
        env_hint="LIFEBOAT_REPLICATOR_URL",
    )
    show(data, COLUMNS, as_json=json_output, title=f"Consistency points of {group}")

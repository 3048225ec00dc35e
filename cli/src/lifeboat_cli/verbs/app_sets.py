"""`lifeboat app-set create|list`: groups that share one consistency point (UC3)."""

from __future__ import annotations

from typing import Annotated

import typer

from lifeboat_cli.verbs._client import (
    DEFAULT_POLICY_URL,
    DEFAULT_TOKEN,
    JsonOut,
    PolicyUrl,
    Token,
    call,
    show,
)

app = typer.Typer(no_args_is_help=True, help="Application sets: one CP across several groups")

COLUMNS = [
    ("id", lambda s: s["id"]),
    ("name", lambda s: s["name"]),
    ("project", lambda s: s["project_id"]),
    ("link", lambda s: f"{s['source_site']} -> {s['target_site']}"),
    ("groups", lambda s: ", ".join(s["group_ids"])),
]


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Set name (unique in the project)")],
    project: Annotated[str, typer.Option(help="OpenStack project id")],
    group: Annotated[list[str], typer.Option(help="Group id; repeat for each group")],
    policy_url: PolicyUrl = DEFAULT_POLICY_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Create an application set; from now on its groups replicate together."""
    body = {"name": name, "project_id": project, "group_ids": group}
    show(call("POST", policy_url, "/v1/app-sets", token, body=body), COLUMNS, as_json=json_output)


@app.command("list")
def list_sets(
    project: Annotated[str | None, typer.Option(help="Only this project")] = None,
    policy_url: PolicyUrl = DEFAULT_POLICY_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """List application sets."""
    data = call("GET", policy_url, "/v1/app-sets", token, params={"project_id": project})
    show(data, COLUMNS, as_json=json_output, title="Application sets")

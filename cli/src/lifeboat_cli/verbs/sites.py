"""`lifeboat site create|list`: the site registry (owned by the policy service)."""

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

app = typer.Typer(
    no_args_is_help=True, help="Sites: OpenStack clouds Lifeboat protects or recovers to"
)

COLUMNS = [
    ("site", lambda s: s["site_id"]),
    ("cloud", lambda s: s["cloud"]),
    ("role", lambda s: s["role"]),
    ("data endpoint", lambda s: s["data_endpoint"]),
    ("region", lambda s: s["region"]),
]


@app.command("create")
def create(
    site_id: Annotated[str, typer.Argument(help="Site id, e.g. site-a")],
    cloud: Annotated[str, typer.Option(help="Cloud name in clouds.yaml")],
    role: Annotated[str, typer.Option(help="protected | recovery | both")] = "both",
    data_endpoint: Annotated[
        str | None, typer.Option(help="host:port of the site's replication receiver")
    ] = None,
    region: Annotated[str | None, typer.Option(help="Region name")] = None,
    update: Annotated[bool, typer.Option(help="Update the site if it exists")] = False,
    policy_url: PolicyUrl = DEFAULT_POLICY_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Register a site (or with --update, create or update it)."""
    body = {"cloud": cloud, "role": role, "data_endpoint": data_endpoint, "region": region}
    if update:
        site = call("PUT", policy_url, f"/v1/sites/{site_id}", token, body=body)
    else:
        site = call("POST", policy_url, "/v1/sites", token, body={"site_id": site_id, **body})
    show(site, COLUMNS, as_json=json_output)


@app.command("list")
def list_sites(
    policy_url: PolicyUrl = DEFAULT_POLICY_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """List registered sites."""
    show(call("GET", policy_url, "/v1/sites", token), COLUMNS, as_json=json_output, title="Sites")

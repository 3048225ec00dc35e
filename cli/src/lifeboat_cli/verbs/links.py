"""`lifeboat link suspend|resume SOURCE TARGET`: every group on a site link at once (UC2e);
`lifeboat link status`: each link as its sending side sees it, and partitions (UC6)."""

from __future__ import annotations

from typing import Annotated

import typer

from lifeboat_cli.verbs._client import (
    DEFAULT_POLICY_URL,
    DEFAULT_TOKEN,
    Column,
    JsonOut,
    PolicyUrl,
    Token,
    call,
    console,
    show,
    show_fields,
)
from lifeboat_cli.verbs.plans import DEFAULT_ORCHESTRATOR_URL, OrchestratorUrl, ocall

app = typer.Typer(
    no_args_is_help=True,
    help="Site links: their state and partitions; suspend or resume all their groups",
)

Source = Annotated[str, typer.Argument(help="Source (protected) site id")]
Target = Annotated[str, typer.Argument(help="Target (DR) site id")]


@app.command("suspend")
def suspend(
    source: Source,
    target: Target,
    policy_url: PolicyUrl = DEFAULT_POLICY_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Suspend every group replicating from SOURCE to TARGET (e.g. link maintenance)."""
    data = call("POST", policy_url, f"/v1/site-links/{source}/{target}/suspend", token)
    show_fields(data, as_json=json_output)


@app.command("resume")
def resume(
    source: Source,
    target: Target,
    full_resync: Annotated[bool, typer.Option(help="Resend everything")] = False,
    policy_url: PolicyUrl = DEFAULT_POLICY_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Resume a site link; its groups (unless suspended on their own) replicate at once."""
    path = f"/v1/site-links/{source}/{target}/resume"
    data = call("POST", policy_url, path, token, body={"full_resync": full_resync})
    show_fields(data, as_json=json_output)


LINK_COLUMNS: list[Column] = [
    ("link", lambda x: f"{x['source_site']} -> {x['target_site']}"),
    ("state", lambda x: x["state"]),
    ("since", lambda x: x["since"]),
    ("failures", lambda x: x["consecutive_failures"]),
    ("partition", lambda x: "YES" if x["partition"] else "no"),
    ("observer", lambda x: x["observer"]),
    ("why", lambda x: x["assessment"]),
]


@app.command("status")
def status(
    orchestrator_url: OrchestratorUrl = DEFAULT_ORCHESTRATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Each site link as its sending side's replicator sees it (A -> B is A's view), the sites'
    declared health, and partitions (a cut link between two sites that are both up)."""
    data = ocall("GET", orchestrator_url, "/v1/site-links", token)
    if json_output:
        show_fields(data, as_json=True)
        return
    show(data["links"], LINK_COLUMNS, as_json=False, title="Site links")
    sites = ", ".join(f"{s['site_id']} {s['declared']}" for s in data["sites"]) or "-"
    console.print(f"sites: {sites}")
    if data["partitions"]:
        console.print(f"[red]partition[/]: {', '.join(data['partitions'])}")

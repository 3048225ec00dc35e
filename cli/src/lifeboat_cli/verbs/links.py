"""`lifeboat link suspend|resume SOURCE TARGET`: every group on a site link at once (UC2e)."""

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
    show_fields,
)

app = typer.Typer(no_args_is_help=True, help="Site links: suspend or resume all their groups")

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

"""`lifeboat group create|list|show|delete|set-members|replicate-now|suspend|resume|status`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from lifeboat_cli.verbs import policies
from lifeboat_cli.verbs._client import (
    DEFAULT_POLICY_URL,
    DEFAULT_TOKEN,
    JsonOut,
    PolicyUrl,
    Token,
    call,
    fail,
    show,
    show_fields,
)

app = typer.Typer(no_args_is_help=True, help="Protection groups: what is replicated, and where")

COLUMNS = [
    ("id", lambda g: g["id"]),
    ("name", lambda g: g["name"]),
    ("project", lambda g: g["project_id"]),
    (
        "link",
        lambda g: (
            f"{g['source_site']} -> "
            + ", ".join([g["target_site"], *g.get("extra_target_sites", [])])
        ),
    ),
    ("RPO target", lambda g: f"{g['rpo_target_seconds']}s"),
    (
        "members",
        lambda g: (
            f"{len(g['members']['servers'])} servers, {len(g['members']['volumes'])} "
            f"volumes, {len(g['members']['stateless'])} stateless"
        ),
    ),
    ("app set", lambda g: g["app_set_id"]),
    (
        "suspended",
        lambda g: f"yes ({g.get('suspended_reason') or 'operator'})" if g["suspended"] else "no",
    ),
    ("reverse of", lambda g: g.get("reverse_of")),
]

Seed = Annotated[
    list[str] | None,
    typer.Option(
        help="UC5c: SOURCE_VOLUME=DR_VOLUME, a DR-side volume holding an earlier copy (the first "
        "cycle sends only what differs); repeat"
    ),
]


def _seeds(specs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for spec in specs or []:
        src, sep, dr = spec.partition("=")
        if not sep or not src or not dr:
            fail(f"--seed {spec!r}: expected SOURCE_VOLUME=DR_VOLUME")
        out[src] = dr
    return out


def _stateless(spec: str) -> dict[str, str]:
    parts = spec.split(":", 3)
    if len(parts) < 3 or not all(parts[:3]):
        fail(f"--stateless {spec!r}: expected name:image:flavor[:user-data]")
    template = {"name": parts[0], "image": parts[1], "flavor": parts[2]}
    if len(parts) == 4:
        template["user_data"] = parts[3]
    return template


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Group name (unique in the project)")],
    project: Annotated[str, typer.Option(help="OpenStack project id")],
    source: Annotated[str, typer.Option(help="Site the group runs on")],
    target: Annotated[str, typer.Option(help="DR site it replicates to")],
    policy: Annotated[str, typer.Option(help="Policy id or name")],
    also_to: Annotated[
        list[str] | None,
        typer.Option("--also-to", help="Another DR site it also replicates to; repeat"),
    ] = None,
    server: Annotated[
        list[str] | None, typer.Option(help="Server id (all its volumes); repeat")
    ] = None,
    volume: Annotated[list[str] | None, typer.Option(help="Single volume id; repeat")] = None,
    stateless: Annotated[
        list[str] | None, typer.Option(help="name:image:flavor[:user-data]; repeat")
    ] = None,
    seed: Seed = None,
    policy_url: PolicyUrl = DEFAULT_POLICY_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Create a protection group."""
    body = {
        "name": name,
        "project_id": project,
        "source_site": source,
        "target_site": target,
        "extra_target_sites": also_to or [],
        "policy_id": policies.resolve(policy_url, token, policy),
        "members": {
            "servers": server or [],
            "volumes": volume or [],
            "stateless": [_stateless(s) for s in stateless or []],
        },
        "seed_volumes": _seeds(seed),
    }
    group = call("POST", policy_url, "/v1/protection-groups", token, body=body)
    show(group, COLUMNS, as_json=json_output)


@app.command("list")
def list_groups(
    project: Annotated[str | None, typer.Option(help="Only this project")] = None,
    policy_url: PolicyUrl = DEFAULT_POLICY_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """List protection groups."""
    data = call("GET", policy_url, "/v1/protection-groups", token, params={"project_id": project})
    show(data, COLUMNS, as_json=json_output, title="Protection groups")


GroupId = Annotated[str, typer.Argument(help="Protection group id")]


@app.command("show")
def show_group(
    group_id: GroupId,
    policy_url: PolicyUrl = DEFAULT_POLICY_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Show a protection group."""
    group = call("GET", policy_url, f"/v1/protection-groups/{group_id}", token)
    show_fields(group, as_json=json_output)


@app.command("delete")
def delete(
    group_id: GroupId, policy_url: PolicyUrl = DEFAULT_POLICY_URL, token: Token = DEFAULT_TOKEN
) -> None:
    """Delete a protection group (its ticks stop)."""
    call("DELETE", policy_url, f"/v1/protection-groups/{group_id}", token)
    typer.echo(f"deleted protection group {group_id}")


@app.command("set-members")
def set_members(
    group_id: GroupId,
    server: Annotated[
        list[str] | None, typer.Option(help="Server id (all its volumes); repeat")
    ] = None,
    volume: Annotated[list[str] | None, typer.Option(help="Single volume id; repeat")] = None,
    stateless: Annotated[
        list[str] | None, typer.Option(help="name:image:flavor[:user-data]; repeat")
    ] = None,
    seed: Seed = None,
    policy_url: PolicyUrl = DEFAULT_POLICY_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Replace a group's members (e.g. servers re-created by hand); the next tick uses them.
    (Failback re-points groups at the servers it made by itself.)"""
    body = {
        "members": {
            "servers": server or [],
            "volumes": volume or [],
            "stateless": [_stateless(s) for s in stateless or []],
        },
        "seed_volumes": _seeds(seed),
    }
    path = f"/v1/protection-groups/{group_id}/members"
    show(call("PUT", policy_url, path, token, body=body), COLUMNS, as_json=json_output)


@app.command("status")
def status(
    group_id: GroupId,
    policy_url: PolicyUrl = DEFAULT_POLICY_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Achieved vs target RPO, newest CP, next tick, suspension, last failure."""
    data: dict[str, Any] = call(
        "GET", policy_url, f"/v1/protection-groups/{group_id}/status", token
    )
    show_fields(data, as_json=json_output)


@app.command("replicate-now")
def replicate_now(
    group_id: GroupId,
    idempotency_key: Annotated[
        str | None, typer.Option(help="Retrying with the same key sends one command")
    ] = None,
    trigger: Annotated[str, typer.Option(help="replicate-now | detach | shutdown")] = (
        "replicate-now"
    ),
    full_resync: Annotated[bool, typer.Option(help="Resend everything")] = False,
    policy_url: PolicyUrl = DEFAULT_POLICY_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Ask for a consistency point now (UC4)."""
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    body = {"trigger": trigger, "full_resync": full_resync}
    path = f"/v1/protection-groups/{group_id}/replicate-now"
    show_fields(
        call("POST", policy_url, path, token, body=body, headers=headers), as_json=json_output
    )


@app.command("suspend")
def suspend(
    group_id: GroupId,
    policy_url: PolicyUrl = DEFAULT_POLICY_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Suspend replication of a group (UC2e): no cycles, the DR site stays ready."""
    group = call("POST", policy_url, f"/v1/protection-groups/{group_id}/suspend", token)
    show(group, COLUMNS, as_json=json_output)


@app.command("resume")
def resume(
    group_id: GroupId,
    full_resync: Annotated[
        bool, typer.Option(help="Resend everything (default: only changes since the last CP)")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(help="Resume a group a failover suspended (its copy is not the live data)"),
    ] = False,
    policy_url: PolicyUrl = DEFAULT_POLICY_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Resume a group; a cycle starts at once."""
    path = f"/v1/protection-groups/{group_id}/resume"
    body = {"full_resync": full_resync, "force": force}
    group = call("POST", policy_url, path, token, body=body)
    show(group, COLUMNS, as_json=json_output)

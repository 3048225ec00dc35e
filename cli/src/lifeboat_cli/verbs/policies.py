"""`lifeboat policy create|list|show|delete`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

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

app = typer.Typer(no_args_is_help=True, help="Policies: RPO or schedule, retention, quiesce, link")

COLUMNS = [
    ("id", lambda p: p["id"]),
    ("name", lambda p: p["name"]),
    ("rpo / cron", lambda p: p["cron"] or f"{p['rpo_seconds']}s"),
    ("target RPO", lambda p: f"{p['rpo_target_seconds']}s"),
    ("quiesce", lambda p: f"{p['quiesce']['method']} ({p['quiesce']['on_failure']})"),
    ("keep last", lambda p: p["retention"]["keep_last"]),
    ("bandwidth B/s", lambda p: p["bandwidth_bytes_per_s"]),
    ("strategy", lambda p: p.get("strategy", "blocks")),
]


def _hook(url: str | None, hook: str | None, name: str) -> dict[str, Any]:
    if (url is None) == (hook is None):
        fail(f"--{name}-url or --{name}-hook: give exactly one with --quiesce hook")
    if url is not None:
        return {"kind": "webhook", "url": url}
    return {"kind": "command", "name": hook}


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Policy name (unique)")],
    rpo: Annotated[int | None, typer.Option(help="RPO target in seconds")] = None,
    cron: Annotated[str | None, typer.Option(help="Cron schedule (UTC) instead of --rpo")] = None,
    keep_last: Annotated[int, typer.Option(help="Keep the newest N CPs")] = 3,
    hourly: Annotated[int, typer.Option(help="Also keep one CP per hour for N hours")] = 0,
    daily: Annotated[int, typer.Option(help="... per day for N days")] = 0,
    weekly: Annotated[int, typer.Option(help="... per week for N weeks")] = 0,
    quiesce: Annotated[str, typer.Option(help="none | guest-agent | hook")] = "none",
    on_quiesce_failure: Annotated[
        str, typer.Option(help="crash-consistent | retry | skip")
    ] = "crash-consistent",
    retries: Annotated[int, typer.Option(help="Quiesce retries (with retry)")] = 0,
    pre_freeze_url: Annotated[str | None, typer.Option(help="Pre-freeze webhook")] = None,
    pre_freeze_hook: Annotated[
        str | None,
        typer.Option(help="Pre-freeze command hook: its name in LIFEBOAT_REPLICATOR_HOOKS"),
    ] = None,
    post_thaw_url: Annotated[str | None, typer.Option(help="Post-thaw webhook")] = None,
    post_thaw_hook: Annotated[
        str | None,
        typer.Option(help="Post-thaw command hook: its name in LIFEBOAT_REPLICATOR_HOOKS"),
    ] = None,
    bandwidth: Annotated[int | None, typer.Option(help="Bandwidth cap, bytes/s")] = None,
    bind_address: Annotated[str | None, typer.Option(help="Local IP for the data link")] = None,
    encryption: Annotated[bool, typer.Option(help="Require encryption on the link")] = True,
    replicate_on_detach: Annotated[bool, typer.Option(help="Replicate on volume detach")] = False,
    replicate_on_shutdown: Annotated[bool, typer.Option(help="Replicate on VM shutdown")] = False,
    strategy: Annotated[
        str,
        typer.Option(
            help="blocks (changed blocks to replica volumes) | backup (Cinder backups, UC7)"
        ),
    ] = "blocks",
    policy_url: PolicyUrl = DEFAULT_POLICY_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Create a policy: --rpo SECONDS or --cron EXPR (e.g. weekly: '0 2 * * 0')."""
    quiesce_spec: dict[str, Any] = {
        "method": quiesce,
        "on_failure": on_quiesce_failure,
        "retries": retries,
    }
    if quiesce == "hook":
        quiesce_spec["hook"] = {
            "pre_freeze": _hook(pre_freeze_url, pre_freeze_hook, "pre-freeze"),
            "post_thaw": _hook(post_thaw_url, post_thaw_hook, "post-thaw"),
        }
    body = {
        "name": name,
        "rpo_seconds": rpo,
        "cron": cron,
        "retention": {"keep_last": keep_last, "hourly": hourly, "daily": daily, "weekly": weekly},
        "quiesce": quiesce_spec,
        "bandwidth_bytes_per_s": bandwidth,
        "bind_address": bind_address,
        "encryption_required": encryption,
        "replicate_on": {"detach": replicate_on_detach, "shutdown": replicate_on_shutdown},
        "strategy": strategy,
    }
    show(call("POST", policy_url, "/v1/policies", token, body=body), COLUMNS, as_json=json_output)


@app.command("list")
def list_policies(
    policy_url: PolicyUrl = DEFAULT_POLICY_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """List policies."""
    data = call("GET", policy_url, "/v1/policies", token)
    show(data, COLUMNS, as_json=json_output, title="Policies")


@app.command("show")
def show_policy(
    policy_id: Annotated[str, typer.Argument(help="Policy id or name")],
    policy_url: PolicyUrl = DEFAULT_POLICY_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Show every setting of a policy."""
    policy_id = resolve(policy_url, token, policy_id)
    show_fields(call("GET", policy_url, f"/v1/policies/{policy_id}", token), as_json=json_output)


@app.command("delete")
def delete(
    policy_id: Annotated[str, typer.Argument(help="Policy id or name")],
    policy_url: PolicyUrl = DEFAULT_POLICY_URL,
    token: Token = DEFAULT_TOKEN,
) -> None:
    """Delete a policy no group uses."""
    policy_id = resolve(policy_url, token, policy_id)
    call("DELETE", policy_url, f"/v1/policies/{policy_id}", token)
    typer.echo(f"deleted policy {policy_id}")


def resolve(policy_url: str, token: str, ref: str) -> str:
    """A policy's id from its id or its name (names are unique)."""
    for policy in call("GET", policy_url, "/v1/policies", token):
        if ref in (policy["id"], policy["name"]):
            return str(policy["id"])
    fail(f"policy: no policy with id or name {ref!r}")

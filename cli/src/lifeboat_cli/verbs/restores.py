"""`lifeboat restore GROUP [--volume V]... [--cp ID | --at TIME]`: a point in time of a group's
volumes into new volumes at its DR site (UC7), through the replicator's `POST /v1/restores`."""

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
    console,
    show,
)

COLUMNS = [
    ("source volume", lambda v: v["source_volume_id"]),
    ("new volume", lambda v: v["volume_id"]),
    ("from", lambda v: v["from_backup_id"] or v["from_snapshot_id"]),
]


def restore(
    group: Annotated[str, typer.Argument(help="Protection group (or application set) id")],
    volume: Annotated[
        list[str] | None, typer.Option(help="Source volume to restore (repeat; default: all)")
    ] = None,
    cp: Annotated[str | None, typer.Option(help="Consistency point id to restore")] = None,
    at: Annotated[
        str | None,
        typer.Option(help="Point in time, ISO 8601 with a zone: the newest CP at or before it"),
    ] = None,
    restore_id: Annotated[
        str | None, typer.Option(help="Idempotency key (repeat a restore without duplicates)")
    ] = None,
    name_prefix: Annotated[str, typer.Option(help="New volumes: <prefix><volume id>")] = (
        "restored-"
    ),
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the volumes")] = 900,
    replicator_url: ReplicatorUrl = DEFAULT_REPLICATOR_URL,
    token: Token = DEFAULT_TOKEN,
    json_output: JsonOut = False,
) -> None:
    """Restore a point in time of a group's volumes at its DR site into new volumes (the newest
    CP by default); prints the new volume ids. The source site is not touched."""
    body = {
        "group_id": group,
        "volume_ids": volume or [],
        "consistency_point_id": cp,
        "at": at,
        "restore_id": restore_id,
        "name_prefix": name_prefix,
    }
    if not json_output:
        console.print(f"restoring group {group} at its DR site ...", highlight=False)
    data = call(
        "POST",
        replicator_url,
        "/v1/restores",
        token,
        body=body,
        env_hint="LIFEBOAT_REPLICATOR_URL",
        timeout=timeout,
    )
    if json_output:
        show(data, COLUMNS, as_json=True)
        return
    console.print(
        f"restore {data['restore_id']}: CP {data['consistency_point_id']} taken at "
        f"{data['taken_at']} ({data['strategy']}) -> {data['target_site']}",
        highlight=False,
    )
    show(data["volumes"], COLUMNS, as_json=False, title="Restored volumes")


def register(app: typer.Typer) -> None:
    app.command("restore")(restore)

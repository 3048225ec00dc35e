"""UC7 end to end over real Kafka + PostgreSQL and two cloudsim sites: a standalone volume
protected with the backup strategy gets a full then an incremental Cinder backup, each exported
and imported at the DR site as a verified CP; `lifeboat restore --at` (the CLI against the
replicator's API on a local port) and `POST /v1/restores` by CP id make new DR volumes
byte-identical to the source volume at each CP."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import uvicorn
from typer.testing import CliRunner

from lifeboat_cli.main import app as cli
from tests.integration.replication.harness import (
    SOURCE,
    TARGET,
    TOKEN,
    Protection,
    fresh_database,
    protection,
    write_random,
)
from tests.integration.replication.test_protection import _digest, gid


def _source_snapshot_digest(p: Protection, snapshot_id: str) -> str:
    with p.admin(SOURCE) as a:
        return _digest(a.get(f"/snapshots/{snapshot_id}").json()["path"])


def _dr_volume_digest(p: Protection, volume_id: str) -> str:
    with p.admin(TARGET) as a:
        return _digest(a.get(f"/volumes/{volume_id}").json()["path"])


@contextlib.asynccontextmanager
async def served(p: Protection) -> AsyncIterator[str]:
    """The replicator's API on a local port, for the CLI (the app is already started)."""
    server = uvicorn.Server(
        uvicorn.Config(p.app, host="127.0.0.1", port=0, lifespan="off", log_config=None)
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the replicator's API did not start"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


async def test_backup_strategy_restores_each_point_in_time_byte_identical(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    bus = {
        "bus": "kafka",
        "kafka_bootstrap": kafka_bootstrap,
        "database_url": await fresh_database(postgres_url),
        "topic_partitions": 3,
    }
    async with protection(tmp_path, bus=bus) as p:
        vol = (await p.source.block_storage.create_volume(1, name="app-volume")).id
        with p.admin(SOURCE) as a:
            path = a.get(f"/volumes/{vol}").json()["path"]
        write_random(path, 3, offset_mib=10)
        group = gid()
        spec = p.spec(volumes=[vol], strategy="backup")

        await p.tick(group, spec)
        (cp1,) = await p.wait_cps(group, 1)
        write_random(path, 2, offset_mib=500)  # changes only the incremental must carry
        await p.tick(group, spec)
        cp2 = (await p.wait_cps(group, 2))[-1]
        write_random(path, 1, offset_mib=800)  # after the last CP: no restore may show it

        (m1,), (m2,) = cp1["members"], cp2["members"]
        for m in (m1, m2):
            assert m["volume_id"] == vol and m["backup_id"] and m["source_backup_id"]
            assert m["replica_volume_id"] is None and m["replica_snapshot_id"] is None
            assert m["bytes_sent"] == 0  # nothing crossed the data link: Cinder's store did
        assert not m1["backup_incremental"] and m2["backup_incremental"]
        assert p.proxy.bytes_up == 0
        src = await p.driver.project(SOURCE)  # the chain of backups at the protected site
        assert (await src.block_storage.get_backup(m2["source_backup_id"])).is_incremental
        # the CP event the other services consume carries the DR backup ids
        created = {e["consistency_point_id"]: e for e in await p.outbox("ConsistencyPointCreated")}
        assert created[cp2["id"]]["members"][0]["backup_id"] == m2["backup_id"]
        assert created[cp2["id"]]["members"][0]["backup_incremental"] is True

        at_cp1 = _source_snapshot_digest(p, m1["source_snapshot_id"])
        at_cp2 = _source_snapshot_digest(p, m2["source_snapshot_id"])
        assert at_cp1 != at_cp2

        # by time, through the CLI: just before CP2 was taken -> CP1 (the full backup)
        before_cp2 = datetime.fromisoformat(cp2["taken_at"]) - timedelta(microseconds=1)
        async with served(p) as url:
            result = await asyncio.to_thread(
                CliRunner().invoke,
                cli,
                ["restore", group, "--at", before_cp2.isoformat(), "--json"],
                env={"LIFEBOAT_REPLICATOR_URL": url, "LIFEBOAT_TOKEN": TOKEN},
            )
        assert result.exit_code == 0, result.output
        r1 = json.loads(result.output)
        assert r1["consistency_point_id"] == cp1["id"] and r1["strategy"] == "backup"
        assert r1["target_site"] == TARGET
        (v1,) = r1["volumes"]
        assert v1["source_volume_id"] == vol and v1["from_backup_id"] == m1["backup_id"]
        assert _dr_volume_digest(p, v1["volume_id"]) == at_cp1

        # by CP id -> CP2 (the incremental on CP1's backup), retried with the same restore id
        body = {"group_id": group, "consistency_point_id": cp2["id"], "restore_id": "r-uc7-2"}
        r2 = (await p.client.post("/v1/restores", json=body)).json()
        again = (await p.client.post("/v1/restores", json=body)).json()
        assert again["volumes"] == r2["volumes"]  # found, not made twice
        (v2,) = r2["volumes"]
        assert v2["from_backup_id"] == m2["backup_id"]
        assert _dr_volume_digest(p, v2["volume_id"]) == at_cp2

        # refusals name the field
        early = datetime.fromisoformat(cp1["taken_at"]) - timedelta(hours=1)
        got = await p.client.post("/v1/restores", json={"group_id": group, "at": early.isoformat()})
        assert got.status_code == 404 and got.json()["detail"].startswith("group_id:"), got.text
        both = {"group_id": group, "at": early.isoformat(), "consistency_point_id": cp1["id"]}
        got = await p.client.post("/v1/restores", json=both)
        assert got.status_code == 422 and got.json()["detail"].startswith("at:"), got.text
        got = await p.client.post("/v1/restores", json={"group_id": group, "volume_ids": ["nope"]})
        assert got.status_code == 422 and got.json()["detail"].startswith("volume_ids:")

"""The Kafka broker restarted in the middle of a replication cycle, with a replicator process over
a broker and a PostgreSQL database of the test's own, a receiver at the DR site and cloudsim.

Once the cycle has put some bytes on the wire (counted by the proxy in front of the receiver: a
condition, not a time) the broker is restarted (same port, same data). The cycle must complete
with one CP; its ConsistencyPointCreated event must be on the topic afterwards, as must every
event the outbox relay marked sent (0 acknowledged events lost); and a tick published after the
restart must be handled (the replicator's consumer came back), giving a second CP.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from cloudsim.testing import running_sites
from lifeboat_shared.bus.factory import make_bus
from lifeboat_shared.cloud import CloudDriver, SiteConfig
from lifeboat_shared.contracts import encode_envelope, new_envelope, topics
from lifeboat_shared.contracts.messages import (
    ConsistencyPointCreated,
    ReplicationSpec,
    RpoTickElapsed,
    SiteRef,
)
from lifeboat_shared.settings import LifeboatSettings
from tests.integration.replication.harness import (
    SOURCE,
    TARGET,
    CountingProxy,
    free_port,
    make_vm,
    receiver_process,
    replicator_env,
    write_random,
)
from tests.integration.replication.test_kill import _wait_up, replicator_process
from tests.support.faults import record_fault
from tests.support.restartable import outbox_ids, own_kafka, own_postgres, topic_events

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]
MIB = 1024 * 1024
AUTH = {"Authorization": "Bearer lifeboat-dev-token"}
RESTART_AT = 6 * MIB  # bytes of the cycle on the wire when the broker goes down
STALL_SECONDS = 90  # fail only when nothing moved (bytes, cycles, outbox) for this long


async def _get(base: str, path: str, **params: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=10, headers=AUTH) as c:
        r = await c.get(f"{base}{path}", params=params)
        r.raise_for_status()
        return list(r.json())


async def _tick(bootstrap: str, group: str, seq: int, spec: ReplicationSpec) -> None:
    """Publish a tick with a producer of its own (the test's, not the replicator's)."""
    bus = make_bus(LifeboatSettings(bus="kafka", kafka_bootstrap=bootstrap), client_id="tests")
    await bus.start()
    try:
        tick = RpoTickElapsed(
            group_id=group,
            project_id="demo",
            tick_seq=seq,
            rpo_seconds=60,
            due_at=datetime.now(UTC),
            spec=spec,
        )
        await bus.publish([encode_envelope(new_envelope(tick, source="/tests"))])
    finally:
        await bus.stop()


async def _wait_cps(
    base: str, group: str, count: int, proxy: CountingProxy, log: Path
) -> list[dict[str, Any]]:
    """Wait for `count` CPs of the group; the deadline moves while bytes flow or cycles change."""
    seen: tuple[object, ...] = ()
    progress_at = time.monotonic()
    while True:
        cps = await _get(base, "/v1/consistency-points", group_id=group)
        if len(cps) >= count:
            return list(reversed(cps))  # oldest first
        cycles = await _get(base, "/v1/replication-cycles", group_id=group)
        failed = [c for c in cycles if c["status"] == "failed"]
        assert not failed, failed
        now = (proxy.bytes_up, tuple((c["id"], c["status"]) for c in cycles))
        if now != seen:
            seen, progress_at = now, time.monotonic()
        assert time.monotonic() - progress_at < STALL_SECONDS, (
            f"{count} CPs: nothing moved for {STALL_SECONDS} s; cycles {cycles}\n"
            + log.read_text(errors="replace")[-4000:]  # noqa: ASYNC240 (a failure message)
        )
        await asyncio.sleep(0.2)


async def _outbox_drained(database: str) -> tuple[dict[str, str], set[str]]:
    last, progress_at = -1, time.monotonic()
    while True:
        sent, unsent = await outbox_ids(database, "replicator")
        if not unsent or time.monotonic() - progress_at > STALL_SECONDS:
            return sent, unsent
        if len(sent) != last:
            last, progress_at = len(sent), time.monotonic()
        await asyncio.sleep(0.2)


async def test_broker_restarted_mid_cycle(tmp_path: Path) -> None:
    began = time.monotonic()
    rx_dir, data_dir = tmp_path / "rx", tmp_path / "replicator"
    rx_dir.mkdir()
    data_dir.mkdir()
    with (
        own_kafka(tmp_path) as kafka,
        own_postgres() as pg,
        running_sites([SOURCE, TARGET], tmp_path / "sites") as sites,
        receiver_process(rx_dir, sites.clouds_yaml) as (_rx, addr),
    ):
        host, _, port = addr.rpartition(":")
        proxy = CountingProxy((host, int(port)))
        driver = CloudDriver([SiteConfig(name=SOURCE, cloud=SOURCE, clouds_yaml=sites.clouds_yaml)])
        http_port = free_port()
        base = f"http://127.0.0.1:{http_port}"
        log = data_dir / "replicator.log"
        env = replicator_env(
            kafka=kafka.address,
            database=pg.address,
            clouds_yaml=sites.clouds_yaml,
            LIFEBOAT_DATA_DIR=str(data_dir),
            LIFEBOAT_REPLICATOR_HTTP_PORT=str(http_port),
            LIFEBOAT_REPLICATOR_LINK_PSK_FILE=str(rx_dir / "link.psk"),  # the receiver's key
        )
        group = f"g-{uuid.uuid4().hex[:10]}"
        try:
            source = await driver.project(SOURCE)
            server, vols = await make_vm(source, "db", 2)
            with sites.sites[SOURCE].admin() as a:
                paths = [a.get(f"/volumes/{v}").json()["path"] for v in vols]
            for path in paths:
                write_random(path, 16)
            spec = ReplicationSpec(
                project_id="demo",
                source=SiteRef(site_id=SOURCE, cloud=SOURCE),
                target=SiteRef(site_id=TARGET, cloud=TARGET, data_endpoint=proxy.endpoint),
                servers=[server],
                bandwidth_bytes_per_s=6 * MIB,
            )
            with replicator_process(env, log) as proc:
                await _wait_up(base, proc)
                await _tick(kafka.address, group, 1, spec)
                deadline = time.monotonic() + 90
                while proxy.bytes_up < RESTART_AT:
                    assert time.monotonic() < deadline, "the transfer did not start"
                    assert proc.poll() is None, log.read_text()[-3000:]
                    await asyncio.sleep(0.02)
                at_restart = proxy.bytes_up
                (cycle,) = await _get(base, "/v1/replication-cycles", group_id=group)
                took = await kafka.restart()
                back_at = datetime.now(UTC)
                first = await _wait_cps(base, group, 1, proxy, log)
                # The consumer is back: a tick published after the restart is handled.
                for path in paths:
                    write_random(path, 1)
                await _tick(kafka.address, group, 2, spec)
                cps = await _wait_cps(base, group, 2, proxy, log)
                cycles = await _get(base, "/v1/replication-cycles", group_id=group)
                assert proc.poll() is None, "the replicator exited"
                sent, unsent = await _outbox_drained(pg.address)
            events = await topic_events(kafka.address, {*sent.values(), topics.REPLICATOR_EVENTS})
        finally:
            await driver.aclose()
            proxy.close()
    changed = sum(int(m["bytes_changed"]) for m in first[0]["members"])
    lost = sorted(set(sent) - set(events))
    cp_on_topic = {
        json.loads(data)["consistency_point_id"]
        for type_, data in events.values()
        if type_ == ConsistencyPointCreated.message_type()
    }
    first_cycles = [c for c in cycles if c["tick_seq"] == 1]
    # Committed while the broker was down: its event could only leave after the restart.
    while_down = datetime.fromisoformat(first[0]["created_at"]) < back_at
    total = time.monotonic() - began
    survived = (
        len(first_cycles) == 1
        and len(cps) == 2
        and first[0]["id"] in cp_on_topic
        and not unsent
        and not lost
    )
    record_fault(
        "Kafka broker restarted mid-cycle (replicator)",
        tried=1,
        survived=int(survived),
        lost=len(lost),
        detail=f"restart at {at_restart / MIB:.1f} MiB of {changed / MIB:.1f} took {took:.1f} s; "
        f"CP committed {'while the broker was down' if while_down else 'after the restart'}; "
        f"{len(sent)} events acknowledged, {len(lost)} missing from the topic; tick after it "
        f"{'handled' if len(cps) == 2 else 'not handled'}; {total:.0f} s in all",
    )
    # The restart came mid-cycle: the cycle was running with part of its bytes on the wire.
    assert cycle["status"] == "running", cycle
    assert RESTART_AT <= at_restart < changed, (at_restart, changed)
    # One cycle and one CP for tick 1 (a tick redelivered after the restart is not a new cycle).
    assert len(first_cycles) == 1, cycles
    assert len(cps) == 2 and len({cp["id"] for cp in cps}) == 2, cps
    # The CP of the cycle the restart interrupted reached Kafka (else consumers never see it).
    assert first[0]["id"] in cp_on_topic, (first[0]["id"], cp_on_topic)
    assert cps[1]["id"] in cp_on_topic, "the CP of the tick after the restart is not on the topic"
    assert not unsent, f"{len(unsent)} events never published"
    assert not lost, f"{len(lost)} acknowledged events are not on the topic: {lost[:5]}"
    print(
        f"broker restart mid-cycle at {at_restart / MIB:.1f} of {changed / MIB:.1f} MiB: "
        f"restart {took:.1f} s, {total:.1f} s in all"
    )

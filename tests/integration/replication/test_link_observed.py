"""UC6 end to end: the replicator reports its data link, the orchestrator sees the partition.
Real Kafka + PostgreSQL, two cloudsim sites (both up, probed by the orchestrator), a receiver
process behind a relay that cuts the link, the replicator in-process and the orchestrator as its
own process. A cycle whose link is down emits SiteLinkObserved reachable=false (one per cycle
attempt, read back from Kafka's lifeboat.sites.events.v1); the orchestrator declares the link
cut and the plan of the protected VM shows the partition with degraded mode offered; once the
link is back the cycle's transfer emits reachable=true and the partition is over."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from lifeboat_shared.bus.records import Record
from lifeboat_shared.contracts import topics
from lifeboat_shared.contracts.envelope import decode_record
from lifeboat_shared.contracts.messages import SiteLinkObserved
from tests.integration.orchestrator.harness import (
    AUTH,
    App,
    create_plan,
    orchestrator_env,
    orchestrator_process,
    plan_body,
    publish_kafka,
    site_events,
    wait_up,
)
from tests.integration.replication.harness import (
    SOURCE,
    TARGET,
    free_port,
    fresh_database,
    make_vm,
    protection,
)

pytestmark = pytest.mark.timeout(240)
LINK = f"{SOURCE}->{TARGET}"


async def _observed(
    consumer: AIOKafkaConsumer, into: list[SiteLinkObserved], since: datetime
) -> None:
    """Append this test's observations (the topic holds other tests' too)."""
    batches = await consumer.getmany(timeout_ms=500)
    for records in batches.values():
        for r in records:
            headers = tuple((k, v) for k, v in r.headers)
            envelope = decode_record(Record(r.topic, r.key, r.value or b"", headers))
            message = envelope.message
            if isinstance(message, SiteLinkObserved) and message.at >= since:
                into.append(message)


async def _until(what: str, check: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = await check()
        if got:
            return got
        assert time.monotonic() < deadline, f"never {what}"
        await asyncio.sleep(0.2)


async def test_a_cycle_whose_link_is_down_reports_it_and_the_orchestrator_sees_the_partition(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    bus = {
        "bus": "kafka",
        "kafka_bootstrap": kafka_bootstrap,
        "database_url": await fresh_database(postgres_url),
    }
    async with protection(tmp_path, bus=bus) as p:
        port = free_port()
        env = orchestrator_env(
            tmp_path,
            await fresh_database(postgres_url),
            kafka_bootstrap,
            p.sites.clouds_yaml,
            port,
            LIFEBOAT_ORCHESTRATOR_PROBE_ENABLED="true",
            LIFEBOAT_ORCHESTRATOR_PROBE_INTERVAL_SECONDS="0.5",
            LIFEBOAT_ORCHESTRATOR_PROBE_TIMEOUT_SECONDS="1",
            # One replicator attempt takes LINK_RETRY_SECONDS (5 s here): one failure cuts.
            LIFEBOAT_ORCHESTRATOR_LINK_CUT_AFTER_FAILURES="1",
            LIFEBOAT_ORCHESTRATOR_PARTITION_PROBE_MAX_AGE_SECONDS="10",
        )
        base = f"http://127.0.0.1:{port}"
        consumer = AIOKafkaConsumer(
            topics.SITE_EVENTS,
            bootstrap_servers=kafka_bootstrap,
            group_id=f"t-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
        )
        with orchestrator_process(env, tmp_path / "orchestrator.log") as proc:
            await wait_up(base, proc)
            await publish_kafka(kafka_bootstrap, site_events(p.sites))
            await consumer.start()
            async with httpx.AsyncClient(base_url=base, headers=AUTH, timeout=30) as o:

                async def links() -> dict[str, Any]:
                    got = await o.get("/v1/site-links")
                    assert got.status_code == 200, got.text
                    return dict(got.json())

                async def probed() -> bool:
                    ok = {s["site_id"] for s in (await links())["sites"] if s["last_healthy_at"]}
                    return {SOURCE, TARGET} <= ok

                async def both_up() -> bool:
                    sites = (await o.get("/v1/sites")).json()
                    return {s["id"] for s in sites if s["state"] == "up"} >= {SOURCE, TARGET}

                try:
                    await _until("both sites probed healthy", probed)
                    # The sites topic is shared with earlier tests, whose declarations (e.g.
                    # site-a down) this fresh orchestrator replays: the operator's word first.
                    for site in (SOURCE, TARGET):
                        r = await o.post(f"/v1/sites/{site}/declare-up")
                        assert r.status_code < 300, r.text
                    await _until("both sites declared up", both_up)
                    server, (vol,) = await make_vm(p.source, "linked", 1)
                    group = f"g-{uuid.uuid4().hex[:10]}"
                    app = App({"db": [server]}, {vol: server}, group=group)
                    body = plan_body(
                        app, SOURCE, [TARGET], "linked", split_brain={"on_partition": "both-online"}
                    )
                    plan = await create_plan(o, base, body)

                    p.proxy.cut()  # the receiver is unreachable before the cycle starts
                    cut_at, started = time.monotonic(), datetime.now(UTC)
                    await p.tick(group, p.spec(servers=[server]))
                    seen: list[SiteLinkObserved] = []
                    deadline = time.monotonic() + 60
                    while not any(not m.reachable for m in seen):
                        assert time.monotonic() < deadline, "no SiteLinkObserved reachable=false"
                        await _observed(consumer, seen, started)
                    down = next(m for m in seen if not m.reachable)
                    assert (down.source_site, down.target_site) == (SOURCE, TARGET)
                    assert down.observer.startswith("replicator:")
                    assert f"link to {TARGET}" in down.detail and len(down.detail) <= 300
                    (cycle,) = await p.cycles(group)
                    assert cycle["status"] in ("pending", "running") and cycle["attempts"] == 0
                    assert await p.cps(group) == []

                    async def partitioned() -> dict[str, Any] | None:
                        view = await links()
                        return view if LINK in view["partitions"] else None

                    view = await _until("the orchestrator sees the partition", partitioned)
                    (ab,) = [x for x in view["links"] if x["source_site"] == SOURCE]
                    assert ab["state"] == "cut" and ab["observer"] == down.observer
                    shown = (await o.get(f"/v1/plans/{plan['id']}")).json()
                    assert shown["partition"]["link"] == LINK
                    assert shown["partition"]["offer"] == "failover with degraded: true"

                    p.proxy.restore()
                    cut_seconds = time.monotonic() - cut_at
                    await p.wait_cps(group, 1, timeout=90)
                    deadline = time.monotonic() + 30
                    while not any(m.reachable for m in seen):
                        assert time.monotonic() < deadline, "no SiteLinkObserved reachable=true"
                        await _observed(consumer, seen, started)
                    up = next(m for m in seen if m.reachable)
                    assert (up.source_site, up.target_site) == (SOURCE, TARGET)
                    assert up.at > down.at and "1 volume(s) sent" in up.detail

                    async def healed() -> dict[str, Any] | None:
                        view = await links()
                        return view if not view["partitions"] else None

                    view = await _until("the partition over", healed)
                    (ab,) = [x for x in view["links"] if x["source_site"] == SOURCE]
                    assert ab["state"] == "reachable"
                    assert (await o.get(f"/v1/plans/{plan['id']}")).json()["partition"] is None
                    # Bounded: one observation per cycle attempt (each rides out the fault for
                    # link_retry_seconds = 5 s first), never one per chunk or reconnect.
                    await _observed(consumer, seen, started)
                    failures = sum(1 for m in seen if not m.reachable)
                    print(
                        f"cut {cut_seconds:.1f} s: {failures} reachable=false, "
                        f"{p.proxy.refused} connections refused"
                    )
                    assert 1 <= failures <= cut_seconds / 5 + 1, (failures, cut_seconds)
                    assert p.proxy.refused > failures  # many reconnects, few observations
                    assert sum(1 for m in seen if m.reachable) == 1
                finally:
                    await consumer.stop()

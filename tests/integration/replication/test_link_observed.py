"""UC6: the replicator reports its data link on the sites topic. Real Kafka + PostgreSQL, two
cloudsim sites, a receiver process behind a relay that cuts the link: a cycle whose link is
down emits SiteLinkObserved reachable=false (one per cycle attempt), and once the link is back
the cycle's transfer emits reachable=true. Read back from Kafka's lifeboat.sites.events.v1."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from lifeboat_shared.bus.records import Record
from lifeboat_shared.contracts import topics
from lifeboat_shared.contracts.envelope import decode_record
from lifeboat_shared.contracts.messages import SiteLinkObserved
from tests.integration.replication.harness import (
    SOURCE,
    TARGET,
    fresh_database,
    make_vm,
    protection,
)

pytestmark = pytest.mark.timeout(180)


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


async def test_a_cycle_whose_link_is_down_reports_it_and_the_transfer_after_reports_it_back(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    bus = {
        "bus": "kafka",
        "kafka_bootstrap": kafka_bootstrap,
        "database_url": await fresh_database(postgres_url),
    }
    async with protection(tmp_path, bus=bus) as p:
        consumer = AIOKafkaConsumer(
            topics.SITE_EVENTS,
            bootstrap_servers=kafka_bootstrap,
            group_id=f"t-{uuid.uuid4().hex[:8]}",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            server, _ = await make_vm(p.source, "linked", 1)
            group = f"g-{uuid.uuid4().hex[:10]}"
            p.proxy.cut()  # the receiver is unreachable before the cycle starts
            cut_at = time.monotonic()
            started = datetime.now(UTC)
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
            assert cycle["status"] in ("pending", "running") and cycle["attempts"] == 0, cycle
            assert await p.cps(group) == []

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
            # Bounded: one observation per cycle attempt (each rides out the fault for
            # link_retry_seconds = 5 s first), never one per chunk or reconnect.
            await _observed(consumer, seen, started)
            failures = sum(1 for m in seen if not m.reachable)
            print(f"cut {cut_seconds:.1f} s: {failures} reachable=false, {p.proxy.refused} refused")
            assert 1 <= failures <= cut_seconds / 5 + 1, (failures, cut_seconds)
            assert p.proxy.refused > failures  # many reconnects refused, few observations
            assert sum(1 for m in seen if m.reachable) == 1
        finally:
            await consumer.stop()

"""The resilience-testing setting ``LIFEBOAT_CHAOS_PUBLISH_TWICE``: off by default; on, the outbox
relay publishes every committed event twice (same id), first copies in commit order, on both its
paths (the pipeline of ``run`` and the drain of ``relay_once``). Embedded bus on SQLite; the
whole services under it are in tests/integration/orchestrator/test_duplicates.py."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from lifeboat_orchestrator.settings import OrchestratorSettings
from lifeboat_shared.bus.embedded import EmbeddedBus
from lifeboat_shared.contracts.envelope import decode_record, encode_envelope, new_envelope
from lifeboat_shared.persistence.database import Database
from lifeboat_shared.persistence.outbox import OutboxRelay, add_to_outbox
from lifeboat_shared.persistence.tables import messaging_metadata, outbox
from lifeboat_shared.settings import LifeboatSettings
from tests.integration.bus.harness import ProbeRecorded


def test_off_by_default_and_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert LifeboatSettings().chaos_publish_twice is False
    assert OrchestratorSettings().chaos_publish_twice is False
    monkeypatch.setenv("LIFEBOAT_ORCHESTRATOR_CHAOS_PUBLISH_TWICE", "true")
    assert OrchestratorSettings().chaos_publish_twice is True
    monkeypatch.delenv("LIFEBOAT_ORCHESTRATOR_CHAOS_PUBLISH_TWICE")
    monkeypatch.setenv("LIFEBOAT_CHAOS_PUBLISH_TWICE", "true")
    assert OrchestratorSettings().chaos_publish_twice is True


async def _stage(db: Database, key: str, count: int) -> list[str]:
    envelopes = [new_envelope(ProbeRecorded(key=key, seq=i), source="/tests") for i in range(count)]
    async with db.transaction() as session:
        await add_to_outbox(session, envelopes)
    return [e.id for e in envelopes]


async def _read(bus: EmbeddedBus, key: str) -> list[str]:
    """Ids of this key's records in log order: everything before a sentinel of the same key (one
    partition) appended now, after the relay marked every row sent."""
    end = new_envelope(ProbeRecorded(key=key, seq=-1), source="/tests")
    await bus.publish([encode_envelope(end)])
    consumer = bus.consumer(f"audit-{uuid.uuid4().hex[:8]}", [ProbeRecorded.topic])
    await consumer.start()
    ids: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while end.id not in ids:
            assert time.monotonic() < deadline, f"sentinel not read after {len(ids)} records"
            for record in await consumer.poll(max_records=1000, timeout=0.2):
                envelope = decode_record(record)
                if isinstance(envelope.message, ProbeRecorded) and envelope.message.key == key:
                    ids.append(envelope.id)
    finally:
        await consumer.stop()
    return ids[: ids.index(end.id)]


@pytest.mark.parametrize("twice", [False, True])
async def test_relay_publishes_every_event_twice_when_asked(tmp_path: Path, twice: bool) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'svc.db'}")
    bus = EmbeddedBus(Database(f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}"))
    async with db.engine.begin() as conn:
        await conn.run_sync(messaging_metadata.create_all)
    await bus.start()
    await bus.ensure_topics([ProbeRecorded.topic])
    copies = 2 if twice else 1
    try:
        relay = OutboxRelay(db, bus, poll_interval=0.05, publish_twice=twice)
        # The drain path.
        drained = await _stage(db, "drain", 5)
        assert await relay.relay_once() == 5
        assert await relay.relay_once() == 0
        # The pipeline, over several batches in flight.
        relay = OutboxRelay(db, bus, poll_interval=0.05, batch_size=7, publish_twice=twice)
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        piped = await _stage(db, "pipe", 40)
        deadline = time.monotonic() + 30
        while True:  # until every row is marked sent (each copy acknowledged)
            async with db.read() as session:
                unsent = (
                    await session.execute(
                        sa.select(sa.func.count())
                        .select_from(outbox)
                        .where(outbox.c.sent_at.is_(None))
                    )
                ).scalar()
            if unsent == 0:
                break
            assert time.monotonic() < deadline, f"{unsent} rows still unsent"
            await asyncio.sleep(0.05)
        stop.set()
        await task
        for key, staged in (("drain", drained), ("pipe", piped)):
            got = await _read(bus, key)
            assert Counter(got) == dict.fromkeys(staged, copies)
            first = list(dict.fromkeys(got))  # first copies, in log order
            assert first == staged
    finally:
        await bus.stop()
        await db.dispose()

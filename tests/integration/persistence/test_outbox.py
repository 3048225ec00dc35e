"""Never a state change without its event, never an event without its state change."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from lifeboat_shared.bus.embedded import EmbeddedBus
from lifeboat_shared.bus.interface import EventBus
from lifeboat_shared.bus.kafka import KafkaBus
from lifeboat_shared.contracts.envelope import decode_record, encode_envelope, new_envelope
from lifeboat_shared.persistence.database import Database
from lifeboat_shared.persistence.outbox import OutboxRelay
from lifeboat_shared.persistence.tables import messaging_metadata, outbox
from tests.integration.bus.harness import ProbeRecorded
from tests.integration.persistence.tables import widget_metadata, widgets
from tests.support.services import ROOT


@pytest.fixture(params=["sqlite+embedded", "postgres+kafka"])
async def stack(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    schema = f"t_{uuid.uuid4().hex[:12]}"
    if request.param == "sqlite+embedded":
        url, schema_or_none = f"sqlite+aiosqlite:///{tmp_path / 'svc.db'}", None
        bus: EventBus = EmbeddedBus(Database(f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}"))
    else:
        url, schema_or_none = request.getfixturevalue("postgres_url"), schema
        bus = KafkaBus(request.getfixturevalue("kafka_bootstrap"), partitions=4)
    db = Database(url, schema=schema_or_none)
    await db.ensure_schema()
    async with db.engine.begin() as conn:
        await conn.run_sync(messaging_metadata.create_all)
        await conn.run_sync(widget_metadata.create_all)
    await bus.start()
    await bus.ensure_topics([ProbeRecorded.topic])
    yield url, schema_or_none, db, bus
    await bus.stop()
    await db.dispose()


def run_writer(url: str, schema: str | None, prefix: str, mode: str, count: int) -> str:
    args = {"url": url, "schema": schema or "", "prefix": prefix, "mode": mode, "count": str(count)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.persistence.writer", json.dumps(args)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if mode == "die-in-transaction":
        proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    return line


async def published_ids(bus: EventBus, prefix: str, keys: list[str]) -> list[str]:
    """Ids of the events published under `prefix` (duplicates kept), read up to a sentinel
    published now on each of their keys: per-partition order puts everything published before
    on those partitions ahead of the sentinels, so nothing more can arrive later."""
    sentinels = {f"end-{prefix}-{k}": k for k in keys}
    await bus.publish(
        [
            encode_envelope(
                new_envelope(ProbeRecorded(key=k, seq=-1), source="/t", event_id=sentinel)
            )
            for sentinel, k in sentinels.items()
        ]
    )
    consumer = bus.consumer(f"check-{uuid.uuid4().hex[:8]}", [ProbeRecorded.topic])
    await consumer.start()
    found: list[str] = []
    ends: set[str] = set()
    try:
        deadline = time.monotonic() + 30
        while ends != set(sentinels):
            assert time.monotonic() < deadline, f"sentinels not read: {set(sentinels) - ends}"
            for record in await consumer.poll(max_records=1000, timeout=0.5):
                envelope = decode_record(record)
                if envelope.id.startswith(prefix):
                    found.append(envelope.id)
                elif envelope.id in sentinels:
                    ends.add(envelope.id)
    finally:
        await consumer.stop()
    return found


async def test_killed_between_commit_and_publish_relay_publishes_after_restart(stack) -> None:  # type: ignore[no-untyped-def]
    url, schema, db, bus = stack
    prefix = f"w{uuid.uuid4().hex[:8]}"
    assert run_writer(url, schema, prefix, "commit-then-die", 25) == "committed"
    async with db.read() as session:
        unsent = (
            await session.execute(
                sa.select(sa.func.count()).select_from(outbox).where(outbox.c.sent_at.is_(None))
            )
        ).scalar()
        states = {r[0] for r in await session.execute(sa.select(widgets.c.id))}
    assert unsent == 25, "the events must still be waiting in the outbox"
    # "Restart": a new relay in this process publishes what the dead one never did.
    relay = OutboxRelay(db, bus)
    assert await relay.relay_once() == 25
    assert await relay.relay_once() == 0
    assert sorted(await published_ids(bus, prefix, sorted(states))) == sorted(states)


async def test_killed_inside_the_transaction_leaves_neither_state_nor_event(stack) -> None:  # type: ignore[no-untyped-def]
    url, schema, db, bus = stack
    prefix = f"x{uuid.uuid4().hex[:8]}"
    assert run_writer(url, schema, prefix, "die-in-transaction", 5) == "in-transaction"
    async with db.read() as session:
        states = (await session.execute(sa.select(sa.func.count()).select_from(widgets))).scalar()
        events = (await session.execute(sa.select(sa.func.count()).select_from(outbox))).scalar()
    assert (states, events) == (0, 0)
    assert await OutboxRelay(db, bus).relay_once() == 0

"""The outbox relay's leadership survives its connection dropping, and never publishes without it.

On PostgreSQL the leading relay holds a session advisory lock on one connection. Here that
connection's backend is terminated (as a PostgreSQL restart or a network cut would) and the test
takes the lock itself at once, as another replica's relay would. Events staged from then on must
wait: the old leader finds out that its session no longer holds the lock before it publishes
again, and goes back to taking the lock. When the test lets go of the lock, the relay leads again
and publishes them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable

import pytest
import sqlalchemy as sa

from lifeboat_shared.bus.kafka import KafkaBus
from lifeboat_shared.contracts.envelope import new_envelope
from lifeboat_shared.persistence.database import Database
from lifeboat_shared.persistence.outbox import OutboxRelay, add_to_outbox
from lifeboat_shared.persistence.tables import messaging_metadata, outbox
from tests.integration.bus.harness import ProbeRecorded
from tests.support.faults import record_fault

pytestmark = [pytest.mark.faults, pytest.mark.timeout(120)]
KEY = "hashtext(current_schema() || :k)::bigint"
LEADER_PID = sa.text(
    f"SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
    f" AND classid = (({KEY} >> 32) & 4294967295)::oid AND objid = ({KEY} & 4294967295)::oid"
)


async def until(check: Callable[[], Awaitable[bool]], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.05)


async def test_relay_retakes_leadership_after_its_connection_drops(
    postgres_url: str, kafka_bootstrap: str
) -> None:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    key = "outbox-leadership-test"
    db = Database(postgres_url, schema=schema)
    await db.ensure_schema()
    async with db.engine.begin() as conn:
        await conn.run_sync(messaging_metadata.create_all)
    bus = KafkaBus(kafka_bootstrap, partitions=2)
    await bus.start()
    await bus.ensure_topics([ProbeRecorded.topic])
    relay = OutboxRelay(db, bus, poll_interval=0.05, leader_key=key)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop, db.outbox_committed))

    async def stage(tag: str, n: int) -> list[str]:
        envelopes = [
            new_envelope(
                ProbeRecorded(key=f"k{i}", seq=i, note=tag),
                source="/tests",
                event_id=f"{tag}-{i}",
            )
            for i in range(n)
        ]
        async with db.transaction() as s:
            await add_to_outbox(s, envelopes)
        return [e.id for e in envelopes]

    async def unsent(ids: list[str]) -> int:
        async with db.read() as s:
            q = sa.select(sa.func.count()).where(
                outbox.c.event_id.in_(ids), outbox.c.sent_at.is_(None)
            )
            return int((await s.execute(q)).scalar_one())

    try:
        first = await stage(f"a{uuid.uuid4().hex[:6]}", 5)

        async def first_sent() -> bool:
            return await unsent(first) == 0

        await until(first_sent, "the relay never led")
        async with db.engine.connect() as rival:  # another replica's relay, in effect
            leader = (await rival.execute(LEADER_PID, {"k": key})).scalar_one()
            await rival.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": leader})
            await rival.commit()
            took_at = time.monotonic()
            while True:  # the lock went with the session: take it before the relay does
                got = (
                    await rival.execute(sa.text(f"SELECT pg_try_advisory_lock({KEY})"), {"k": key})
                ).scalar_one()
                await rival.commit()
                if got:
                    break
                assert time.monotonic() - took_at < 10, "the lock outlived its session"
            second = await stage(f"b{uuid.uuid4().hex[:6]}", 5)

            async def relay_stepped_down() -> bool:
                # The relay's own account (a positive signal): before publishing the second
                # batch it asked whether its session still holds the lock, and stepped down.
                # (Watching pg_stat_activity for its next pg_try_advisory_lock was luck: the
                # column shows the session's last statement, which is the COMMIT right after.)
                return relay.leadership_losses >= 1

            await until(relay_stepped_down, "the relay never noticed it lost the lock")
            held_back = await unsent(second)
            await rival.execute(sa.text(f"SELECT pg_advisory_unlock({KEY})"), {"k": key})
            await rival.commit()

        async def second_sent() -> bool:
            return await unsent(second) == 0

        await until(second_sent, "the relay did not lead again")
        record_fault(
            "outbox relay: leader's connection dropped",
            tried=1,
            survived=int(held_back == len(second)),
            lost=0,
            detail=f"{len(second) - held_back} events published without the lock",
        )
        assert held_back == len(second), "published while another relay held the lock"
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await bus.stop()
        await db.dispose()

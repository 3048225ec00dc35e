"""Transactional outbox: a state change and its events are written in one transaction; a relay
publishes them afterwards with the idempotent producer and marks them sent.

A crash between publish and mark means the event is published again with the same CloudEvents id;
consumers' inboxes make that harmless. A crash before commit means neither the state change nor
its event exists.

With several replicas of a service on PostgreSQL one relay leads (``leadership``: an advisory lock
on its own connection) and publishes, so events leave in commit order. The leader re-checks that
its session still holds the lock before every batch it hands to the producer: a dropped
connection loses the lock, and the relay then takes it again before publishing anything more.

``publish_twice`` (resilience testing only, ``LIFEBOAT_CHAOS_PUBLISH_TWICE``): once a batch is
acknowledged the relay sends the same records again, so every consumer receives each event twice
with the same id, the copy possibly after later events; consumers' inboxes must make it harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_shared.bus.interface import EventBus
from lifeboat_shared.bus.records import Record
from lifeboat_shared.contracts.envelope import DEFAULT_MAX_RECORD_BYTES, Envelope, encode_envelope
from lifeboat_shared.persistence.database import Database
from lifeboat_shared.persistence.leadership import Leadership, LeadershipLost, leadership
from lifeboat_shared.persistence.tables import outbox
from lifeboat_shared.persistence.types import aware
from lifeboat_shared.telemetry.metrics import OUTBOX_PUBLISHED, OUTBOX_RELAY_LAG

log = logging.getLogger(__name__)


_OUTBOX_WRITE_LOCK = sa.text(
    "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.lifeboat_outbox'))"
)


class EventTooLarge(ValueError):
    """An event larger than any consumer accepts: refused when staged, not after commit."""


async def add_to_outbox(
    session: AsyncSession,
    envelopes: Sequence[Envelope],
    *,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> None:
    """Stage events in the caller's transaction; they leave only if it commits.

    On PostgreSQL the outbox is written under a transaction-scoped advisory lock, so outbox ids
    are taken in commit order: the relay, which publishes in id order, then keeps the order in
    which transactions committed (no later id can become visible before an earlier one).
    """
    if not envelopes:
        return
    now = datetime.now(UTC)
    rows = []
    for envelope in envelopes:
        record = encode_envelope(envelope)
        if len(record.value) > max_record_bytes:
            raise EventTooLarge(
                f"{envelope.type}: {len(record.value)} bytes is over the {max_record_bytes}-byte "
                "limit of an event"
            )
        rows.append(
            {
                "event_id": envelope.id,
                "topic": record.topic,
                "key": record.key,
                "value": record.value,
                "headers": {k: v.decode() for k, v in record.headers},
                "created_at": now,
            }
        )
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            sa.text(
                "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.lifeboat_outbox'))"
            )
        )
    await session.execute(sa.insert(outbox), rows)
    session.info["lifeboat_outbox_dirty"] = True


class OutboxRelay:
    """Moves committed outbox rows to the bus, in id order, one leader per service."""

    def __init__(
        self,
        db: Database,
        bus: EventBus,
        *,
        batch_size: int = 1000,
        poll_interval: float = 0.5,
        keep_sent_for: timedelta = timedelta(hours=1),
        leader_key: str = "lifeboat-outbox",
        max_inflight: int = 4,
        publish_twice: bool = False,
    ) -> None:
        self._max_inflight = max_inflight
        self._publish_twice = publish_twice
        self._db = db
        self._bus = bus
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._keep_sent_for = keep_sent_for
        self._leader_key = leader_key
        self._last_cleanup = datetime.min.replace(tzinfo=UTC)
        self.leadership_losses = 0
        """How often this relay found its leadership gone with its connection (and stepped down)."""

    async def _read_batch(self, after_id: int) -> list[tuple[int, Record]]:
        async with self._db.read() as session:
            rows = (
                await session.execute(
                    sa.select(
                        outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.value, outbox.c.headers
                    )
                    .where(outbox.c.sent_at.is_(None), outbox.c.id > after_id)
                    .order_by(outbox.c.id)
                    .limit(self._batch_size)
                )
            ).all()
        return [
            (
                row.id,
                Record(
                    topic=row.topic,
                    key=row.key,
                    value=row.value,
                    headers=tuple((k, v.encode()) for k, v in row.headers.items()),
                ),
            )
            for row in rows
        ]

    async def _mark_sent(self, ids: list[int]) -> None:
        async with self._db.transaction() as session:
            await session.execute(
                sa.update(outbox).where(outbox.c.id.in_(ids)).values(sent_at=datetime.now(UTC))
            )
        OUTBOX_PUBLISHED.inc(len(ids))

    async def relay_once(self) -> int:
        """Publish one batch of unsent rows and mark them sent; returns how many."""
        batch = await self._read_batch(after_id=0)
        if not batch:
            return 0
        records = [record for _, record in batch]
        await self._bus.publish(records)
        if self._publish_twice:
            await self._bus.publish(records)
        await self._mark_sent([row_id for row_id, _ in batch])
        return len(batch)

    async def _send(self, records: list[Record]) -> Awaitable[None]:
        """Hand a batch to the producer; the result completes once it is acknowledged (with
        ``publish_twice``: once its copy, sent after the first acknowledgement, is too)."""
        sent = await self._bus.send(records)
        return self._again(records, sent) if self._publish_twice else sent

    async def _again(self, records: list[Record], first: Awaitable[None]) -> None:
        await first
        await (await self._bus.send(records))

    async def _pipeline(
        self, stop: asyncio.Event, wake: asyncio.Event, leader: Leadership | None = None
    ) -> None:
        """Keep several batches in flight: read and send batch N+1 while N awaits its acks.

        Batches are handed to the producer in id order, and the idempotent producer keeps that
        order per partition; rows are marked sent oldest first, only once acknowledged. After a
        failure everything unacknowledged is read again from the table (duplicates are harmless:
        consumers' inboxes drop them).

        On PostgreSQL a transaction can commit after one that took a higher id; such a row
        would be behind ``last_id``. So at least once a second the pipeline drains and reads
        again from the start of the unsent rows.

        Before each batch goes to the producer, ``leader`` must still hold the lock
        (``LeadershipLost`` otherwise; what is in flight is then left to the next leader, which
        reads every unmarked row again).
        """
        inflight: deque[tuple[list[int], asyncio.Future[None]]] = deque()
        last_id = 0
        last_rescan = time.monotonic()
        while not stop.is_set():
            wake.clear()
            rescan_due = time.monotonic() - last_rescan > 1.0
            batch = [] if rescan_due else await self._read_batch(after_id=last_id)
            if batch:
                if leader is not None:
                    await leader.ensure()
                sent = await self._send([record for _, record in batch])
                inflight.append(([row_id for row_id, _ in batch], asyncio.ensure_future(sent)))
                last_id = batch[-1][0]
            acked: list[int] = []
            try:
                while inflight and (
                    inflight[0][1].done() or len(inflight) > self._max_inflight or not batch
                ):
                    ids, future = inflight.popleft()
                    await future
                    acked.extend(ids)
            except Exception:
                log.exception("outbox relay: publish failed; re-reading unacknowledged rows")
                for _, future in inflight:
                    future.cancel()
                inflight.clear()
                last_id = 0
                await _wait_any(stop, None, 1.0)
            if acked:
                await self._mark_sent(acked)
            if not inflight and (rescan_due or not batch):
                last_id, last_rescan = 0, time.monotonic()
            if rescan_due or batch or inflight:
                continue
            await self._maybe_cleanup()
            await _wait_any(stop, wake, self._poll_interval)
        acked = []
        with contextlib.suppress(Exception):
            for ids, future in inflight:
                await future
                acked.extend(ids)
        if acked:
            await self._mark_sent(acked)

    async def cleanup(self) -> None:
        cutoff = datetime.now(UTC) - self._keep_sent_for
        async with self._db.transaction() as session:
            await session.execute(
                sa.delete(outbox).where(outbox.c.sent_at.is_not(None), outbox.c.sent_at < cutoff)
            )

    async def run(self, stop: asyncio.Event, wake: asyncio.Event | None = None) -> None:
        """Relay until ``stop``; ``wake`` (set when a commit staged events) cuts the latency."""
        wake = wake or asyncio.Event()
        while not stop.is_set():
            try:
                async with leadership(self._db, self._leader_key, stop) as leader:
                    if leader is None:
                        return  # stopped before it led
                    while not stop.is_set():
                        try:
                            await self._pipeline(stop, wake, leader)
                        except LeadershipLost:
                            raise
                        except Exception:
                            log.exception("outbox relay failed; restarting it")
                            await _wait_any(stop, None, 1.0)
                    # Drain what is committed, so a clean shutdown leaves nothing behind.
                    with contextlib.suppress(Exception):
                        while await leader.held() and await self.relay_once():
                            pass
                return
            except LeadershipLost:
                self.leadership_losses += 1
                log.warning("outbox relay: leadership lost with its connection; taking it again")
            except Exception:  # e.g. PostgreSQL unreachable while taking leadership
                log.exception("outbox relay could not take leadership; retrying")
                await _wait_any(stop, None, 2.0)

    async def _maybe_cleanup(self) -> None:
        now = datetime.now(UTC)
        if now - self._last_cleanup > timedelta(minutes=1):
            self._last_cleanup = now
            with contextlib.suppress(Exception):
                await self.cleanup()
                await self._report_lag()

    async def _report_lag(self) -> None:
        async with self._db.read() as session:
            oldest = (
                await session.execute(
                    sa.select(sa.func.min(outbox.c.created_at)).where(outbox.c.sent_at.is_(None))
                )
            ).scalar()
        OUTBOX_RELAY_LAG.set(
            0.0 if oldest is None else (datetime.now(UTC) - aware(oldest)).total_seconds()
        )


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event | None, timeout: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()

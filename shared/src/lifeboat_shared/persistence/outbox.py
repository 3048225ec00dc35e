"""Transactional outbox: a state change and its events are written in one transaction; a relay
publishes them afterwards with the idempotent producer and marks them sent.

A crash between publish and mark means the event is published again with the same CloudEvents id;
consumers' inboxes make that harmless. A crash before commit means neither the state change nor
its event exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_shared.bus.interface import EventBus
from lifeboat_shared.bus.records import Record
from lifeboat_shared.contracts.envelope import Envelope, encode_envelope
from lifeboat_shared.persistence.database import Database
from lifeboat_shared.persistence.tables import outbox
from lifeboat_shared.telemetry.metrics import OUTBOX_PUBLISHED, OUTBOX_RELAY_LAG

log = logging.getLogger(__name__)


async def add_to_outbox(session: AsyncSession, envelopes: Sequence[Envelope]) -> None:
    """Stage events in the caller's transaction; they leave only if it commits."""
    if not envelopes:
        return
    now = datetime.now(UTC)
    rows = []
    for envelope in envelopes:
        record = encode_envelope(envelope)
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
    ) -> None:
        self._db = db
        self._bus = bus
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._keep_sent_for = keep_sent_for
        self._leader_key = leader_key
        self._last_cleanup = datetime.min.replace(tzinfo=UTC)

    async def relay_once(self) -> int:
        """Publish one batch of unsent rows; returns how many were sent."""
        async with self._db.read() as session:
            rows = (
                await session.execute(
                    sa.select(
                        outbox.c.id, outbox.c.topic, outbox.c.key, outbox.c.value, outbox.c.headers
                    )
                    .where(outbox.c.sent_at.is_(None))
                    .order_by(outbox.c.id)
                    .limit(self._batch_size)
                )
            ).all()
        if not rows:
            return 0
        records = [
            Record(
                topic=row.topic,
                key=row.key,
                value=row.value,
                headers=tuple((k, v.encode()) for k, v in row.headers.items()),
            )
            for row in rows
        ]
        await self._bus.publish(records)
        ids = [row.id for row in rows]
        async with self._db.transaction() as session:
            await session.execute(
                sa.update(outbox).where(outbox.c.id.in_(ids)).values(sent_at=datetime.now(UTC))
            )
        OUTBOX_PUBLISHED.inc(len(ids))
        return len(ids)

    async def cleanup(self) -> None:
        cutoff = datetime.now(UTC) - self._keep_sent_for
        async with self._db.transaction() as session:
            await session.execute(
                sa.delete(outbox).where(outbox.c.sent_at.is_not(None), outbox.c.sent_at < cutoff)
            )

    async def run(self, stop: asyncio.Event, wake: asyncio.Event | None = None) -> None:
        """Relay until ``stop`` is set; ``wake`` (set after a commit that staged events) cuts latency."""
        wake = wake or asyncio.Event()
        async with self._leadership(stop):
            while not stop.is_set():
                wake.clear()
                try:
                    sent = await self.relay_once()
                except Exception:
                    log.exception("outbox relay failed; retrying")
                    sent = 0
                    await _wait_any(stop, None, 1.0)
                if sent:
                    continue
                await self._maybe_cleanup()
                await _wait_any(stop, wake, self._poll_interval)
            # Drain what is committed before stopping, so a clean shutdown leaves nothing behind.
            with contextlib.suppress(Exception):
                while await self.relay_once():
                    pass

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
            0.0 if oldest is None else (datetime.now(UTC) - _aware(oldest)).total_seconds()
        )

    @contextlib.asynccontextmanager
    async def _leadership(self, stop: asyncio.Event):  # type: ignore[no-untyped-def]
        """On PostgreSQL only one relay per schema publishes (session advisory lock), keeping order."""
        if not self._db.is_postgres:
            yield
            return
        async with self._db.engine.connect() as conn:
            key = sa.text("SELECT pg_try_advisory_lock(hashtext(current_schema() || :k))")
            while not stop.is_set():
                got = (await conn.execute(key, {"k": self._leader_key})).scalar()
                await conn.commit()
                if got:
                    break
                await _wait_any(stop, None, 1.0)
            try:
                yield
            finally:
                with contextlib.suppress(Exception):
                    await conn.execute(
                        sa.text("SELECT pg_advisory_unlock(hashtext(current_schema() || :k))"),
                        {"k": self._leader_key},
                    )


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def _wait_any(stop: asyncio.Event, wake: asyncio.Event | None, timeout: float) -> None:
    waiters = [asyncio.ensure_future(stop.wait())]
    if wake is not None:
        waiters.append(asyncio.ensure_future(wake.wait()))
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()

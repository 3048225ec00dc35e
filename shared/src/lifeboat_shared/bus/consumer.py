"""The consumer loop every service runs: decode, dead-letter what is malformed, handle in one
transaction with the inbox, commit offsets only after that transaction commits.

A batch is handled in one transaction for throughput. If anything in it fails, the transaction is
rolled back and the batch is handled again one record at a time, each with bounded retries and
backoff; a record that still fails goes to the dead-letter topic (original bytes and headers plus
the error) and its partition keeps flowing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_shared.bus.handlers import HandlerContext, Handlers
from lifeboat_shared.bus.interface import BusConsumer, EventBus
from lifeboat_shared.bus.records import ConsumedRecord, Record, TopicPartition
from lifeboat_shared.contracts import topics as topic_names
from lifeboat_shared.contracts.envelope import (
    DEFAULT_MAX_RECORD_BYTES,
    Envelope,
    MalformedMessage,
    decode_record,
)
from lifeboat_shared.persistence.database import Database
from lifeboat_shared.persistence.inbox import already_handled, mark_handled
from lifeboat_shared.persistence.outbox import add_to_outbox
from lifeboat_shared.telemetry import metrics
from lifeboat_shared.telemetry.tracing import consume_span

log = logging.getLogger(__name__)


class ConsumerLoop:
    def __init__(
        self,
        *,
        bus: EventBus,
        db: Database,
        group: str,
        topics: Sequence[str],
        handlers: Handlers,
        source: str,
        dead_letter_topic: str = topic_names.DEAD_LETTER,
        max_attempts: int = 4,
        backoff_base: float = 0.05,
        backoff_max: float = 2.0,
        batch_size: int = 500,
        max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    ) -> None:
        self.bus = bus
        self.db = db
        self.group = group
        self.topics = list(topics)
        self.handlers = dict(handlers)
        self.source = source
        self.dead_letter_topic = dead_letter_topic
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.batch_size = batch_size
        self.max_record_bytes = max_record_bytes
        self.consumer: BusConsumer | None = None
        self.running = asyncio.Event()
        self._commit_task: asyncio.Task[None] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; the batch in hand is finished and committed first.

        Whatever fails outside a handler (the bus, the database, a dead-letter publish) restarts
        the consumer with backoff: records not committed are simply delivered again.
        """
        failures = 0
        while not stop.is_set():
            try:
                await self._consume(stop)
                failures = 0
            except Exception:
                failures += 1
                log.exception("consumer of group %s failed; restarting it", self.group)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=min(30.0, 0.5 * 2**failures))

    async def _consume(self, stop: asyncio.Event) -> None:
        self.consumer = self.bus.consumer(self.group, self.topics)
        await self.consumer.start()
        self.running.set()
        try:
            while not stop.is_set():
                records = await self.consumer.poll(max_records=self.batch_size, timeout=0.5)
                if records:
                    await self.process(records, stop)
        finally:
            try:
                await self._await_commit()
            finally:
                self.running.clear()
                await self.consumer.stop()

    async def process(self, records: Sequence[ConsumedRecord], stop: asyncio.Event) -> None:
        assert self.consumer is not None
        started = time.perf_counter()
        work: list[tuple[ConsumedRecord, Envelope]] = []
        dead: list[tuple[ConsumedRecord, str, str]] = []
        for rec in records:
            try:
                envelope = decode_record(rec, max_bytes=self.max_record_bytes)
            except MalformedMessage as exc:
                dead.append((rec, "malformed", exc.reason))
            else:
                if type(envelope.message) in self.handlers:
                    work.append((rec, envelope))
                else:
                    metrics.EVENTS_HANDLED.labels(self.group, envelope.type, "ignored").inc()
        if dead:
            await self._dead_letter(dead)
        left_over: set[tuple[str, int, int]] = set()
        if work:
            try:
                await self._handle_batch(work)
            except Exception:
                log.warning("batch of %d failed in group %s; isolating", len(work), self.group)
                for i, (rec, envelope) in enumerate(work):
                    if not await self._handle_with_retries(rec, envelope, stop):
                        # Stopping: leave this record and the rest to be delivered again.
                        left_over = {(r.topic, r.partition, r.offset) for r, _ in work[i:]}
                        break
        # The offset commit (a round trip) overlaps the next poll; commits stay in order because
        # each waits for the previous one, and none starts before its handlers' transaction
        # committed.
        await self._await_commit()
        self._commit_task = asyncio.create_task(
            self.consumer.commit(_next_offsets(records, left_over))
        )
        metrics.HANDLE_SECONDS.labels(self.group).observe(time.perf_counter() - started)

    async def _await_commit(self) -> None:
        task, self._commit_task = self._commit_task, None
        if task is not None:
            await task

    async def _handle_batch(self, work: Sequence[tuple[ConsumedRecord, Envelope]]) -> None:
        async with self.db.transaction() as session:
            seen = await already_handled(session, self.group, [e.id for _, e in work])
            fresh: list[Envelope] = []
            for _, envelope in work:
                if envelope.id in seen:
                    metrics.EVENTS_HANDLED.labels(self.group, envelope.type, "duplicate").inc()
                    continue
                seen.add(envelope.id)  # the same event twice in one batch
                await self._invoke(session, envelope)
                fresh.append(envelope)
            await mark_handled(session, self.group, [e.id for e in fresh])
        self._observe(fresh)

    async def _handle_with_retries(
        self, rec: ConsumedRecord, envelope: Envelope, stop: asyncio.Event
    ) -> bool:
        """Handle one record; False if stopping left it unhandled (it will be redelivered).

        A handler error is retried ``max_attempts`` times, then dead-lettered. A transient
        infrastructure error (database unreachable, deadlock, serialization failure, SQLite
        busy) is retried for as long as it lasts: dead-lettering would lose a good event.
        """
        error = ""
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._handle_batch([(rec, envelope)])
                return True
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                transient = is_transient(exc)
                log.warning(
                    "handler failed (attempt %d, %s) for %s %s: %s",
                    attempt,
                    "transient" if transient else f"of {self.max_attempts}",
                    envelope.type,
                    envelope.id,
                    error,
                )
                if stop.is_set():
                    return False
                if not transient and attempt >= self.max_attempts:
                    break
                delay = min(self.backoff_max, self.backoff_base * 2 ** min(attempt - 1, 16))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
        await self._dead_letter([(rec, "handler-failed", error)])
        return True

    async def _invoke(self, session: AsyncSession, envelope: Envelope) -> None:
        handler = self.handlers[type(envelope.message)]
        context = HandlerContext(session=session, envelope=envelope, source=self.source)
        with consume_span(envelope, self.group):
            await handler(envelope.message, context)
        await add_to_outbox(session, context.staged)

    def _observe(self, handled: Sequence[Envelope]) -> None:
        now = datetime.now(UTC)
        for envelope in handled:
            metrics.EVENTS_HANDLED.labels(self.group, envelope.type, "ok").inc()
            metrics.PUBLISH_TO_HANDLED_SECONDS.labels(self.group).observe(
                max(0.0, (now - envelope.time).total_seconds())
            )

    async def _dead_letter(self, items: Sequence[tuple[ConsumedRecord, str, str]]) -> None:
        records = []
        for rec, reason, error in items:
            log.error(
                "dead-lettering %s[%d]@%d for group %s: %s",
                rec.topic,
                rec.partition,
                rec.offset,
                self.group,
                error,
            )
            metrics.EVENTS_DEAD_LETTERED.labels(self.group, reason).inc()
            records.append(
                dead_letter_record(rec, self.dead_letter_topic, self.group, reason, error)
            )
        await self.bus.publish(records)


def _next_offsets(
    records: Sequence[ConsumedRecord], left_over: set[tuple[str, int, int]]
) -> dict[TopicPartition, int]:
    """Per partition, the offset after the last record that is done, stopping at the first
    record left over (records of a partition arrive in offset order)."""
    offsets: dict[TopicPartition, int] = {}
    blocked: set[TopicPartition] = set()
    for rec in records:
        tp = (rec.topic, rec.partition)
        if tp in blocked:
            continue
        if (rec.topic, rec.partition, rec.offset) in left_over:
            blocked.add(tp)
            continue
        offsets[tp] = max(offsets.get(tp, 0), rec.offset + 1)
    return offsets


def is_transient(exc: BaseException) -> bool:
    """Infrastructure trouble that passes by itself, as opposed to a handler's own error."""
    if isinstance(exc, OperationalError | InterfaceError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        return code in {"40001", "40P01", "57P01", "57P02", "57P03", "08000", "08003", "08006"}
    return False


def dead_letter_record(
    rec: ConsumedRecord, topic: str, group: str, reason: str, error: str
) -> Record:
    extra: Mapping[str, str] = {
        "dlq_reason": reason,
        "dlq_error": error[:4000],
        "dlq_topic": rec.topic,
        "dlq_partition": str(rec.partition),
        "dlq_offset": str(rec.offset),
        "dlq_group": group,
    }
    return Record(
        topic=topic,
        key=rec.key,
        value=rec.value,
        headers=(*rec.headers, *((k, v.encode()) for k, v in extra.items())),
    )

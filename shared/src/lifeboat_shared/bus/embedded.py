"""Embedded backend: a durable append-only log in a SQL database (SQLite by default, or PostgreSQL).

Same semantics as Kafka where Lifeboat relies on them: topics with partitions, keys hashed to
partitions with Kafka's own murmur2 (so a key lands on the same partition number on both
backends), per-partition order, consumer groups whose live members split the partitions
(membership by heartbeat; a member silent for ``session_timeout`` is dead and its partitions are
taken over), committed offsets, and redelivery of whatever was not committed.

Several processes may share one SQLite file: it runs in WAL mode and every write transaction is
``BEGIN IMMEDIATE`` (see persistence.database), so writers queue instead of failing.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from aiokafka.partitioner import murmur2
from sqlalchemy.dialects import postgresql, sqlite

from lifeboat_shared.bus.records import ConsumedRecord, Record, TopicPartition
from lifeboat_shared.persistence.database import Database

bus_metadata = sa.MetaData()

topics_table = sa.Table(
    "bus_topics",
    bus_metadata,
    sa.Column("name", sa.String(255), primary_key=True),
    sa.Column("partitions", sa.Integer, nullable=False),
)
heads_table = sa.Table(
    "bus_heads",
    bus_metadata,
    sa.Column("topic", sa.String(255), primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True),
    sa.Column("next_offset", sa.BigInteger, nullable=False),
)
log_table = sa.Table(
    "bus_log",
    bus_metadata,
    sa.Column("topic", sa.String(255), primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True),
    sa.Column("offset", sa.BigInteger, primary_key=True),
    sa.Column("key", sa.LargeBinary, nullable=True),
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.Column("headers", sa.JSON, nullable=False),
    sa.Column("appended_at", sa.Float, nullable=False),
)
offsets_table = sa.Table(
    "bus_offsets",
    bus_metadata,
    sa.Column("group_id", sa.String(255), primary_key=True),
    sa.Column("topic", sa.String(255), primary_key=True),
    sa.Column("partition", sa.Integer, primary_key=True),
    sa.Column("next_offset", sa.BigInteger, nullable=False),
)
members_table = sa.Table(
    "bus_members",
    bus_metadata,
    sa.Column("group_id", sa.String(255), primary_key=True),
    sa.Column("member_id", sa.String(64), primary_key=True),
    sa.Column("heartbeat_at", sa.Float, nullable=False),
)


def partition_for(key: bytes | None, partitions: int, counter: itertools.count[int]) -> int:
    """Kafka's default partitioner: murmur2 of the key; keyless records spread round-robin."""
    if key is None:
        return next(counter) % partitions
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def _encode_headers(headers: Sequence[tuple[str, bytes]]) -> list[list[str]]:
    return [[k, v.hex()] for k, v in headers]


def _decode_headers(raw: list[list[str]]) -> tuple[tuple[str, bytes], ...]:
    return tuple((k, bytes.fromhex(v)) for k, v in raw)


class EmbeddedBus:
    name = "embedded"

    def __init__(
        self,
        db: Database,
        *,
        partitions: int = 6,
        session_timeout: float = 6.0,
        heartbeat_interval: float = 1.0,
        idle_poll: float = 0.05,
    ) -> None:
        self.db = db
        self.partitions = partitions
        self.session_timeout = session_timeout
        self.heartbeat_interval = heartbeat_interval
        self.idle_poll = idle_poll
        self._topic_partitions: dict[str, int] = {}
        self._round_robin = itertools.count()
        self._appended = asyncio.Event()
        self._started = False
        # The log's heads as this process last knew them: read from the database at most once
        # per idle_poll however many consumers poll, and moved forward by this process's own
        # appends, so an idle consumer costs no query of its own.
        self._heads: dict[TopicPartition, int] = {}
        self._heads_read_at = float("-inf")
        self._heads_lock = asyncio.Lock()

    async def start(self) -> None:
        await self.db.ensure_schema()
        async with self.db.engine.begin() as conn:
            await conn.run_sync(bus_metadata.create_all)
        self._started = True

    async def stop(self) -> None:
        self._started = False

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        async with self.db.transaction() as session:
            existing = {
                row.name: row.partitions for row in await session.execute(sa.select(topics_table))
            }
            dialect = session.get_bind().dialect.name
            for topic in topics:
                if topic in existing:
                    continue
                # Services start together on a shared bus: whoever is second changes nothing.
                await session.execute(
                    _insert(dialect, topics_table)
                    .values(name=topic, partitions=self.partitions)
                    .on_conflict_do_nothing()
                )
                await session.execute(
                    _insert(dialect, heads_table).on_conflict_do_nothing(),
                    [
                        {"topic": topic, "partition": p, "next_offset": 0}
                        for p in range(self.partitions)
                    ],
                )
                existing[topic] = self.partitions
        self._topic_partitions.update(existing)

    async def partitions_of(self, topic: str) -> int:
        if topic not in self._topic_partitions:
            async with self.db.read() as session:
                n = (
                    await session.execute(
                        sa.select(topics_table.c.partitions).where(topics_table.c.name == topic)
                    )
                ).scalar()
            if n is None:
                raise LookupError(f"unknown topic {topic!r}: create it with ensure_topics")
            self._topic_partitions[topic] = int(n)
        return self._topic_partitions[topic]

    async def publish(self, records: Sequence[Record]) -> None:
        if not records:
            return
        by_partition: dict[TopicPartition, list[Record]] = {}
        for r in records:
            p = partition_for(r.key, await self.partitions_of(r.topic), self._round_robin)
            by_partition.setdefault((r.topic, p), []).append(r)
        now = time.time()
        appended: dict[TopicPartition, int] = {}
        async with self.db.transaction() as session:
            for (topic, partition), batch in sorted(by_partition.items()):
                head = (
                    await session.execute(
                        sa.select(heads_table.c.next_offset)
                        .where(heads_table.c.topic == topic, heads_table.c.partition == partition)
                        .with_for_update()
                    )
                ).scalar_one()
                await session.execute(
                    sa.update(heads_table)
                    .where(heads_table.c.topic == topic, heads_table.c.partition == partition)
                    .values(next_offset=head + len(batch))
                )
                await session.execute(
                    sa.insert(log_table),
                    [
                        {
                            "topic": topic,
                            "partition": partition,
                            "offset": head + i,
                            "key": r.key,
                            "value": r.value,
                            "headers": _encode_headers(r.headers),
                            "appended_at": now,
                        }
                        for i, r in enumerate(batch)
                    ],
                )
                appended[(topic, partition)] = head + len(batch)
        for tp, head in appended.items():  # committed: this process's consumers may read them
            self._heads[tp] = max(self._heads.get(tp, 0), head)
        self._appended.set()

    async def heads(self) -> Mapping[TopicPartition, int]:
        """Next offset of every partition: this process's appends at once, other processes'
        within ``idle_poll`` (one read of the small heads table shared by all consumers)."""
        async with self._heads_lock:
            if time.monotonic() - self._heads_read_at >= self.idle_poll:
                async with self.db.read() as session:
                    rows = await session.execute(sa.select(heads_table))
                for r in rows:
                    tp = (r.topic, r.partition)
                    self._heads[tp] = max(self._heads.get(tp, 0), int(r.next_offset))
                self._heads_read_at = time.monotonic()
            return self._heads

    async def send(self, records: Sequence[Record]) -> Awaitable[None]:
        await self.publish(records)  # durable once its transaction committed
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def consumer(self, group: str, topics: Sequence[str]) -> EmbeddedConsumer:
        return EmbeddedConsumer(self, group, topics)

    async def ping(self) -> None:
        await self.db.ping()

    async def wait_appended(self, timeout: float) -> None:
        """Wake early when this process appended something (other processes: idle polling)."""
        self._appended.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._appended.wait(), timeout)


class EmbeddedConsumer:
    def __init__(self, bus: EmbeddedBus, group: str, topics: Sequence[str]) -> None:
        self._bus = bus
        self._db = bus.db
        self._group = group
        self._topics = list(topics)
        self.member_id = uuid.uuid4().hex
        self._assignment: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int] = {}
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._last_assignment_check = 0.0

    async def start(self) -> None:
        await self._heartbeat()
        self._heartbeat_task = asyncio.create_task(self._heartbeat_loop())
        await self._rebalance()

    async def stop(self) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
        with contextlib.suppress(Exception):
            async with self._db.transaction() as session:
                await session.execute(
                    sa.delete(members_table).where(
                        members_table.c.group_id == self._group,
                        members_table.c.member_id == self.member_id,
                    )
                )

    def assignment(self) -> set[TopicPartition]:
        return set(self._assignment)

    async def _heartbeat(self) -> None:
        now = time.time()
        async with self._db.transaction() as session:
            updated = await session.execute(
                sa.update(members_table)
                .where(
                    members_table.c.group_id == self._group,
                    members_table.c.member_id == self.member_id,
                )
                .values(heartbeat_at=now)
            )
            if updated.rowcount == 0:  # type: ignore[attr-defined]
                await session.execute(
                    sa.insert(members_table).values(
                        group_id=self._group, member_id=self.member_id, heartbeat_at=now
                    )
                )
            # Forget members long dead, so the table does not grow.
            await session.execute(
                sa.delete(members_table).where(
                    members_table.c.group_id == self._group,
                    members_table.c.heartbeat_at < now - 10 * self._bus.session_timeout,
                )
            )

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self._bus.heartbeat_interval)
            with contextlib.suppress(Exception):
                await self._heartbeat()

    async def _rebalance(self) -> None:
        """Recompute this member's share: live members sorted by id take partitions round-robin."""
        now = time.time()
        self._last_assignment_check = now
        async with self._db.read() as session:
            members = [
                row[0]
                for row in await session.execute(
                    sa.select(members_table.c.member_id)
                    .where(
                        members_table.c.group_id == self._group,
                        members_table.c.heartbeat_at >= now - self._bus.session_timeout,
                    )
                    .order_by(members_table.c.member_id)
                )
            ]
        if self.member_id not in members:
            members = sorted([*members, self.member_id])
        all_partitions: list[TopicPartition] = []
        for topic in sorted(self._topics):
            n = await self._bus.partitions_of(topic)
            all_partitions.extend((topic, p) for p in range(n))
        index = members.index(self.member_id)
        mine = [tp for i, tp in enumerate(all_partitions) if i % len(members) == index]
        if mine == self._assignment:
            return
        self._assignment = mine
        committed = await self._committed(mine)
        self._positions = {tp: committed.get(tp, 0) for tp in mine}

    async def _committed(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        async with self._db.read() as session:
            rows = await session.execute(
                sa.select(offsets_table).where(offsets_table.c.group_id == self._group)
            )
            wanted = set(partitions)
            return {
                (r.topic, r.partition): int(r.next_offset)
                for r in rows
                if (r.topic, r.partition) in wanted
            }

    async def poll(self, *, max_records: int, timeout: float) -> list[ConsumedRecord]:
        deadline = time.monotonic() + timeout
        while True:
            if time.time() - self._last_assignment_check >= self._bus.heartbeat_interval:
                await self._rebalance()
            records = await self._fetch(max_records)
            if records or time.monotonic() >= deadline:
                return records
            await self._bus.wait_appended(
                min(self._bus.idle_poll, max(0.0, deadline - time.monotonic()))
            )

    async def _fetch(self, max_records: int) -> list[ConsumedRecord]:
        out: list[ConsumedRecord] = []
        heads = await self._bus.heads()
        ready = [tp for tp in self._assignment if heads.get(tp, 0) > self._positions[tp]]
        if not ready:
            return out
        async with self._db.read() as session:
            for tp in ready:
                if len(out) >= max_records:
                    break
                topic, partition = tp
                rows = await session.execute(
                    sa.select(log_table)
                    .where(
                        log_table.c.topic == topic,
                        log_table.c.partition == partition,
                        log_table.c.offset >= self._positions[tp],
                    )
                    .order_by(log_table.c.offset)
                    .limit(max_records - len(out))
                )
                for r in rows:
                    out.append(
                        ConsumedRecord(
                            topic=topic,
                            partition=partition,
                            offset=int(r.offset),
                            key=r.key,
                            value=r.value,
                            headers=_decode_headers(r.headers),
                        )
                    )
                    self._positions[tp] = int(r.offset) + 1
        return out

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Store offsets; an upsert that only moves forward, safe when two members briefly
        own the same partition during a rebalance."""
        if not offsets:
            return
        async with self._db.transaction() as session:
            dialect = session.get_bind().dialect.name
            greatest = sa.func.greatest if dialect == "postgresql" else sa.func.max
            for (topic, partition), offset in offsets.items():
                stmt = _insert(dialect, offsets_table).values(
                    group_id=self._group, topic=topic, partition=partition, next_offset=offset
                )
                await session.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["group_id", "topic", "partition"],
                        set_={
                            "next_offset": greatest(
                                offsets_table.c.next_offset, stmt.excluded.next_offset
                            )
                        },
                    )
                )


def _insert(dialect: str, table: sa.Table) -> Any:
    """INSERT with ON CONFLICT support for the two engines the embedded bus runs on."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)

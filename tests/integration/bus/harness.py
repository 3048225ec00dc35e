"""Builds either bus backend, in this process or in a worker process, for the contract tests."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import ClassVar

import sqlalchemy as sa

from lifeboat_shared.bus.embedded import EmbeddedBus
from lifeboat_shared.bus.handlers import HandlerContext
from lifeboat_shared.bus.interface import EventBus
from lifeboat_shared.bus.kafka import KafkaBus
from lifeboat_shared.bus.records import Record
from lifeboat_shared.contracts.base import Event, Message, register
from lifeboat_shared.contracts.envelope import encode_envelope, new_envelope
from lifeboat_shared.persistence.database import Database
from lifeboat_shared.persistence.tables import messaging_metadata

PARTITIONS = 4


@register
class ProbeRecorded(Event):
    """A test-only event; records carrying it are re-addressed to a per-test topic."""

    topic: ClassVar[str] = "lifeboat.test.probe"

    key: str
    seq: int
    note: str = ""

    def partition_key(self) -> str:
        return self.key


probe_metadata = sa.MetaData()
probe_handled = sa.Table(
    "probe_handled",
    probe_metadata,
    # Deliberately no unique constraint: a handler effect applied twice would show up here.
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(128), nullable=False),
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
)


@dataclass(frozen=True)
class BackendConfig:
    kind: str  # "kafka" | "embedded"
    service_url: str
    service_schema: str | None
    kafka_bootstrap: str | None = None
    bus_url: str | None = None
    bus_schema: str | None = None
    session_timeout: float = 3.0

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: str) -> BackendConfig:
        return cls(**json.loads(raw))

    def make_bus(self) -> EventBus:
        if self.kind == "kafka":
            assert self.kafka_bootstrap
            return KafkaBus(
                self.kafka_bootstrap,
                partitions=PARTITIONS,
                client_id="lifeboat-test",
                session_timeout_ms=int(self.session_timeout * 1000),
                heartbeat_interval_ms=500,
            )
        assert self.bus_url
        return EmbeddedBus(
            Database(self.bus_url, schema=self.bus_schema),
            partitions=PARTITIONS,
            session_timeout=self.session_timeout,
            heartbeat_interval=0.5,
        )

    def make_db(self) -> Database:
        return Database(self.service_url, schema=self.service_schema)


async def prepare_service_db(db: Database) -> None:
    await db.ensure_schema()
    async with db.engine.begin() as conn:
        await conn.run_sync(messaging_metadata.create_all)
        await conn.run_sync(probe_metadata.create_all)


def probe(topic: str, key: str, seq: int, note: str = "") -> Record:
    record = encode_envelope(
        new_envelope(ProbeRecorded(key=key, seq=seq, note=note), source="/lifeboat/test")
    )
    return replace(record, topic=topic)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class ProbeHandler:
    """Records each handled probe; 'poison' always fails; optional delay and delivery log."""

    def __init__(self, delay: float = 0.0, deliveries: Path | None = None) -> None:
        self.delay = delay
        self.deliveries = deliveries

    async def __call__(self, message: Message, ctx: HandlerContext) -> None:
        assert isinstance(message, ProbeRecorded)
        if self.deliveries is not None:
            with self.deliveries.open("a") as f:
                f.write(ctx.envelope.id + "\n")
        if message.note == "poison":
            raise RuntimeError(f"poison pill {message.seq}")
        if self.delay:
            await asyncio.sleep(self.delay)
        await ctx.session.execute(
            sa.insert(probe_handled).values(
                event_id=ctx.envelope.id, key=message.key, seq=message.seq
            )
        )


async def handled_rows(db: Database) -> list[tuple[str, str, int]]:
    async with db.read() as session:
        rows = await session.execute(
            sa.select(probe_handled.c.event_id, probe_handled.c.key, probe_handled.c.seq).order_by(
                probe_handled.c.id
            )
        )
        return [(r[0], r[1], r[2]) for r in rows]

"""The event bus seen by the rest of Lifeboat: one interface, two backends (Kafka, embedded log).

Semantics both backends keep (checked by one contract test suite):
- ``publish`` returns only when every record is durable (Kafka: acks=all on an idempotent
  producer; embedded: committed to the log table). Records with the same key keep their order.
- A consumer belongs to a group; the group's partitions are split among its live members; a
  member that dies has its partitions taken over.
- Offsets are committed explicitly, by the caller, after its own transaction commits; what was
  not committed is delivered again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping, Sequence
from typing import Protocol

from lifeboat_shared.bus.records import ConsumedRecord, Record, TopicPartition


class BusConsumer(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def poll(self, *, max_records: int, timeout: float) -> list[ConsumedRecord]:
        """Records from the partitions this member owns, in offset order per partition."""
        ...

    async def commit(self, offsets: Mapping[TopicPartition, int]) -> None:
        """Commit the next offset to read for each partition (last handled offset + 1)."""
        ...

    def assignment(self) -> set[TopicPartition]: ...


class EventBus(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def ensure_topics(self, topics: Sequence[str]) -> None:
        """Create missing topics with the configured partition count."""
        ...

    async def publish(self, records: Sequence[Record]) -> None:
        """Return when every record is durable."""
        ...

    async def send(self, records: Sequence[Record]) -> Awaitable[None]:
        """Hand records over in order; the result completes when all of them are durable.
        Lets a caller keep several batches in flight (the outbox relay does)."""
        ...

    def consumer(self, group: str, topics: Sequence[str]) -> BusConsumer: ...

    async def ping(self) -> None:
        """Raise if the bus cannot be reached (readiness)."""
        ...

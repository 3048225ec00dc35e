"""Raw records: what travels on the bus, independent of the backend."""

from __future__ import annotations

from dataclasses import dataclass

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class Record:
    """A record to publish: bytes in, bytes out; the bus never interprets it."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers = ()

    def header(self, name: str) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None


@dataclass(frozen=True, slots=True)
class ConsumedRecord:
    """A record read from a partition at an offset."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Headers = ()

    def header(self, name: str) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None


TopicPartition = tuple[str, int]

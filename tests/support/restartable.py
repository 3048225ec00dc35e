"""A Kafka broker and a PostgreSQL server of one test's own, which the test may restart.

The session's servers (tests/support/services.py) are shared by every test; a fault test that
restarts its broker or database starts its own with the same scripts, so the restart disturbs
nobody else. ``restart()`` keeps the address (same port, same data): clients that reconnect find
the same server again, as after a real broker or database restart.

Also here: what the "0 acknowledged events lost" verdict compares. An event is acknowledged when
the outbox relay marked its row sent (only after Kafka acked it); it is lost if its CloudEvents id
is not on the topic afterwards, read from the beginning by a plain consumer.
"""

from __future__ import annotations

import asyncio
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer

from lifeboat_shared.persistence.database import Database
from lifeboat_shared.persistence.tables import outbox
from tests.support.services import KAFKA_SCRIPT, PG_SCRIPT


class LocalServer:
    """One server started by a deploy script in ``workdir``."""

    def __init__(self, script: Path, workdir: Path, what: str) -> None:
        self.script, self.workdir, self.what = script, workdir, what
        self.address = ""
        self.restarts = 0

    def _run(self, command: str) -> str:
        result = subprocess.run(
            ["bash", str(self.script), command, str(self.workdir)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{self.what} {command} failed:\n{result.stdout}\n{result.stderr}")
        lines = result.stdout.splitlines()
        assert len(lines) == 1, f"{self.what} {command} printed more than its address: {lines}"
        return lines[0]

    def start(self) -> str:
        self.address = self._run("start")
        return self.address

    async def restart(self) -> float:
        """Restart (off the event loop); the address must not change. Returns the seconds taken."""
        began = time.monotonic()
        address = await asyncio.to_thread(self._run, "restart")
        assert address == self.address, f"{self.what} moved: {self.address} -> {address}"
        self.restarts += 1
        return time.monotonic() - began

    def stop(self) -> None:
        subprocess.run(["bash", str(self.script), "stop", str(self.workdir)], timeout=120)


@contextmanager
def own_kafka(tmp: Path) -> Iterator[LocalServer]:
    server = LocalServer(KAFKA_SCRIPT, tmp / "kafka", "Kafka")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextmanager
def own_postgres() -> Iterator[LocalServer]:
    # Under /tmp with a short name (not the test's tmp dir): the postgres user must reach it and
    # the socket path's length is limited.
    with tempfile.TemporaryDirectory(prefix="lbpg-") as d:
        server = LocalServer(PG_SCRIPT, Path(d), "PostgreSQL")
        try:
            server.start()
            yield server
        finally:
            server.stop()


async def outbox_ids(database: str, schema: str) -> tuple[dict[str, str], set[str]]:
    """(event id -> topic of every row the relay marked sent, ids of rows still unsent)."""
    db = Database(database, schema=schema)
    try:
        async with db.read() as s:
            rows = (
                await s.execute(sa.select(outbox.c.event_id, outbox.c.topic, outbox.c.sent_at))
            ).all()
    finally:
        await db.dispose()
    sent = {r.event_id: r.topic for r in rows if r.sent_at is not None}
    return sent, {r.event_id for r in rows if r.sent_at is None}


async def topic_event_ids(bootstrap: str, topics: set[str]) -> set[str]:
    """The CloudEvents ids (``ce_id`` header) of everything on ``topics``."""
    return set(await topic_events(bootstrap, topics))


async def topic_events(bootstrap: str, topics: set[str]) -> dict[str, tuple[str, bytes]]:
    """CloudEvents id -> (type, data) of everything on ``topics``, read from the start to the end
    offsets of now, by a consumer of no group (it commits nothing, disturbs no one)."""
    consumer = AIOKafkaConsumer(
        *sorted(topics),
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        # Without a group the consumer assigns itself every partition of its topics.
        deadline = time.monotonic() + 30
        while not {tp.topic for tp in consumer.assignment()} >= topics:
            assert time.monotonic() < deadline, f"no partitions of {topics}"
            await asyncio.sleep(0.1)
        parts = sorted(consumer.assignment())
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        events: dict[str, tuple[str, bytes]] = {}
        deadline = time.monotonic() + 60
        while [tp for tp in parts if await consumer.position(tp) < end[tp]]:
            assert time.monotonic() < deadline, "could not read the topics to their end"
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for m in messages:
                    headers = {k: v.decode() for k, v in m.headers or ()}
                    if "ce_id" in headers:
                        events[headers["ce_id"]] = (headers.get("ce_type", ""), m.value or b"")
        return events
    finally:
        await consumer.stop()

"""One contract, both backends: what every Lifeboat service relies on from its event bus."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from lifeboat_shared.bus.consumer import ConsumerLoop
from lifeboat_shared.bus.interface import BusConsumer, EventBus
from lifeboat_shared.bus.records import ConsumedRecord, Record
from lifeboat_shared.contracts.envelope import decode_record
from tests.integration.bus.harness import (
    BackendConfig,
    ProbeHandler,
    ProbeRecorded,
    handled_rows,
    probe,
    unique,
)
from tests.support.services import ROOT


@asynccontextmanager
async def started_bus(cfg: BackendConfig, topics: Sequence[str]) -> AsyncIterator[EventBus]:
    bus = cfg.make_bus()
    await bus.start()
    await bus.ensure_topics(topics)
    try:
        yield bus
    finally:
        await bus.stop()


async def drain(consumer: BusConsumer, want: int, timeout: float = 30) -> list[ConsumedRecord]:
    got: list[ConsumedRecord] = []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        got += await consumer.poll(max_records=500, timeout=0.5)
    return got


async def wait_for(predicate, timeout: float = 40, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


async def test_round_trip_keeps_bytes_keys_and_headers(backend: BackendConfig) -> None:
    topic = unique("roundtrip")
    async with started_bus(backend, [topic]) as bus:
        sent = [probe(topic, f"g{i % 3}", i) for i in range(20)]
        await bus.publish(sent)
        consumer = bus.consumer(unique("group"), [topic])
        await consumer.start()
        try:
            got = await drain(consumer, 20)
        finally:
            await consumer.stop()
    assert sorted((r.key, r.value, r.headers) for r in got) == sorted(
        (r.key, r.value, r.headers) for r in sent
    )
    envelopes = [decode_record(r) for r in got]
    assert {e.type for e in envelopes} == {ProbeRecorded.message_type()}


async def test_per_key_order_with_concurrent_producers(backend: BackendConfig) -> None:
    topic = unique("order")
    producers, per_key, keys_per_producer = 4, 40, 3
    async with started_bus(backend, [topic]) as reader:

        async def produce(p: int) -> None:
            async with started_bus(backend, [topic]) as bus:
                for seq in range(per_key):
                    await bus.publish(
                        [probe(topic, f"p{p}-k{k}", seq) for k in range(keys_per_producer)]
                    )

        await asyncio.gather(*(produce(p) for p in range(producers)))
        consumer = reader.consumer(unique("group"), [topic])
        await consumer.start()
        try:
            got = await drain(consumer, producers * keys_per_producer * per_key)
        finally:
            await consumer.stop()
    by_key: dict[str, list[int]] = defaultdict(list)
    for r in got:
        message = decode_record(r).message
        assert isinstance(message, ProbeRecorded)
        by_key[message.key].append(message.seq)
    assert len(by_key) == producers * keys_per_producer
    for key, seqs in by_key.items():
        assert seqs == list(range(per_key)), f"key {key} out of order"


def spawn_worker(cfg: BackendConfig, **args: object) -> subprocess.Popen[str]:
    payload = json.dumps({"backend": cfg.to_json(), **args})
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.bus.worker", payload],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", f"worker did not start: {line!r}"
    return proc


async def test_group_splits_partitions_and_survivor_takes_over(backend: BackendConfig) -> None:
    topic, dlq, group = unique("split"), unique("dlq"), unique("group")
    db = backend.make_db()
    async with started_bus(backend, [topic, dlq]) as bus:
        worker = spawn_worker(backend, group=group, topics=[topic], dlq=dlq)
        try:
            survivor = ConsumerLoop(
                bus=bus,
                db=db,
                group=group,
                topics=[topic],
                handlers={ProbeRecorded: ProbeHandler()},
                source="/t",
                dead_letter_topic=dlq,
            )
            stop = asyncio.Event()
            task = asyncio.create_task(survivor.run(stop))
            await survivor.running.wait()

            async def split() -> bool:
                assert survivor.consumer is not None
                return 0 < len(survivor.consumer.assignment()) < 4

            await wait_for(split, what="partitions split between the two members")
            await bus.publish([probe(topic, f"k{i}", i) for i in range(40)])

            async def all_handled(n: int = 40) -> bool:
                return len(await handled_rows(db)) >= n

            await wait_for(all_handled, what="first 40 handled")
            # 40 keys spread over 4 partitions while the survivor owned fewer than 4: the worker
            # process handled its share before it is killed.
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=10)

            async def took_over() -> bool:
                assert survivor.consumer is not None
                return len(survivor.consumer.assignment()) == 4

            await wait_for(took_over, what="the survivor to own all partitions")
            await bus.publish([probe(topic, f"k{i}", 100 + i) for i in range(40)])
            await wait_for(lambda: all_handled(80), what="all 80 handled by the survivor")
            stop.set()
            await task
        finally:
            if worker.poll() is None:
                worker.kill()
    rows = await handled_rows(db)
    await db.dispose()
    event_ids = [r[0] for r in rows]
    assert len(event_ids) == len(set(event_ids)) == 80


async def test_sigkill_mid_batch_redelivers_and_handles_exactly_once(
    backend: BackendConfig, tmp_path: Path
) -> None:
    topic, dlq, group = unique("kill"), unique("dlq"), unique("group")
    deliveries = tmp_path / "deliveries.log"
    total = 200
    db = backend.make_db()
    async with started_bus(backend, [topic, dlq]) as bus:
        sent = [probe(topic, f"k{i % 8}", i) for i in range(total)]
        await bus.publish(sent)
        args = {"group": group, "topics": [topic], "dlq": dlq, "batch_size": 20}
        worker = spawn_worker(backend, delay=0.01, deliveries=str(deliveries), **args)

        async def some_handled() -> bool:
            return len(await handled_rows(db)) >= 40

        await wait_for(some_handled, what="some batches handled")
        worker.send_signal(signal.SIGKILL)  # mid-batch: the next batch is in its transaction
        worker.wait(timeout=10)
        handled_at_kill = len(await handled_rows(db))
        assert handled_at_kill < total, "the worker finished before it could be killed"

        restarted = spawn_worker(backend, deliveries=str(deliveries), **args)
        try:

            async def all_handled() -> bool:
                return len(await handled_rows(db)) >= total

            await wait_for(all_handled, what="all records handled after restart")
            # A stray redelivery would come before anything published now on the same keys
            # (same partitions, per-partition order): once these sentinels are handled, any
            # record handled twice is already in the table.
            sentinels = [probe(topic, f"k{k}", total + k, note="sentinel") for k in range(8)]
            ends = {decode_record(r).id for r in sentinels}
            await bus.publish(sentinels)

            async def sentinels_handled() -> bool:
                return ends <= {r[0] for r in await handled_rows(db)}

            await wait_for(sentinels_handled, what="the sentinels handled")
        finally:
            restarted.send_signal(signal.SIGTERM)
            assert restarted.wait(timeout=30) == 0
    rows = await handled_rows(db)
    await db.dispose()
    expected = {decode_record(r).id for r in sent}
    handled_ids = [r[0] for r in rows if r[0] not in ends]
    assert sorted(r[0] for r in rows if r[0] in ends) == sorted(ends)
    assert len(handled_ids) == total, "a record was handled twice or lost"
    assert set(handled_ids) == expected
    delivered = [d for d in deliveries.read_text().split() if d in expected]
    assert len(delivered) > total, "nothing was redelivered: the kill did not interrupt a batch"


async def run_loop_until(
    bus: EventBus,
    cfg: BackendConfig,
    topic: str,
    dlq: str,
    predicate,
    what: str,  # type: ignore[no-untyped-def]
) -> None:
    db = cfg.make_db()
    loop = ConsumerLoop(
        bus=bus,
        db=db,
        group=unique("group"),
        topics=[topic],
        handlers={ProbeRecorded: ProbeHandler()},
        source="/t",
        dead_letter_topic=dlq,
        backoff_base=0.01,
        max_attempts=3,
        batch_size=50,
        max_record_bytes=64 * 1024,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    try:
        await wait_for(lambda: predicate(db), what=what)
    finally:
        stop.set()
        await task
        await db.dispose()


async def read_all(bus: EventBus, topic: str, want: int) -> list[ConsumedRecord]:
    consumer = bus.consumer(unique("reader"), [topic])
    await consumer.start()
    try:
        return await drain(consumer, want)
    finally:
        await consumer.stop()


async def test_poison_message_is_dead_lettered_and_partition_keeps_flowing(
    backend: BackendConfig,
) -> None:
    topic, dlq = unique("poison"), unique("dlq")
    async with started_bus(backend, [topic, dlq]) as bus:
        # one key: one partition; the poison sits between good records
        records = [probe(topic, "g1", i) for i in range(5)]
        records.append(probe(topic, "g1", 5, note="poison"))
        records += [probe(topic, "g1", i) for i in range(6, 12)]
        await bus.publish(records)

        async def eleven(db) -> bool:  # type: ignore[no-untyped-def]
            return len(await handled_rows(db)) >= 11

        await run_loop_until(bus, backend, topic, dlq, eleven, "the records after the poison")
        dead = await read_all(bus, dlq, 1)
    assert len(dead) == 1
    assert dead[0].value == records[5].value
    assert dead[0].header("dlq_reason") == b"handler-failed"
    assert b"poison pill 5" in (dead[0].header("dlq_error") or b"")
    assert dead[0].header("ce_id") == records[5].header("ce_id")


async def test_malformed_records_are_dead_lettered_with_reason(backend: BackendConfig) -> None:
    topic, dlq = unique("malformed"), unique("dlq")
    good = probe(topic, "g1", 1)
    no_type = Record(topic, b"g1", good.value, tuple(h for h in good.headers if h[0] != "ce_type"))
    unknown = Record(
        topic,
        b"g1",
        good.value,
        tuple((k, b"io.lifeboat.Nope.v1" if k == "ce_type" else v) for k, v in good.headers),
    )
    bad_json = Record(topic, b"g1", b"{not json", good.headers)
    wrong_shape = Record(topic, b"g1", b'{"key": "g1"}', good.headers)
    oversized = Record(topic, b"g1", b"x" * (100 * 1024), good.headers)
    async with started_bus(backend, [topic, dlq]) as bus:
        await bus.publish([no_type, unknown, bad_json, wrong_shape, oversized, good])

        async def one(db) -> bool:  # type: ignore[no-untyped-def]
            return len(await handled_rows(db)) >= 1

        await run_loop_until(bus, backend, topic, dlq, one, "the good record")
        dead = await read_all(bus, dlq, 5)
    reasons = sorted((d.header("dlq_error") or b"").decode() for d in dead)
    assert len(reasons) == 5
    joined = " | ".join(reasons)
    assert "missing header ce_type" in joined
    assert "unknown type 'io.lifeboat.Nope.v1'" in joined
    assert joined.count("bad JSON") == 2
    assert "oversized" in joined
    assert all(d.header("dlq_reason") == b"malformed" for d in dead)

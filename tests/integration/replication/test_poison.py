"""Poison events at a running service, over real Kafka and PostgreSQL: a replicator process gets
records that are not JSON, not CloudEvents, events of a known type with an invalid payload and
an oversized event, between good ticks on the same partition. Every poison record is
dead-lettered with its reason, the good ticks still become consistency points, the process keeps
running and its consumer group's lag comes back to 0."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from cloudsim.testing import running_sites
from lifeboat_shared.bus.records import Record
from lifeboat_shared.cloud import CloudDriver, SiteConfig
from lifeboat_shared.contracts import encode_envelope, new_envelope
from lifeboat_shared.contracts.envelope import DEFAULT_MAX_RECORD_BYTES
from lifeboat_shared.contracts.messages import ReplicationSpec, RpoTickElapsed, SiteRef
from lifeboat_shared.contracts.topics import DEAD_LETTER, POLICY_EVENTS
from tests.integration.replication.harness import (
    SOURCE,
    TARGET,
    fresh_database,
    make_vm,
    receiver_process,
    replicator_env,
)
from tests.integration.replication.test_scale_out import AUTH, Replica
from tests.support.faults import record_fault

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]
GROUP = "lifeboat-replicator"


def _tick(group: str, seq: int, spec: ReplicationSpec) -> Record:
    message = RpoTickElapsed(
        group_id=group,
        project_id="demo",
        tick_seq=seq,
        rpo_seconds=60,
        due_at=datetime.now(UTC),
        spec=spec,
    )
    return encode_envelope(new_envelope(message, source="/tests"))


def _poison(good: Record) -> list[tuple[str, Record]]:
    """Records on the good tick's topic and key that no handler may act on."""
    headers = dict(good.headers)
    payload = json.loads(good.value)
    del payload["spec"]
    padded = dict(json.loads(good.value), padding="x" * (DEFAULT_MAX_RECORD_BYTES + 1024))
    fresh_id = {"ce_id": str(uuid.uuid4()).encode()}

    def variant(value: bytes, **changes: bytes | None) -> Record:
        merged = {**headers, **fresh_id, **changes}
        return Record(
            topic=good.topic,
            key=good.key,
            value=value,
            headers=tuple((k, v) for k, v in merged.items() if v is not None),
        )

    return [
        ("not JSON", variant(b"\x00\xff{ not json")),
        ("not a CloudEvent", variant(good.value, ce_type=None, ce_specversion=None)),
        ("invalid payload", variant(json.dumps(payload).encode())),
        ("oversized", variant(json.dumps(padded).encode())),
        ("unknown event type", variant(good.value, ce_type=b"io.example.nothing.v1")),
    ]


async def _lag(bootstrap: str) -> int:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(GROUP)
        await consumer.topics()  # fetches the cluster's metadata
        parts = [
            TopicPartition(POLICY_EVENTS, p)
            for p in consumer.partitions_for_topic(POLICY_EVENTS) or set()
        ]
        ends = await consumer.end_offsets(parts)
        return sum(
            end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items()
        )
    finally:
        await consumer.stop()
        await admin.close()


async def _dead_letters(bootstrap: str) -> list[dict[str, str]]:
    consumer = AIOKafkaConsumer(
        DEAD_LETTER, bootstrap_servers=bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[dict[str, str]] = []
    try:
        await consumer.topics()
        tps = [
            TopicPartition(DEAD_LETTER, p)
            for p in consumer.partitions_for_topic(DEAD_LETTER) or set()
        ]
        ends = await consumer.end_offsets(tps)
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for r in records:
                    h = {k: v.decode(errors="replace") for k, v in r.headers}
                    if h.get("dlq_group") == GROUP and h.get("dlq_topic") == POLICY_EVENTS:
                        found.append(h)
    finally:
        await consumer.stop()
    return found


async def test_poison_events_are_dead_lettered_and_lag_returns_to_zero(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    database = await fresh_database(postgres_url)
    rx_dir = tmp_path / "rx"
    rx_dir.mkdir()
    with (
        running_sites([SOURCE, TARGET], tmp_path / "sites") as sites,
        receiver_process(rx_dir, sites.clouds_yaml) as (_rx, addr),
    ):
        driver = CloudDriver([SiteConfig(name=SOURCE, cloud=SOURCE, clouds_yaml=sites.clouds_yaml)])
        env = replicator_env(
            kafka=kafka_bootstrap,
            database=database,
            clouds_yaml=sites.clouds_yaml,
            LIFEBOAT_REPLICATOR_LINK_PSK_FILE=str(rx_dir / "link.psk"),
        )
        replica = Replica(0, env, tmp_path)
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, max_request_size=4 << 20)
        try:
            server, _vols = await make_vm(await driver.project(SOURCE), "db", 1)
            spec = ReplicationSpec(
                project_id="demo",
                source=SiteRef(site_id=SOURCE, cloud=SOURCE),
                target=SiteRef(site_id=TARGET, cloud=TARGET, data_endpoint=addr),
                servers=[server],
            )
            group = f"g-{uuid.uuid4().hex[:10]}"
            replica.start()
            await replica.wait_ready()
            lag_before = await _lag(kafka_bootstrap)
            dead_before = len(await _dead_letters(kafka_bootstrap))
            first, second = _tick(group, 1, spec), _tick(group, 2, spec)
            poison = _poison(first)
            await producer.start()
            # good, then every poison kind: one partition, in this order; the second good tick
            # follows once the first one's cycle is done (a tick for a group with an active
            # cycle is coalesced into it), on the same partition, behind the poison
            for record in [first, *(r for _k, r in poison)]:
                await producer.send_and_wait(
                    record.topic, record.value, key=record.key, headers=list(record.headers)
                )
            deadline = time.monotonic() + 120
            cps: list[dict[str, object]] = []
            async with httpx.AsyncClient(base_url=replica.base, headers=AUTH, timeout=10) as c:
                for want in (1, 2):
                    while len(cps) < want:
                        assert time.monotonic() < deadline, f"tick not handled: {replica.tail()}"
                        assert replica.proc is not None and replica.proc.poll() is None
                        got = await c.get("/v1/consistency-points", params={"group_id": group})
                        cps = got.json()
                        await asyncio.sleep(0.2)
                    if want == 1:
                        await producer.send_and_wait(
                            second.topic, second.value, key=second.key, headers=list(second.headers)
                        )
            lag = await _lag(kafka_bootstrap)
            while lag != 0 and time.monotonic() < deadline:  # the commit follows the handling
                await asyncio.sleep(0.2)
                lag = await _lag(kafka_bootstrap)
            dead = (await _dead_letters(kafka_bootstrap))[dead_before:]
            alive = replica.proc is not None and replica.proc.poll() is None
        finally:
            await producer.stop()
            replica.stop()
            await driver.aclose()
    malformed = [d for d in dead if d.get("dlq_reason") == "malformed"]
    record_fault(
        "poison events at a running replicator (5 kinds between good ticks)",
        tried=len(poison),
        survived=len(malformed),
        lost=len(poison) - len(malformed) + (0 if lag == 0 else 1),
        detail=(
            f"{len(dead)} dead-lettered, consumer lag {lag_before} before, {lag} after; "
            f"2 good ticks around them -> {len(cps)} CPs"
        ),
    )
    assert alive, "the replicator exited"
    assert len(cps) == 2, "the ticks around the poison became CPs"
    kinds = sorted(d["dlq_error"] for d in malformed)
    assert len(malformed) == len(poison), kinds
    assert {d["ce_id"] for d in dead} == {dict(r.headers)["ce_id"].decode() for _k, r in poison}
    assert lag == 0

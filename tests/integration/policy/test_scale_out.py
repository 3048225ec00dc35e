"""Two policy processes on one PostgreSQL database and the real Kafka: every group is ticked once
per due time, while both schedulers race for the same units and when one is SIGKILLed.

The RPO is 1 s and no replicator answers, so every group is due again about every second; both
schedulers poll every 20 ms. Each tick a process emits is counted in its own metrics, so the test
knows both really ticked before it kills one. In the shared outbox, a group's ticks must carry
tick_seq 1, 2, 3, ... with no gap or repeat and no due time twice.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from lifeboat_shared.bus.records import Record
from lifeboat_shared.contracts.envelope import decode_record
from lifeboat_shared.contracts.messages import RpoTickElapsed
from lifeboat_shared.persistence.database import Database
from lifeboat_shared.persistence.tables import outbox
from tests.integration.replication.harness import free_port, fresh_database
from tests.support.faults import record_fault
from tests.support.services import ROOT

pytestmark = [pytest.mark.faults, pytest.mark.timeout(180)]
TOKEN = "lifeboat-dev-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
GROUPS = 40
TICKS_METRIC = re.compile(r"^lifeboat_policy_ticks_emitted_total\s+([0-9.e+]+)$", re.M)


def start_policy(tmp: Path, database: str, kafka: str, port: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIFEBOAT_", "OS_"))}
    env.update(
        LIFEBOAT_DATA_DIR=str(tmp),
        LIFEBOAT_BUS="kafka",
        LIFEBOAT_KAFKA_BOOTSTRAP=kafka,
        LIFEBOAT_DATABASE_URL=database,
        LIFEBOAT_TOPIC_PARTITIONS="3",
        LIFEBOAT_JSON_LOGS="false",
        LIFEBOAT_POLICY_HTTP_PORT=str(port),
        LIFEBOAT_POLICY_SCHEDULER_INTERVAL_SECONDS="0.02",
        LIFEBOAT_POLICY_MEMBER_WATCH_INTERVAL_SECONDS="0",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "lifeboat_policy.entrypoints.cli", "serve"],
        cwd=ROOT,
        env=env,
        stdout=open(tmp / f"policy-{port}.log", "ab"),
        stderr=subprocess.STDOUT,
    )


async def wait_up(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    async with httpx.AsyncClient(timeout=2) as client:
        while True:
            assert proc.poll() is None, "policy exited"
            try:
                if (await client.get(f"{base}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "policy did not become ready"
            await asyncio.sleep(0.1)


async def ticks(database: str) -> list[RpoTickElapsed]:
    db = Database(database, schema="policy")
    try:
        async with db.read() as s:
            rows = (await s.execute(sa.select(outbox).order_by(outbox.c.id))).all()
    finally:
        await db.dispose()
    out = []
    for r in rows:
        record = Record(
            topic=r.topic,
            key=r.key,
            value=r.value,
            headers=tuple((k, v.encode()) for k, v in r.headers.items()),
        )
        message = decode_record(record).message
        if isinstance(message, RpoTickElapsed):
            out.append(message)
    return out


async def emitted(client: httpx.AsyncClient, base: str) -> float:
    """Ticks this process emitted (its own counter)."""
    found = TICKS_METRIC.search((await client.get(f"{base}/metrics")).text)
    return float(found.group(1)) if found else 0.0


async def test_two_schedulers_tick_each_group_once_per_due_time(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    began = time.monotonic()
    database = await fresh_database(postgres_url)
    ports = [free_port(), free_port()]
    bases = [f"http://127.0.0.1:{p}" for p in ports]
    procs = [start_policy(tmp_path, database, kafka_bootstrap, p) for p in ports]
    try:
        for base, proc in zip(bases, procs, strict=True):
            await wait_up(base, proc)
        async with httpx.AsyncClient(timeout=30, headers=AUTH) as client:

            async def post(path: str, body: dict[str, object]) -> dict[str, object]:
                r = await client.post(f"{bases[0]}{path}", json=body)
                assert r.status_code in (200, 201, 202), r.text
                return dict(r.json())

            for site_id, role in (("a", "protected"), ("b", "recovery")):
                await post(
                    "/v1/sites",
                    {
                        "site_id": site_id,
                        "cloud": f"cloud-{site_id}",
                        "role": role,
                        "data_endpoint": "127.0.0.1:9001",
                    },
                )
            policy = await post("/v1/policies", {"name": "scale-out", "rpo_seconds": 1})
            for i in range(GROUPS):
                await post(
                    "/v1/protection-groups",
                    {
                        "name": f"so-{i}",
                        "project_id": "p1",
                        "source_site": "a",
                        "target_site": "b",
                        "policy_id": policy["id"],
                        "members": {"servers": [f"srv-{i}"], "volumes": [f"vol-{i}"]},
                    },
                )
            # Both schedulers tick (each counts its own), then one dies at a random moment.
            deadline = time.monotonic() + 60
            while min([await emitted(client, b) for b in bases]) < 10:
                assert time.monotonic() < deadline, "both schedulers did not tick"
                await asyncio.sleep(0.2)
            await asyncio.sleep(random.uniform(0, 1.0))  # where the kill lands, not a verdict
            victim = random.randrange(2)
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait()
            survivor = bases[1 - victim]
            # The survivor alone keeps every group ticking: each gets ticks due after the kill.
            killed_at = datetime.now().astimezone()
            deadline = time.monotonic() + 60
            while True:
                seen = await ticks(database)
                late = {t.group_id for t in seen if t.due_at > killed_at}
                if len(late) == GROUPS:
                    break
                assert procs[1 - victim].poll() is None, "the survivor exited"
                assert time.monotonic() < deadline, f"{len(late)}/{GROUPS} ticked after the kill"
                await asyncio.sleep(0.25)
            assert await emitted(client, survivor) > 0
        by_group: dict[str, list[RpoTickElapsed]] = defaultdict(list)
        for t in seen:
            by_group[t.group_id].append(t)
        repeated_due = sum(
            n - 1
            for group in by_group.values()
            for n in Counter(t.due_at for t in group).values()
            if n > 1
        )
        bad_seq = [
            g
            for g, ts in by_group.items()
            if [t.tick_seq for t in ts] != list(range(1, len(ts) + 1))
        ]
        record_fault(
            "2 policy schedulers, one SIGKILLed",
            tried=1,
            survived=int(not repeated_due and not bad_seq),
            lost=repeated_due + len(bad_seq),
            detail=f"{len(seen)} ticks of {GROUPS} groups; {time.monotonic() - began:.0f} s",
        )
        assert len(by_group) == GROUPS
        assert repeated_due == 0, "a due time ticked twice"
        assert not bad_seq, {g: [t.tick_seq for t in by_group[g]] for g in bad_seq[:3]}
        print(f"2 policy processes: {len(seen)} ticks, {time.monotonic() - began:.1f} s")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

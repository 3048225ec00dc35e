"""Two orchestrator processes on one PostgreSQL database and the real Kafka, over cloudsim: no
double work.

- Two failovers (5 VMs each), one per process (each runs one execution at a time), and one process
  SIGKILLs itself right after a random step commit: the survivor takes the orphaned execution over
  when its lease expires; both complete, every step succeeds exactly once (one ``succeeded``
  progress event per step in the shared outbox) and the recovery site holds exactly one server,
  volume and port per VM for each execution.
- Site probes: every site is probed by one process at a time (each observation names its prober);
  when the prober is SIGKILLed the other process takes its sites over once the leases expire.
- The lease itself, on PostgreSQL: two runners never both claim an execution, and a runner whose
  lease was taken over (it stalled past it) fails the fence its step commits go through.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from cloudsim.testing import SiteSet, running_sites
from lifeboat_orchestrator.adapters.executions import ExecutionRepository
from lifeboat_orchestrator.bootstrap import build
from lifeboat_orchestrator.domain.execution import Execution
from lifeboat_shared.bus.records import Record
from lifeboat_shared.cloud import CloudDriver, SiteConfig
from lifeboat_shared.cloud.tags import META_OP
from lifeboat_shared.contracts.envelope import Envelope, decode_record
from lifeboat_shared.contracts.messages import ExecutionStepProgressed
from lifeboat_shared.contracts.messages.health import SiteHealthObserved
from lifeboat_shared.persistence.database import Database
from lifeboat_shared.persistence.migrations import upgrade_to_head
from lifeboat_shared.persistence.tables import outbox
from tests.integration.orchestrator.harness import (
    AUTH,
    create_plan,
    make_app,
    orchestrator_env,
    plan_body,
    publish_kafka,
    replica_cp,
    site_events,
    start_orchestrator,
    wait_up,
)
from tests.integration.replication.harness import free_port, fresh_database
from tests.support.faults import record_fault

pytestmark = [pytest.mark.faults, pytest.mark.timeout(240)]
A, B = "site-a", "site-b"
VMS = 5


async def outbox_envelopes(database: str) -> list[Envelope]:
    """Everything both processes staged, in outbox order (they share the orchestrator schema)."""
    db = Database(database, schema="orchestrator")
    try:
        async with db.read() as s:
            rows = (await s.execute(sa.select(outbox).order_by(outbox.c.id))).all()
    finally:
        await db.dispose()
    return [
        decode_record(
            Record(
                topic=r.topic,
                key=r.key,
                value=r.value,
                headers=tuple((k, v.encode()) for k, v in r.headers.items()),
            )
        )
        for r in rows
    ]


class Pair:
    """Two orchestrator processes on one database; each kept until the test ends."""

    def __init__(self, tmp: Path, database: str, kafka: str, sites: SiteSet, **extra: str) -> None:
        self.ports = [free_port(), free_port()]
        self.envs = [
            {**orchestrator_env(tmp, database, kafka, sites.clouds_yaml, port), **extra}
            for port in self.ports
        ]
        self.logs = [tmp / f"orchestrator-{i}.log" for i in range(2)]
        self.procs: list[subprocess.Popen[bytes]] = []

    def base(self, i: int) -> str:
        return f"http://127.0.0.1:{self.ports[i]}"

    async def start(self) -> None:
        self.procs = [
            start_orchestrator(env, log) for env, log in zip(self.envs, self.logs, strict=True)
        ]
        for i, proc in enumerate(self.procs):
            await wait_up(self.base(i), proc, timeout=90)

    def stop(self) -> None:
        for p in self.procs:  # every process this test started is stopped, pass or fail
            if p.poll() is None:
                p.kill()
                p.wait()


FAILOVER_STEPS = 12


async def test_two_orchestrators_one_killed_at_a_random_step_boundary(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    began = time.monotonic()
    database = await fresh_database(postgres_url)
    with running_sites([A, B], tmp_path / "sites") as sites:
        driver = CloudDriver(
            [SiteConfig(name=s, cloud=s, clouds_yaml=sites.clouds_yaml) for s in (A, B)]
        )
        pair = Pair(
            tmp_path,
            database,
            kafka_bootstrap,
            sites,
            LIFEBOAT_ORCHESTRATOR_LEASE_SECONDS="3",
            LIFEBOAT_ORCHESTRATOR_MAX_PARALLEL_EXECUTIONS="1",
        )
        # A failover of tiers db (2 VMs) and web (3 VMs) has 12 steps: network, pre and post
        # hooks per tier (4), 5 recover, dns, commit (checked below). The victim dies right after
        # one of its step commits, any of them: its execution is never finished by it. (This
        # said 13: one run in 13 drew a step that never came and the victim finished unkilled.)
        kill_at = random.randint(1, FAILOVER_STEPS)
        pair.envs[0]["LIFEBOAT_ORCHESTRATOR_CHAOS_KILL_AT_STEP"] = str(kill_at)
        try:
            source, dr = await driver.project(A), await driver.project(B)
            apps = [await make_app(source, {"db": 2, "web": 3}, prefix=f"so{i}") for i in (0, 1)]
            cps = [await replica_cp(dr, app, A, B) for app in apps]
            await publish_kafka(kafka_bootstrap, [*site_events(sites), *cps])
            await pair.start()
            async with httpx.AsyncClient(timeout=30) as client:
                plans = []
                for i, app in enumerate(apps):
                    plan = await create_plan(client, pair.base(i), plan_body(app, A, [B], f"so{i}"))
                    deadline = time.monotonic() + 60
                    while True:  # the CP reaches the catalog through Kafka
                        r = await client.post(
                            f"{pair.base(i)}/v1/plans/{plan['id']}/readiness", headers=AUTH
                        )
                        if r.json()["readiness"]["ready"]:
                            break
                        assert time.monotonic() < deadline, r.json()
                        await asyncio.sleep(0.3)
                    plans.append(plan)
                ids = []
                for i, plan in enumerate(plans):  # one through each process: each kicks its runner
                    r = await client.post(
                        f"{pair.base(i)}/v1/plans/{plan['id']}/executions",
                        json={"kind": "failover"},
                        headers=AUTH,
                    )
                    assert r.status_code == 202, r.text
                    ids.append(r.json()["id"])
                survivor = pair.base(1)
                deadline = time.monotonic() + 150
                done: dict[str, dict[str, object]] = {}
                while len(done) < len(ids):
                    assert time.monotonic() < deadline, f"failovers did not finish: {done.keys()}"
                    for eid in ids:
                        if eid not in done:
                            e = (
                                await client.get(f"{survivor}/v1/executions/{eid}", headers=AUTH)
                            ).json()
                            if e["state"] != "running":
                                done[eid] = e
                    await asyncio.sleep(0.2)
            victim = pair.procs[0]
            killed = victim.poll() == -signal.SIGKILL
            envelopes = await outbox_envelopes(database)
            succeeded = Counter(
                (m.execution_id, m.step)
                for m in (env.message for env in envelopes)
                if isinstance(m, ExecutionStepProgressed) and m.status == "succeeded"
            )
            servers = Counter(
                s.metadata.get(META_OP) for s in await dr.compute.list_servers() if s.metadata
            )
            volumes = Counter(
                v.metadata.get(META_OP) for v in await dr.block_storage.list_volumes() if v.metadata
            )
            ports = await dr.network.list_ports()
            duplicates = sum(n - 1 for n in succeeded.values() if n > 1)
            extra = sum(max(0, servers[eid] - VMS) + max(0, volumes[eid] - VMS) for eid in ids)
            record_fault(
                "2 orchestrators, one SIGKILLed at a random step boundary",
                tried=1,
                survived=int(all(e["state"] == "succeeded" for e in done.values())),
                lost=duplicates + extra,
                detail=f"killed after step commit {kill_at}; "
                f"{time.monotonic() - began:.0f} s in all",
            )
            assert killed, f"the victim was not SIGKILLed at step {kill_at}: {victim.poll()}"
            for eid in ids:
                e = done[eid]
                assert e["state"] == "succeeded", e["error"]
                assert e["total"] == FAILOVER_STEPS, e["total"]
                steps = [s["id"] for s in e["steps"]]  # type: ignore[attr-defined]
                # Every step succeeded once: one "succeeded" event each, whoever drove it.
                assert {st: succeeded[(eid, st)] for st in steps} == dict.fromkeys(steps, 1)
                assert servers[eid] == VMS and volumes[eid] == VMS, (servers, volumes)
                mine = [
                    p for p in ports if f"{META_OP}={eid}" in p.tags or eid in (p.description or "")
                ]
                assert len(mine) == VMS
            print(
                f"2 orchestrators, victim killed after its step commit {kill_at}: "
                f"{time.monotonic() - began:.1f} s"
            )
        finally:
            pair.stop()
            await driver.aclose()


async def test_one_prober_per_site_and_takeover(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    names = ["pa", "pb", "pc"]
    began = time.monotonic()
    database = await fresh_database(postgres_url)
    with running_sites(names, tmp_path / "sites") as sites:
        pair = Pair(
            tmp_path,
            database,
            kafka_bootstrap,
            sites,
            LIFEBOAT_ORCHESTRATOR_PROBE_ENABLED="true",
            LIFEBOAT_ORCHESTRATOR_PROBE_INTERVAL_SECONDS="0.5",
            LIFEBOAT_ORCHESTRATOR_PROBE_TIMEOUT_SECONDS="2",
            LIFEBOAT_ORCHESTRATOR_PROBE_LEASE_SECONDS="4",
        )
        owners = {f"{p}": i for i, p in enumerate(pair.ports)}

        async def observations() -> list[tuple[str, str]]:
            """(site, prober port) of every recorded probe, in outbox order."""
            return [
                (env.message.site_id, env.source.rsplit(":", 1)[-1])
                for env in await outbox_envelopes(database)
                if isinstance(env.message, SiteHealthObserved) and "/probers/" in env.source
            ]

        async def until(check: object, what: str, timeout: float = 60) -> list[tuple[str, str]]:
            deadline = time.monotonic() + timeout
            while True:
                seen = await observations()
                if check(seen):  # type: ignore[operator]
                    return seen
                assert time.monotonic() < deadline, f"{what}: {Counter(seen)}"
                await asyncio.sleep(0.25)

        try:
            await pair.start()
            await publish_kafka(kafka_bootstrap, site_events(sites))
            # Both processes run; every site is probed a few times.
            before = await until(
                lambda seen: all(sum(1 for s, _ in seen if s == n) >= 6 for n in names),
                "every site probed",
            )
            by_site: dict[str, list[str]] = defaultdict(list)
            for site, port in before:
                by_site[site].append(port)
            # One prober per site: the sequence of a site's probers never switches while both live.
            assert all(len(set(ports)) == 1 for ports in by_site.values()), dict(by_site)
            victim_port = Counter(p for _, p in before).most_common(1)[0][0]
            victim = pair.procs[owners[victim_port]]
            survivor_port = next(p for p in owners if p != victim_port)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            killed_at, seen_before = time.monotonic(), len(before)
            # The survivor takes over every site the victim probed (once its leases expire).
            after = await until(
                lambda seen: {s for s, p in seen[seen_before:] if p == survivor_port} >= set(names),
                "survivor took every site over",
            )
            takeover = time.monotonic() - killed_at
            late = [p for _, p in after[seen_before:]]
            record_fault(
                "site prober SIGKILLed (2 orchestrators)",
                tried=1,
                survived=1,
                lost=0,
                detail=f"every site taken over in {takeover:.1f} s (lease 4 s)",
            )
            assert set(late) <= {victim_port, survivor_port}
            print(
                f"probe takeover after SIGKILL: {takeover:.1f} s, {time.monotonic() - began:.0f} s"
            )
        finally:
            pair.stop()


async def test_claims_never_overlap_and_a_lost_lease_fails_the_fence(postgres_url: str) -> None:
    db = Database(await fresh_database(postgres_url), schema="orchestrator")
    try:
        await db.ensure_schema()
        spec = build()
        assert spec.migrations is not None
        await upgrade_to_head(db, spec.migrations)
        t0 = datetime.now(UTC)
        ids = [f"e-{i}" for i in range(20)]
        async with db.transaction() as s:
            for eid in ids:
                await ExecutionRepository(s).add(
                    Execution(eid, "plan", "failover", "a", "b", "test", created_at=t0)
                )

        async def claim(owner: str, now: datetime, limit: int = 20) -> list[str]:
            async with db.transaction() as s:
                return await ExecutionRepository(s).claim(
                    owner, now, now + timedelta(seconds=5), limit
                )

        async def hold(owner: str, eid: str, now: datetime) -> bool:
            async with db.transaction() as s:
                return await ExecutionRepository(s).hold(eid, owner, now + timedelta(seconds=5))

        # Four runners claim at once, a few each: every execution is leased once, to one of them.
        got = await asyncio.gather(*(claim(f"r{i}", t0, 6) for i in range(4)))
        leased = [eid for batch in got for eid in batch]
        assert len(leased) == len(set(leased)) and set(leased) <= set(ids)
        rest = await claim("r0", t0)  # ours from before (r0) plus whatever was left
        assert set(rest) == set(ids) - set(leased) | set(got[0])
        victim = got[1][0]
        assert await claim("r9", t0) == []  # nothing is free while the leases last
        assert await hold("r1", victim, t0)
        # r1 stalls past its lease; r9 takes the execution over; r1's next commit is refused.
        later = t0 + timedelta(seconds=6)
        taken = await claim("r9", later)
        assert victim in taken
        assert not await hold("r1", victim, later)
        assert await hold("r9", victim, later)
    finally:
        await db.dispose()

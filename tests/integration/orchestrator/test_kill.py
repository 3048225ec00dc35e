"""SIGKILL the orchestrator at every step boundary of a 50-VM, 3-tier failover, over real Kafka,
PostgreSQL and cloudsim: it completes, with no duplicate servers, volumes or ports, in boot order.

The orchestrator runs with ``chaos_kill_after_step``: it SIGKILLs itself right after committing
each step (killing any parallel steps mid-flight too); the test restarts it every time."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from cloudsim.testing import running_sites
from lifeboat_shared.cloud import CloudDriver, SiteConfig
from lifeboat_shared.cloud.tags import META_OP
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

pytestmark = pytest.mark.timeout(900)
A, B = "site-a", "site-b"


async def test_sigkill_at_every_step_boundary(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    database = await fresh_database(postgres_url)
    with running_sites([A, B], tmp_path / "sites") as sites:
        driver = CloudDriver(
            [SiteConfig(name=s, cloud=s, clouds_yaml=sites.clouds_yaml) for s in (A, B)]
        )
        try:
            app = await make_app(await driver.project(A), {"db": 10, "app": 20, "web": 20})
            cp = await replica_cp(await driver.project(B), app, A, B)
            await publish_kafka(kafka_bootstrap, [*site_events(sites), cp])
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            env = orchestrator_env(
                tmp_path,
                database,
                kafka_bootstrap,
                sites.clouds_yaml,
                port,
                LIFEBOAT_ORCHESTRATOR_LEASE_SECONDS="5",
            )
            log = tmp_path / "orchestrator.log"
            calm = start_orchestrator(env, log)  # set up the plan without chaos
            try:
                await wait_up(base, calm)
                async with httpx.AsyncClient(timeout=30) as client:
                    plan = await create_plan(client, base, plan_body(app, A, [B], "kill"))
                    deadline = time.monotonic() + 60
                    while True:  # the CP reaches the catalog through Kafka
                        r = await client.post(
                            f"{base}/v1/plans/{plan['id']}/readiness", headers=AUTH
                        )
                        if r.json()["readiness"]["ready"]:
                            break
                        assert time.monotonic() < deadline, r.json()
                        await asyncio.sleep(0.3)
            finally:
                calm.kill()
                calm.wait()
            env["LIFEBOAT_ORCHESTRATOR_CHAOS_KILL_AFTER_STEP"] = "true"
            kills = 0
            proc = start_orchestrator(env, log)
            procs = [proc]
            try:
                await wait_up(base, proc)
                async with httpx.AsyncClient(timeout=30) as client:
                    r = await client.post(
                        f"{base}/v1/plans/{plan['id']}/executions",
                        json={"kind": "failover"},
                        headers={**AUTH, "Idempotency-Key": "kill-test"},
                    )
                    assert r.status_code == 202, r.text
                    execution_id = r.json()["id"]
                    deadline = time.monotonic() + 600
                    state = "running"
                    while state == "running":
                        assert time.monotonic() < deadline, "failover did not finish"
                        if proc.poll() is not None:
                            kills += 1
                            proc = start_orchestrator(env, log)  # it may die before answering
                            procs.append(proc)
                        try:
                            e = (
                                await client.get(
                                    f"{base}/v1/executions/{execution_id}", headers=AUTH
                                )
                            ).json()
                            state = e["state"]
                        except httpx.HTTPError:
                            pass  # killed mid-request
                        await asyncio.sleep(0.1)
            finally:
                for p in procs:  # every process this test started is stopped, pass or fail
                    if p.poll() is None:
                        p.kill()
                        p.wait()
            assert state == "succeeded", e["error"]
            total = e["total"]
            assert kills >= total // 2, (kills, total)  # killed at (nearly) every boundary
            steps = {s["id"]: s for s in e["steps"]}
            # Boot order: every tier started after the previous tier's servers were ACTIVE.
            ends = {
                t: max(datetime.fromisoformat(steps[f"recover:{s}"]["finished_at"]) for s in ss)
                for t, ss in app.tiers.items()
            }
            starts = {
                t: min(datetime.fromisoformat(steps[f"recover:{s}"]["started_at"]) for s in ss)
                for t, ss in app.tiers.items()
            }
            assert ends["db"] <= starts["app"] and ends["app"] <= starts["web"]
            dr = await driver.project(B)
            servers = [
                s
                for s in await dr.compute.list_servers()
                if s.metadata.get(META_OP) == execution_id
            ]
            volumes = [
                v
                for v in await dr.block_storage.list_volumes()
                if v.metadata.get(META_OP) == execution_id
            ]
            ports = [
                p
                for p in await dr.network.list_ports()
                if f"{META_OP}={execution_id}" in p.tags or execution_id in (p.description or "")
            ]
            assert len(servers) == 50, Counter(s.name for s in servers).most_common(3)
            assert len(volumes) == 50 and len(ports) == 50
            assert len({s.name for s in servers}) == 50
            assert all(s.status == "ACTIVE" for s in servers)
            print(f"failover of 50 VMs: {total} steps, {kills} SIGKILLs")
        finally:
            await driver.aclose()

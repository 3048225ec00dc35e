"""The Kafka broker, then PostgreSQL, restarted in the middle of a 10-VM failover run by an
orchestrator process over cloudsim; each test has a broker and a database of its own.

Once the execution has committed a few steps (a condition, not a time) the server is restarted
(same port, same data). The failover must complete with every step succeeded exactly once (one
``succeeded`` progress event per step in the outbox), exactly one server, volume and port per VM
at the recovery site, and 0 acknowledged events lost: every event the outbox relay marked sent
is on its topic afterwards, read from the beginning by a plain consumer.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest

from cloudsim.testing import running_sites
from lifeboat_shared.cloud import CloudDriver, SiteConfig
from lifeboat_shared.cloud.tags import META_OP
from lifeboat_shared.contracts.messages import ExecutionStepProgressed
from tests.integration.orchestrator.harness import (
    AUTH,
    create_plan,
    make_app,
    orchestrator_process,
    plan_body,
    publish_kafka,
    replica_cp,
    site_events,
    wait_up,
)
from tests.integration.orchestrator.harness import orchestrator_env as base_env
from tests.integration.orchestrator.test_scale_out import outbox_envelopes
from tests.integration.replication.harness import free_port
from tests.support.faults import record_fault
from tests.support.restartable import (
    LocalServer,
    outbox_ids,
    own_kafka,
    own_postgres,
    topic_event_ids,
)

pytestmark = [pytest.mark.faults, pytest.mark.timeout(300)]
A, B = "site-a", "site-b"
TIERS = {"db": 4, "web": 6}
VMS = sum(TIERS.values())
RESTART_AFTER_STEPS = 3
STALL_SECONDS = 90  # fail only when no step has committed for this long


async def _execution(client: httpx.AsyncClient, base: str, eid: str) -> dict[str, Any] | None:
    """The execution, or None while the orchestrator cannot answer (its database restarting)."""
    try:
        r = await client.get(f"{base}/v1/executions/{eid}", headers=AUTH)
    except httpx.HTTPError:
        return None
    return dict(r.json()) if r.status_code == 200 else None


def _succeeded(e: dict[str, Any]) -> int:
    return sum(1 for s in e["steps"] if s["state"] == "succeeded")


async def _until_done(client: httpx.AsyncClient, base: str, eid: str, log: Path) -> dict[str, Any]:
    """Wait for the end of the execution; the deadline moves with every committed step."""
    last, progress_at = -1, time.monotonic()
    while True:
        e = await _execution(client, base, eid)
        if e is not None:
            if e["state"] != "running":
                return e
            if _succeeded(e) != last:
                last, progress_at = _succeeded(e), time.monotonic()
        assert time.monotonic() - progress_at < STALL_SECONDS, (
            f"no step committed for {STALL_SECONDS} s ({last} done):\n"
            + log.read_text(errors="replace")[-4000:]  # noqa: ASYNC240 (a failure message)
        )
        await asyncio.sleep(0.2)


async def _outbox_drained(database: str, log: Path) -> tuple[dict[str, str], set[str]]:
    """Wait until the relay has marked every staged event sent (moves with its progress)."""
    last, progress_at = -1, time.monotonic()
    while True:
        sent, unsent = await outbox_ids(database, "orchestrator")
        if not unsent:
            return sent, unsent
        if len(sent) != last:
            last, progress_at = len(sent), time.monotonic()
        if time.monotonic() - progress_at > STALL_SECONDS:
            return sent, unsent  # reported and asserted by the caller
        await asyncio.sleep(0.2)


async def _failover_with_restart(tmp: Path, restart: Literal["kafka", "postgres"]) -> None:
    began = time.monotonic()
    with (
        own_kafka(tmp) as kafka,
        own_postgres() as pg,
        running_sites([A, B], tmp / "sites") as sites,
    ):
        victim: LocalServer = kafka if restart == "kafka" else pg
        driver = CloudDriver(
            [SiteConfig(name=s, cloud=s, clouds_yaml=sites.clouds_yaml) for s in (A, B)]
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        log = tmp / "orchestrator.log"
        env = base_env(tmp, pg.address, kafka.address, sites.clouds_yaml, port)
        try:
            source, dr = await driver.project(A), await driver.project(B)
            app = await make_app(source, TIERS, prefix=f"rs-{restart}")
            cp = await replica_cp(dr, app, A, B)
            await publish_kafka(kafka.address, [*site_events(sites), cp])
            with orchestrator_process(env, log) as proc:
                await wait_up(base, proc, timeout=90)
                async with httpx.AsyncClient(timeout=30) as client:
                    plan = await create_plan(client, base, plan_body(app, A, [B], "restarts"))
                    deadline = time.monotonic() + 60
                    while True:  # the CP reaches the catalog through Kafka
                        r = await client.post(
                            f"{base}/v1/plans/{plan['id']}/readiness", headers=AUTH
                        )
                        if r.json()["readiness"]["ready"]:
                            break
                        assert time.monotonic() < deadline, r.json()
                        await asyncio.sleep(0.3)
                    r = await client.post(
                        f"{base}/v1/plans/{plan['id']}/executions",
                        json={"kind": "failover"},
                        headers=AUTH,
                    )
                    assert r.status_code == 202, r.text
                    eid = r.json()["id"]
                    # The restart comes once a few steps are committed and the rest are not.
                    deadline = time.monotonic() + 120
                    while True:
                        before = await _execution(client, base, eid)
                        assert before is not None
                        if _succeeded(before) >= RESTART_AFTER_STEPS:
                            break
                        assert before["state"] == "running", before["error"]
                        assert time.monotonic() < deadline, "no step committed in 120 s"
                        await asyncio.sleep(0.05)
                    restart_began = datetime.now().astimezone()
                    took = await victim.restart()
                    after = await _until_done(client, base, eid, log)
                    assert proc.poll() is None, "the orchestrator exited"
                    sent, unsent = await _outbox_drained(pg.address, log)
            on_topic = await topic_event_ids(kafka.address, set(sent.values()))
            envelopes = await outbox_envelopes(pg.address)
            servers = Counter(
                s.metadata.get(META_OP) for s in await dr.compute.list_servers() if s.metadata
            )
            volumes = Counter(
                v.metadata.get(META_OP) for v in await dr.block_storage.list_volumes() if v.metadata
            )
            ports = [
                p
                for p in await dr.network.list_ports()
                if f"{META_OP}={eid}" in p.tags or eid in (p.description or "")
            ]
        finally:
            await driver.aclose()
    succeeded = Counter(
        m.step
        for m in (env.message for env in envelopes)
        if isinstance(m, ExecutionStepProgressed)
        and m.execution_id == eid
        and m.status == "succeeded"
    )
    steps = [s["id"] for s in after["steps"]]
    lost = sorted(set(sent) - on_topic)
    after_restart = [
        s["id"]
        for s in after["steps"]
        if s["finished_at"] and datetime.fromisoformat(s["finished_at"]) > restart_began
    ]
    total = time.monotonic() - began
    ok = (
        after["state"] == "succeeded"
        and all(succeeded[s] == 1 for s in steps)
        and servers[eid] == volumes[eid] == len(ports) == VMS
        and not unsent
    )
    record_fault(
        f"Kafka broker restarted mid-failover ({VMS} VMs)"
        if restart == "kafka"
        else f"PostgreSQL restarted mid-failover ({VMS} VMs)",
        tried=1,
        survived=int(ok),
        lost=len(lost),
        detail=f"restart after {_succeeded(before)}/{len(steps)} steps took {took:.1f} s; "
        f"{len(after_restart)} steps committed after it began; {len(sent)} events acknowledged, "
        f"{len(lost)} missing from the topic; {total:.0f} s in all",
    )
    # The restart came mid-failover: steps were left, and some committed after it began.
    assert _succeeded(before) < len(steps), before
    assert after_restart, "no step committed after the restart: it did not come mid-failover"
    assert after["state"] == "succeeded", after["error"]
    # Every step succeeded once: a step re-run after the restart would stage a second event.
    assert {s: succeeded[s] for s in steps} == dict.fromkeys(steps, 1), succeeded
    # One server, volume and port per VM: a step re-run that did not find what it made would
    # make a second one.
    assert servers[eid] == VMS and volumes[eid] == VMS, (servers, volumes)
    assert len(ports) == VMS, [p.name for p in ports]
    # The relay published everything, and nothing it marked sent is missing from Kafka.
    assert not unsent, f"{len(unsent)} events never published"
    assert not lost, f"{len(lost)} acknowledged events are not on the topic: {lost[:5]}"
    print(
        f"{restart} restart mid-failover after {_succeeded(before)}/{len(steps)} steps: restart "
        f"{took:.1f} s, {len(after_restart)} steps after it began, {total:.1f} s in all"
    )


async def test_kafka_broker_restarted_mid_failover(tmp_path: Path) -> None:
    await _failover_with_restart(tmp_path, "kafka")


async def test_postgres_restarted_mid_failover(tmp_path: Path) -> None:
    await _failover_with_restart(tmp_path, "postgres")

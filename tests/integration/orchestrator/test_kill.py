"""SIGKILL the orchestrator at every step boundary of a 50-VM, 3-tier failover, over real Kafka,
PostgreSQL and cloudsim: it completes, with no duplicate servers, volumes or ports, in boot order.

The orchestrator runs with ``chaos_kill_after_step``: it SIGKILLs itself right after committing
each step (killing any parallel steps mid-flight too); the test restarts it every time, with a
new process that did its Python imports beforehand (standby.py), so sixty restarts fit in minutes.

What "every step boundary" means here, and is asserted: a boundary is a step's commit. Each
process lifetime (from one start to the next) that committed a step ended in a SIGKILL, and every
death was such a kill (so kills == restarts and each kill follows a commit). Parallel steps whose
commits were in flight together may share one kill, but no step commits in the same lifetime as a
step it depends on (directly or not): between a step and anything after it there is always a
kill. The last process commits nothing: it only finishes the execution.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
from tests.support.faults import record_fault
from tests.support.services import ROOT

# No fixed total: the failover may take as long as it keeps committing steps (a loaded machine
# restarts a process in tens of seconds); it fails when no step has committed for STALL seconds.
STALL = 180.0
pytestmark = [pytest.mark.faults, pytest.mark.timeout(3600)]
A, B = "site-a", "site-b"


def _standby(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """An orchestrator process with its imports done, waiting for `_go` (see standby.py)."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.orchestrator.standby"],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
    )


def _go(proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    assert proc.stdin is not None and proc.poll() is None, "the standby orchestrator died"
    proc.stdin.write(b"go\n")
    proc.stdin.close()
    return proc


def _ancestors(steps: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    """Every step a step depends on, directly or through others."""
    memo: dict[str, set[str]] = {}

    def of(sid: str) -> set[str]:
        if sid not in memo:
            memo[sid] = set()
            for dep in steps[sid]["depends_on"]:
                memo[sid] |= {dep} | of(dep)
        return memo[sid]

    return {sid: of(sid) for sid in steps}


def _lifetimes(steps: dict[str, dict[str, Any]], starts: list[datetime]) -> list[list[str]]:
    """The steps each process committed: process i ran from starts[i] until it died, and the
    next one was started only after that, so a commit stamped in [starts[i], starts[i + 1])
    was made by process i (finished_at is stamped just before the commit, in the process)."""
    committed: list[list[str]] = [[] for _ in starts]
    for sid, step in steps.items():
        at = datetime.fromisoformat(step["finished_at"])
        assert at >= starts[0], (sid, at, starts[0])
        i = max(k for k, t in enumerate(starts) if t <= at)
        committed[i].append(sid)
    return committed


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
                # Two recoveries at a time per site: a kill still lands on a sibling mid-flight,
                # while each lifetime is not spent re-running sixteen of them on two cores.
                LIFEBOAT_ORCHESTRATOR_SITE_API_CONCURRENCY="2",
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
            started = time.monotonic()
            starts = [datetime.now(UTC)]
            proc = start_orchestrator(env, log)
            procs = [proc]
            # the next ones, importing while this one works (two: on a loaded machine an import
            # takes longer than a lifetime)
            spares = [_standby(env, log), _standby(env, log)]
            e: dict[str, Any] = {}
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
                    state, done = "running", -1
                    progress_at = time.monotonic()
                    while state == "running":
                        stalled = time.monotonic() - progress_at
                        assert stalled < STALL, (
                            f"no step committed for {STALL:.0f} s (done {done}, "
                            f"{len(procs) - 1} kills)"
                        )
                        if proc.poll() is not None:  # a kill: a step was committed
                            progress_at = time.monotonic()
                            starts.append(datetime.now(UTC))
                            proc = _go(spares.pop(0))  # it may die before answering
                            procs.append(proc)
                            spares.append(_standby(env, log))
                        try:
                            e = (
                                await client.get(
                                    f"{base}/v1/executions/{execution_id}", headers=AUTH
                                )
                            ).json()
                            state = e["state"]
                            if e["done"] > done:
                                progress_at, done = time.monotonic(), e["done"]
                        except httpx.HTTPError:
                            pass  # killed mid-request
                        await asyncio.sleep(0.05)
                    last_alive = proc.poll() is None
            finally:
                for p in [*procs, *spares]:  # every process this test started is stopped
                    if p.poll() is None:
                        p.kill()
                        p.wait()
            elapsed = time.monotonic() - started
            kills = len(procs) - 1
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
            wrong = (  # VMs missing or made twice
                abs(len(servers) - 50)
                + abs(len(volumes) - 50)
                + abs(len(ports) - 50)
                + (50 - len({s.name for s in servers if s.status == "ACTIVE"}))
            )
            record_fault(
                "orchestrator SIGKILL at every step boundary (50-VM failover)",
                tried=kills,
                survived=kills if state == "succeeded" and wrong == 0 else 0,
                lost=wrong,
                detail=f"{e.get('total')} steps, {kills} kills, {elapsed:.0f} s",
            )
            assert state == "succeeded", e["error"]
            steps = {s["id"]: s for s in e["steps"]}
            assert len(steps) == e["total"]
            assert all(s["state"] == "succeeded" for s in steps.values())
            committed = _lifetimes(steps, starts)
            shared = sum(1 for c in committed if len(c) > 1)
            print(
                f"failover of 50 VMs: {len(steps)} steps, {kills} SIGKILLs, {shared} shared by "
                f"parallel steps, {elapsed:.0f} s"
            )
            # Every boundary: each death was a chaos kill, each kill followed a commit of its
            # process, every commit was followed by its process's kill, and no step committed in
            # the same lifetime as a step it depends on.
            codes = [p.returncode for p in procs[:-1]]
            assert codes == [-signal.SIGKILL] * kills, codes
            assert last_alive, "the process that finished the failover died"
            assert committed[-1] == [], f"committed without a kill after: {committed[-1]}"
            idle = [i for i, c in enumerate(committed[:-1]) if not c]
            assert not idle, f"killed without a commit: lifetimes {idle} of {kills}"
            ancestors = _ancestors(steps)
            for c in committed:
                ordered = [(a, b) for a in c for b in c if a in ancestors[b]]
                assert not ordered, f"no kill between {ordered[0][0]} and {ordered[0][1]}"
            # Boot order: every tier started after the previous tier's servers were ACTIVE.
            ends = {
                t: max(datetime.fromisoformat(steps[f"recover:{s}"]["finished_at"]) for s in ss)
                for t, ss in app.tiers.items()
            }
            starts_at = {
                t: min(datetime.fromisoformat(steps[f"recover:{s}"]["started_at"]) for s in ss)
                for t, ss in app.tiers.items()
            }
            assert ends["db"] <= starts_at["app"] and ends["app"] <= starts_at["web"]
            # no duplicate or missing servers, volumes or ports
            assert len(servers) == 50, Counter(s.name for s in servers).most_common(3)
            assert len(volumes) == 50 and len(ports) == 50
            assert len({s.name for s in servers}) == 50
            assert all(s.status == "ACTIVE" for s in servers)
        finally:
            await driver.aclose()

"""Three replicator processes on one PostgreSQL database and one Kafka topic, as the Helm chart
deploys them, with one of them SIGKILLed at a random point of every round and started again:
every cycle is committed exactly once, by one replicator; nothing is sent twice; no cloud
resource is duplicated or left behind."""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from cloudsim.testing import running_sites
from lifeboat_replicator.datamover.blocks import DEFAULT_CHUNK
from lifeboat_shared.bus.factory import make_bus
from lifeboat_shared.cloud import CloudDriver, SiteConfig
from lifeboat_shared.contracts import encode_envelope, new_envelope
from lifeboat_shared.contracts.messages import ReplicationSpec, RpoTickElapsed, SiteRef
from lifeboat_shared.settings import LifeboatSettings
from tests.integration.replication.harness import (
    SOURCE,
    TARGET,
    CountingProxy,
    free_port,
    fresh_database,
    make_vm,
    receiver_process,
    replicator_env,
    write_random,
)
from tests.integration.replication.test_protection import _digest
from tests.support.faults import record_fault
from tests.support.services import ROOT

pytestmark = [pytest.mark.faults, pytest.mark.kafka, pytest.mark.postgres]

REPLICAS = 3
GROUPS = 6
ROUNDS = 3
MIB_PER_ROUND = 6
AUTH = {"Authorization": "Bearer lifeboat-dev-token"}
COMMIT_LINE = re.compile(r"consistency point from cycle (\S+)")


class Replica:
    """One replicator process (its own data dir and port, as on its own host)."""

    def __init__(self, index: int, base_env: dict[str, str], root: Path) -> None:
        self.index = index
        self.port = free_port()
        self.data_dir = root / f"replicator-{index}"
        self.data_dir.mkdir()
        self.log = self.data_dir / "replicator.log"
        self.env = dict(base_env)
        self.env.update(
            LIFEBOAT_DATA_DIR=str(self.data_dir),
            LIFEBOAT_REPLICATOR_HTTP_PORT=str(self.port),
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.kills = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lifeboat_replicator.entrypoints.cli", "serve"],
            cwd=ROOT,
            env=self.env,
            stdout=open(self.log, "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.kills += 1

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, self.tail()
            try:
                async with httpx.AsyncClient(timeout=2) as c:
                    if (await c.get(f"{self.base}/readyz")).status_code == 200:
                        return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
        raise AssertionError(f"replicator {self.index} did not become ready: {self.tail()}")

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def committed(self) -> list[str]:
        return COMMIT_LINE.findall(self.log.read_text(errors="replace"))


def _logs(replicas: list[Replica], why: str) -> str:
    return why + "".join(f"\n--- replicator {r.index}\n{r.tail()}" for r in replicas)


async def _get(replica: Replica, path: str, **params: str) -> list[dict[str, object]]:
    async with httpx.AsyncClient(timeout=10, headers=AUTH) as c:
        r = await c.get(f"{replica.base}{path}", params=params)
        r.raise_for_status()
        return list(r.json())


async def test_three_replicators_one_killed_every_round(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    rng = random.Random(os.environ.get("LIFEBOAT_FAULT_SEED", str(time.time_ns())))
    database = await fresh_database(postgres_url)
    rx_dir = tmp_path / "rx"
    rx_dir.mkdir()
    replicas: list[Replica] = []
    with (
        running_sites([SOURCE, TARGET], tmp_path / "sites") as sites,
        receiver_process(rx_dir, sites.clouds_yaml) as (_rx, addr),
    ):
        host, _, port = addr.rpartition(":")
        proxy = CountingProxy((host, int(port)))
        driver = CloudDriver(
            [
                SiteConfig(name=SOURCE, cloud=SOURCE, clouds_yaml=sites.clouds_yaml),
                SiteConfig(name=TARGET, cloud=TARGET, clouds_yaml=sites.clouds_yaml),
            ]
        )
        env = replicator_env(
            kafka=kafka_bootstrap,
            database=database,
            clouds_yaml=sites.clouds_yaml,
            # the link key the receiver created: every replica holds the same one
            LIFEBOAT_REPLICATOR_LINK_PSK_FILE=str(rx_dir / "link.psk"),
            # each replicator drives 2 of a round's 6 cycles at most: the others take the rest
            # (without a bound one replicator claimed all six, and a round whose victim held
            # none tested no takeover)
            LIFEBOAT_REPLICATOR_MAX_CONCURRENT_CYCLES="2",
        )
        bus = make_bus(
            LifeboatSettings(bus="kafka", kafka_bootstrap=kafka_bootstrap), client_id="t"
        )
        try:
            source = await driver.project(SOURCE)
            groups: dict[str, tuple[ReplicationSpec, list[str]]] = {}
            for i in range(GROUPS):
                server, vols = await make_vm(source, f"app{i}", 1)
                groups[f"g-{uuid.uuid4().hex[:10]}"] = (
                    ReplicationSpec(
                        project_id="demo",
                        source=SiteRef(site_id=SOURCE, cloud=SOURCE),
                        target=SiteRef(site_id=TARGET, cloud=TARGET, data_endpoint=proxy.endpoint),
                        servers=[server],
                        bandwidth_bytes_per_s=3 * 1024 * 1024,
                    ),
                    vols,
                )
            for i in range(REPLICAS):
                replicas.append(Replica(i, env, tmp_path))
                replicas[-1].start()
            for r in replicas:
                await r.wait_ready()
            await bus.start()
            with sites.sites[SOURCE].admin() as admin:
                paths = {
                    v: admin.get(f"/volumes/{v}").json()["path"]
                    for _spec, vols in groups.values()
                    for v in vols
                }
            kill_points: list[float] = []
            for round_no in range(1, ROUNDS + 1):
                for path in paths.values():
                    write_random(path, MIB_PER_ROUND, offset_mib=(round_no - 1) * 2 * MIB_PER_ROUND)
                before = proxy.bytes_up
                await bus.publish(
                    [
                        encode_envelope(
                            new_envelope(
                                RpoTickElapsed(
                                    group_id=group,
                                    project_id="demo",
                                    tick_seq=round_no,
                                    rpo_seconds=60,
                                    due_at=datetime.now(UTC),
                                    spec=spec,
                                ),
                                source="/tests",
                            )
                        )
                        for group, (spec, _vols) in groups.items()
                    ]
                )
                # a random point of the round's transfers, found by bytes on the wire, not time
                fraction = rng.uniform(0.1, 0.8)
                kill_points.append(round(fraction, 2))
                threshold = before + fraction * len(paths) * MIB_PER_ROUND * 1024 * 1024
                victim = rng.choice(replicas)
                last_progress, seen = time.monotonic(), proxy.bytes_up
                while proxy.bytes_up < threshold:
                    if proxy.bytes_up != seen:
                        last_progress, seen = time.monotonic(), proxy.bytes_up
                    assert time.monotonic() - last_progress < 60, _logs(
                        replicas, "no bytes for 60 s"
                    )
                    await asyncio.sleep(0.02)
                victim.kill()
                victim.start()
                await victim.wait_ready()
                # every group reaches this round's CP; the deadline moves with progress
                done: dict[str, int] = {}
                last_progress = time.monotonic()
                while len([g for g in groups if done.get(g, 0) >= round_no]) < GROUPS:
                    for group in groups:
                        count = len(
                            await _get(replicas[0], "/v1/consistency-points", group_id=group)
                        )
                        if count != done.get(group):
                            last_progress = time.monotonic()
                        done[group] = count
                    if time.monotonic() - last_progress > 90:
                        cycles = {
                            g: await _get(replicas[0], "/v1/replication-cycles", group_id=g)
                            for g in groups
                        }
                        raise AssertionError(_logs(replicas, f"round {round_no} stalled: {cycles}"))
                    await asyncio.sleep(0.2)

            # settle: wait until no cycle is active any more (a positive signal, not a time)
            deadline = time.monotonic() + 60
            while True:
                cycles_by_group = {
                    g: await _get(replicas[0], "/v1/replication-cycles", group_id=g) for g in groups
                }
                if all(
                    c["status"] in ("succeeded", "failed", "skipped")
                    for cs in cycles_by_group.values()
                    for c in cs
                ):
                    break
                assert time.monotonic() < deadline, cycles_by_group
                await asyncio.sleep(0.2)
            cps_by_group = {
                g: await _get(replicas[0], "/v1/consistency-points", group_id=g) for g in groups
            }
            target = await driver.project(TARGET)
            dr_volumes = await target.block_storage.list_volumes()
            dr_snapshots = await target.block_storage.list_snapshots()
            src_volumes = await source.block_storage.list_volumes()
            src_snapshots = await source.block_storage.list_snapshots()
            # every replica snapshot holds its source snapshot's bytes, whoever drove the cycle
            mismatched = []
            with sites.sites[SOURCE].admin() as src, sites.sites[TARGET].admin() as dr:
                for cps in cps_by_group.values():
                    for cp in cps:
                        for m in cp["members"]:  # type: ignore[attr-defined]
                            a = src.get(f"/snapshots/{m['source_snapshot_id']}").json()["path"]
                            b = dr.get(f"/snapshots/{m['replica_snapshot_id']}").json()["path"]
                            if _digest(a) != _digest(b):
                                mismatched.append(m["replica_snapshot_id"])
        finally:
            for r in replicas:
                r.stop()
            await bus.stop()
            await driver.aclose()
            proxy.close()

    total = GROUPS * ROUNDS
    all_cycles = [c for cs in cycles_by_group.values() for c in cs]
    commits = [cycle for r in replicas for cycle in r.committed()]
    committers = {r.index for r in replicas if r.committed()}
    # What the rounds wrote (a CP's own bytes_changed is what its last sender planned, which
    # is less when a volume was complete at the receiver before the kill; not a measure here).
    written = total * MIB_PER_ROUND * 1024 * 1024
    duplicates = len(commits) - len(set(commits))
    record_fault(
        f"{REPLICAS} replicators on Kafka + PostgreSQL, one SIGKILLed per round",
        tried=total,
        survived=len([c for c in all_cycles if c["status"] == "succeeded"]) - duplicates,
        lost=total - len({c for c in commits}),
        detail=(
            f"{ROUNDS} kills at {kill_points} of a round's bytes; {len(commits)} commits by "
            f"{len(committers)} replicators; wire {proxy.bytes_up / written:.3f}x written"
        ),
    )
    logs = _logs(replicas, "commits do not match cycles")
    assert len(all_cycles) == total, all_cycles
    assert all(c["status"] == "succeeded" for c in all_cycles), all_cycles
    assert all(len(cps) == ROUNDS for cps in cps_by_group.values()), cps_by_group
    # each cycle committed exactly once, by one replicator, and the work was shared
    assert sorted(commits) == sorted(str(c["id"]) for c in all_cycles), logs
    assert len(committers) >= 2, f"only replicator(s) {committers} committed: no contention"
    # nothing sent twice: a killed replicator's transfers resume from the receiver's last
    # acknowledged chunk, so each of its transfers in flight re-sends at most one chunk
    # (frames, zstd of random data and AES-GCM add well under 2%)
    resend_bound = ROUNDS * GROUPS * DEFAULT_CHUNK
    assert written <= proxy.bytes_up <= 1.02 * written + resend_bound, (proxy.bytes_up, written)
    assert not mismatched, f"replica snapshots that differ from their source: {mismatched}"
    # no duplicate or leftover cloud resources
    assert len(dr_volumes) == GROUPS, [v.name for v in dr_volumes]
    assert len(src_volumes) == GROUPS, "temporary read volumes all cleaned up"
    assert len(dr_snapshots) == total, [s.name for s in dr_snapshots]
    assert len(src_snapshots) == total, [s.name for s in src_snapshots]

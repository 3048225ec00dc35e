"""What the orchestrator tests need: cloudsim sites, an application of many VMs at site-a (one
volume and one fixed-IP port each), replica snapshots at the recovery sites and the events a
replicator and a policy service would publish (played here on the real bus), and an orchestrator
run as its own process (so it can be SIGKILLed) or in-process."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from cloudsim.testing import SiteSet, running_sites
from lifeboat_shared.bus.factory import make_bus
from lifeboat_shared.cloud import CloudDriver, CloudProject, SiteConfig
from lifeboat_shared.contracts import encode_envelope, new_envelope, topics
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.messages import (
    ConsistencyPointCreated,
    CpMember,
    SiteRef,
    SiteRegistered,
)
from lifeboat_shared.settings import LifeboatSettings
from tests.support.services import ROOT

TOKEN = "lifeboat-dev-token"
_ADDRESSES = itertools.count()  # unique fixed IPs across the apps of one session
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class App:
    tiers: dict[str, list[str]]
    volumes: dict[str, str]  # volume -> server
    group: str = field(default_factory=lambda: f"g-{uuid.uuid4().hex[:10]}")

    @property
    def servers(self) -> list[str]:
        return [s for t in self.tiers.values() for s in t]


async def make_app(project: CloudProject, tiers: dict[str, int], prefix: str = "app") -> App:
    """VMs per tier, each with one 1 GiB boot volume and one port with a fixed IP on `private`."""
    flavor = (await project.compute.list_flavors())[0]
    net = next(n for n in await project.network.list_networks() if n.name == "private")
    subnet = (await project.network.list_subnets(network_id=net.id))[0]
    base = subnet.cidr.rsplit(".", 2)[0]
    sem = asyncio.Semaphore(8)
    out: dict[str, list[str]] = {}
    volumes: dict[str, str] = {}
    counter = _ADDRESSES

    async def one(tier: str) -> str:
        n = next(counter)
        async with sem:
            vol = await project.block_storage.create_volume(
                1, name=f"{prefix}-{tier}-{n}", bootable=True
            )
            port = await project.network.create_port(
                net.id,
                name=f"{prefix}-{tier}-{n}",
                fixed_ips=[(subnet.id, f"{base}.{20 + n // 200 % 200}.{n % 200 + 10}")],
            )
            server = await project.compute.create_server(
                f"{prefix}-{tier}-{n}",
                flavor.id or flavor.name,
                boot_volume_id=vol.id,
                port_ids=[port.id],
            )
            volumes[vol.id] = server.id
            return server.id

    for tier, count in tiers.items():
        out[tier] = list(await asyncio.gather(*(one(tier) for _ in range(count))))
    return App(out, volumes)


async def replica_cp(
    dr: CloudProject, app: App, source: str, target: str, *, taken_at: datetime | None = None
) -> ConsistencyPointCreated:
    """Play the replicator: a replica volume and snapshot per protected volume at `target`."""
    sem = asyncio.Semaphore(8)

    async def one(vol: str, server: str) -> CpMember:
        async with sem:
            replica = await dr.block_storage.create_volume(1, name=f"replica-{vol[:8]}")
            snap = await dr.block_storage.create_snapshot(replica.id, name=f"cp-{vol[:8]}")
        return CpMember(
            source_volume_id=vol,
            server_id=server,
            device="/dev/vda",
            size_gib=1,
            source_snapshot_id=f"src-{vol[:30]}",
            replica_volume_id=replica.id,
            replica_snapshot_id=snap.id,
            bytes_changed=0,
            bytes_sent=0,
        )

    members = await asyncio.gather(*(one(v, s) for v, s in app.volumes.items()))
    now = datetime.now(UTC)
    return ConsistencyPointCreated(
        group_id=app.group,
        consistency_point_id=str(uuid.uuid4()),
        project_id="demo",
        source_site=source,
        target_site=target,
        consistency="crash",
        taken_at=taken_at or now,
        created_at=now,
        members=list(members),
        bytes_sent=0,
    )


def site_events(sites: SiteSet) -> list[Message]:
    return [
        SiteRegistered(site=SiteRef(site_id=name, cloud=name), role="both", at=datetime.now(UTC))
        for name in sites.sites
    ]


async def publish_kafka(bootstrap: str, messages: list[Message]) -> None:
    bus = make_bus(LifeboatSettings(bus="kafka", kafka_bootstrap=bootstrap), client_id="tests")
    await bus.start()
    try:
        await bus.ensure_topics(topics.ALL_TOPICS)
        await bus.publish([encode_envelope(new_envelope(m, source="/tests")) for m in messages])
    finally:
        await bus.stop()


def orchestrator_env(
    data_dir: Path, database: str, kafka: str, clouds_yaml: Path, port: int, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIFEBOAT_", "OS_"))}
    env.update(
        LIFEBOAT_DATA_DIR=str(data_dir),
        LIFEBOAT_BUS="kafka",
        LIFEBOAT_KAFKA_BOOTSTRAP=kafka,
        LIFEBOAT_DATABASE_URL=database,
        LIFEBOAT_TOPIC_PARTITIONS="3",
        LIFEBOAT_JSON_LOGS="false",
        LIFEBOAT_ORCHESTRATOR_HTTP_PORT=str(port),
        LIFEBOAT_ORCHESTRATOR_CLOUDS_YAML=str(clouds_yaml),
        LIFEBOAT_ORCHESTRATOR_RUNNER_INTERVAL_SECONDS="0.1",
        LIFEBOAT_ORCHESTRATOR_STEP_BACKOFF_SECONDS="0.2",
        LIFEBOAT_ORCHESTRATOR_PROBE_ENABLED="false",
    )
    env.update(extra)
    return env


@contextmanager
def orchestrator_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = start_orchestrator(env, log)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start_orchestrator(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "lifeboat_orchestrator.entrypoints.cli", "serve"],
        cwd=ROOT,
        env=env,
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
    )


async def wait_up(base: str, proc: subprocess.Popen[bytes] | None, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError("orchestrator exited")
        try:
            async with httpx.AsyncClient(timeout=2) as c:
                if (await c.get(f"{base}/readyz")).status_code == 200:
                    return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("orchestrator did not become ready")


def plan_body(app: App, source: str, targets: list[str], name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "project_id": "demo",
        "groups": [app.group],
        "source_site": source,
        "target_sites": targets,
        "tiers": [{"name": t, "servers": s} for t, s in app.tiers.items()],
        "network_mappings": [{"source_network": "private", "ip_mode": "keep"}],
        **extra,
    }


async def create_plan(client: httpx.AsyncClient, base: str, body: dict[str, Any]) -> dict[str, Any]:
    """Retry until the orchestrator has consumed the site events."""
    deadline = time.monotonic() + 60
    while True:
        r = await client.post(f"{base}/v1/plans", json=body, headers=AUTH)
        if r.status_code == 201:
            return dict(r.json())
        if time.monotonic() > deadline:
            raise AssertionError(f"plan not created: {r.status_code} {r.text}")
        await asyncio.sleep(0.2)


async def inventory(sites: SiteSet, site: str) -> dict[str, set[str]]:
    driver = CloudDriver([SiteConfig(name=site, cloud=site, clouds_yaml=sites.clouds_yaml)])
    try:
        p = await driver.project(site)
        inv = await p.inventory()
        routers = await p.network.list_routers()
        snaps = await p.block_storage.list_snapshots()
    finally:
        await driver.aclose()
    return {
        "servers": {s.id for s in inv.servers},
        "volumes": {v.id for v in inv.volumes},
        "ports": {x.id for x in inv.ports},
        "networks": {n.id for n in inv.networks},
        "subnets": {n.id for n in inv.subnets},
        "security_groups": {g.id for g in inv.security_groups},
        "routers": {r.id for r in routers},
        "snapshots": {s.id for s in snaps},
    }


@dataclass
class Orchestrated:
    sites: SiteSet
    driver: CloudDriver
    base: str
    client: httpx.AsyncClient
    kafka: str

    async def project(self, site: str) -> CloudProject:
        return await self.driver.project(site)

    async def publish(self, messages: list[Message]) -> None:
        await publish_kafka(self.kafka, messages)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        r = await self.client.post(f"{self.base}{path}", json=body or {}, headers=AUTH)
        assert r.status_code < 300, f"{path}: {r.status_code} {r.text}"
        return dict(r.json())

    async def get(self, path: str) -> Any:
        r = await self.client.get(f"{self.base}{path}", headers=AUTH)
        assert r.status_code == 200, f"{path}: {r.status_code} {r.text}"
        return r.json()

    async def plan(self, body: dict[str, Any]) -> dict[str, Any]:
        plan = await create_plan(self.client, self.base, body)
        deadline = time.monotonic() + 60
        while True:  # CPs reach the catalog through Kafka
            ready = await self.post(f"/v1/plans/{plan['id']}/readiness")
            if ready["readiness"]["ready"]:
                return plan
            assert time.monotonic() < deadline, ready["readiness"]
            await asyncio.sleep(0.3)

    async def run(self, plan_id: str, kind: str, **extra: Any) -> dict[str, Any]:
        e = await self.post(f"/v1/plans/{plan_id}/executions", {"kind": kind, **extra})
        return await self.wait(e["id"])

    async def wait(self, execution_id: str, timeout: float = 300) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            e = await self.get(f"/v1/executions/{execution_id}")
            if e["state"] != "running":
                return dict(e)
            assert time.monotonic() < deadline, f"{execution_id} still running"
            await asyncio.sleep(0.2)


@contextlib.asynccontextmanager
async def orchestrated(
    tmp: Path, postgres_url: str, kafka: str, site_names: list[str], **env_extra: str
) -> AsyncIterator[Orchestrated]:
    """Sites, and an orchestrator process on a fresh PostgreSQL database and the real Kafka
    (``env_extra``: more of its settings, e.g. ``LIFEBOAT_ORCHESTRATOR_PROBE_ENABLED``)."""
    from tests.integration.replication.harness import free_port, fresh_database

    database = await fresh_database(postgres_url)
    with running_sites(site_names, tmp / "sites") as sites:
        driver = CloudDriver(
            [SiteConfig(name=s, cloud=s, clouds_yaml=sites.clouds_yaml) for s in site_names]
        )
        port = free_port()
        env = orchestrator_env(tmp, database, kafka, sites.clouds_yaml, port, **env_extra)
        try:
            with orchestrator_process(env, tmp / "orchestrator.log") as proc:
                base = f"http://127.0.0.1:{port}"
                await wait_up(base, proc)
                await publish_kafka(kafka, site_events(sites))
                async with httpx.AsyncClient(timeout=30) as client:
                    yield Orchestrated(sites, driver, base, client, kafka)
        finally:
            await driver.aclose()

"""Two cloudsim sites, a receiver process at the DR site, a replicator service, and a way to
play the policy service's part (publish ticks on the real bus), for the protection tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
import sqlalchemy.ext.asyncio
from asgi_lifespan import LifespanManager

from cloudsim.testing import SiteSet, running_sites
from lifeboat_replicator.bootstrap import build
from lifeboat_replicator.entrypoints.receiver import spawned_receiver
from lifeboat_replicator.settings import ReplicatorSettings
from lifeboat_shared.cloud import CloudDriver, CloudProject, SiteConfig
from lifeboat_shared.contracts import encode_envelope, new_envelope
from lifeboat_shared.contracts.messages import (
    ReplicationResumed,
    ReplicationSpec,
    ReplicationSuspended,
    RpoTickElapsed,
    SiteRef,
)
from lifeboat_shared.persistence.tables import outbox
from lifeboat_shared.service.app import create_app
from lifeboat_shared.service.runtime import ServiceRuntime

TOKEN = "test-token-" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SOURCE, TARGET = "site-a", "site-b"


class CountingProxy:
    """A TCP relay between sender and receiver that counts the bytes on the wire and can cut
    the link (a partition) and restore it."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.bytes_up = 0
        self.refused = 0  # connections turned away while the link was cut
        self.relaying = 0  # pumps still running: 0 once every connection is closed and drained
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        self._conns: list[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if not self._open.is_set():
                with self._lock:
                    self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
                self.relaying += 2
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, up: bool) -> None:
        try:
            while True:
                data = src.recv(1 << 20)
                if not data:
                    break
                if up:
                    with self._lock:
                        self.bytes_up += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self.relaying -= 1

    def cut(self) -> None:
        self._open.clear()
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def restore(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._stop = True
        self.cut()
        self._server.close()


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    """Poll a condition (a state to reach, never a time to let pass) until true or the deadline."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not reached in {timeout} s: {what}"
        await asyncio.sleep(0.02)


@contextlib.contextmanager
def receiver_process(
    data_dir: Path, clouds_yaml: Path, site: str = TARGET, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    with spawned_receiver(
        site, data_dir=data_dir, clouds_yaml=clouds_yaml, extra_env=extra_env
    ) as running:
        yield running


@dataclass
class Protection:
    """What a protection test works with."""

    sites: SiteSet
    data_dir: Path
    runtime: ServiceRuntime
    client: httpx.AsyncClient
    source: CloudProject
    driver: CloudDriver
    proxy: CountingProxy
    app: Any = None
    ticks: dict[str, int] = field(default_factory=dict)
    receivers: dict[str, str] = field(default_factory=dict)
    """Receivers of the extra DR sites: site -> host:port."""

    def spec(
        self, *, servers: list[str] = (), volumes: list[str] = (), **kw: Any
    ) -> ReplicationSpec:  # type: ignore[assignment]
        return ReplicationSpec(
            project_id="demo",
            source=SiteRef(site_id=SOURCE, cloud=SOURCE),
            target=SiteRef(site_id=TARGET, cloud=TARGET, data_endpoint=self.proxy.endpoint),
            servers=list(servers),
            volumes=list(volumes),
            **kw,
        )

    async def publish(self, message: Any) -> None:
        envelope = new_envelope(message, source="/lifeboat/tests")
        await self.runtime.bus.publish([encode_envelope(envelope)])

    async def tick(self, group_id: str, spec: ReplicationSpec) -> None:
        seq = self.ticks[group_id] = self.ticks.get(group_id, 0) + 1
        await self.publish(
            RpoTickElapsed(
                group_id=group_id,
                project_id=spec.project_id,
                tick_seq=seq,
                rpo_seconds=60,
                due_at=datetime.now(UTC),
                spec=spec,
            )
        )

    async def suspend(self, group_id: str) -> None:
        await self.publish(
            ReplicationSuspended(
                group_id=group_id,
                scope="group",
                source_site=SOURCE,
                target_site=TARGET,
                requested_by="test",
                at=datetime.now(UTC),
            )
        )

    async def resume(self, group_id: str) -> None:
        await self.publish(
            ReplicationResumed(
                group_id=group_id, scope="group", requested_by="test", at=datetime.now(UTC)
            )
        )

    async def cps(self, group_id: str) -> list[dict[str, Any]]:
        got = await self.client.get("/v1/consistency-points", params={"group_id": group_id})
        got.raise_for_status()
        return list(reversed(got.json()))  # oldest first

    async def cycles(self, group_id: str) -> list[dict[str, Any]]:
        got = await self.client.get("/v1/replication-cycles", params={"group_id": group_id})
        got.raise_for_status()
        return list(reversed(got.json()))

    async def wait_cps(
        self, group_id: str, count: int, timeout: float = 60
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = await self.cps(group_id)
            if len(found) >= count:
                return found
            cycles = await self.cycles(group_id)
            failed = [c for c in cycles if c["status"] == "failed"]
            assert not failed, f"cycle failed: {failed[-1]['error']}"
            await asyncio.sleep(0.2)
        raise AssertionError(
            f"{count} CPs not reached in {timeout} s; cycles: {await self.cycles(group_id)}"
        )

    async def wait_cycle(
        self, group_id: str, predicate: Any, timeout: float = 60
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for c in await self.cycles(group_id):
                if predicate(c):
                    return c
            await asyncio.sleep(0.1)
        raise AssertionError(f"no such cycle in {timeout} s: {await self.cycles(group_id)}")

    async def outbox(self, type_suffix: str) -> list[dict[str, Any]]:
        """Events the replicator staged (its outbox: what it published), of one type."""
        async with self.runtime.db.read() as s:
            rows = await s.execute(
                sa.select(outbox.c.headers, outbox.c.value).order_by(outbox.c.id)
            )
            return [
                json.loads(value)
                for headers, value in rows
                if str(headers.get("ce_type", "")).endswith(f".{type_suffix}.v1")
            ]

    def admin(self, site: str = SOURCE) -> httpx.Client:
        return self.sites.sites[site].admin()


async def make_vm(
    project: CloudProject, name: str, volumes: int, size_gb: int = 1
) -> tuple[str, list[str]]:
    """A volume-backed server with `volumes` volumes (the first boots it)."""
    flavor = (await project.compute.list_flavors())[0]
    vols = [
        (await project.block_storage.create_volume(size_gb, name=f"{name}-{i}", bootable=i == 0)).id
        for i in range(volumes)
    ]
    server = await project.compute.create_server(
        name, flavor.id, boot_volume_id=vols[0], data_volume_ids=vols[1:]
    )
    return server.id, vols


@contextlib.asynccontextmanager
async def protection(
    tmp: Path,
    *,
    bus: dict[str, Any] | None = None,
    receiver_env: dict[str, str] | None = None,
    extra_sites: list[str] = (),  # type: ignore[assignment]
) -> AsyncIterator[Protection]:
    """``extra_sites``: more DR sites, each with a receiver (``Protection.receivers``)."""
    data_dir = tmp / "lb"
    data_dir.mkdir(parents=True, exist_ok=True)
    with (
        running_sites([SOURCE, TARGET, *extra_sites], tmp / "sites") as sites,
        receiver_process(data_dir, sites.clouds_yaml, extra_env=receiver_env) as (_p, addr),
        contextlib.ExitStack() as more,
    ):
        receivers = {
            site: more.enter_context(receiver_process(data_dir, sites.clouds_yaml, site=site))[1]
            for site in extra_sites
        }
        host, _, port = addr.rpartition(":")
        proxy = CountingProxy((host, int(port)))
        settings = ReplicatorSettings(
            data_dir=data_dir,
            api_token=TOKEN,
            json_logs=False,
            clouds_yaml=sites.clouds_yaml,
            runner_interval_seconds=0.1,
            link_retry_seconds=5,
            **(bus or {}),
        )
        spec = build(settings)
        app = create_app(spec, configure_logs=False)
        driver = CloudDriver([SiteConfig(name=SOURCE, cloud=SOURCE, clouds_yaml=sites.clouds_yaml)])
        try:
            async with LifespanManager(app, startup_timeout=60, shutdown_timeout=60):
                runtime: ServiceRuntime = app.state.runtime
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://r", headers=AUTH
                ) as client:
                    yield Protection(
                        sites=sites,
                        data_dir=data_dir,
                        runtime=runtime,
                        client=client,
                        source=await driver.project(SOURCE),
                        driver=driver,
                        proxy=proxy,
                        app=app,
                        receivers=receivers,
                    )
        finally:
            await driver.aclose()
            proxy.close()


async def fresh_database(postgres_url: str) -> str:
    """A new, empty PostgreSQL database on the session's server (tests share nothing)."""
    name = f"lb_{uuid.uuid4().hex[:12]}"
    engine = sa.ext.asyncio.create_async_engine(postgres_url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        await engine.dispose()
    base, _, _old = postgres_url.rpartition("/")
    return f"{base}/{name}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_random(path: str, mib: int, *, stride_mib: int = 2, offset_mib: int = 0) -> None:
    """`mib` MiB of incompressible data, one MiB every `stride_mib` MiB from `offset_mib`."""
    with open(path, "r+b") as f:
        for i in range(mib):
            f.seek((offset_mib + i * stride_mib) * 1024 * 1024)
            f.write(os.urandom(1024 * 1024))


def replicator_env(
    *, kafka: str, database: str, clouds_yaml: Path, **settings: str
) -> dict[str, str]:
    """The environment of a replicator process on Kafka + PostgreSQL (nothing inherited from the
    caller's LIFEBOAT_* or OS_* variables); ``settings`` add or override LIFEBOAT_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIFEBOAT_", "OS_"))}
    env.update(
        LIFEBOAT_BUS="kafka",
        LIFEBOAT_KAFKA_BOOTSTRAP=kafka,
        LIFEBOAT_DATABASE_URL=database,
        LIFEBOAT_TOPIC_PARTITIONS="3",
        LIFEBOAT_JSON_LOGS="false",
        LIFEBOAT_REPLICATOR_CLOUDS_YAML=str(clouds_yaml),
        LIFEBOAT_REPLICATOR_RUNNER_INTERVAL_SECONDS="0.1",
        LIFEBOAT_REPLICATOR_LEASE_SECONDS="3",
    )
    env.update(settings)
    return env

"""A whole DR cycle between two real OpenStack sites, each on its own Ceph cluster (UC1, UC2a,
UC4, UC5): protect a VM booted from a Ceph volume plus a data volume at lab-a, consistency points
at lab-b whose replica snapshots are byte-identical to their source snapshots, a bubble test at
lab-b that touches nothing at lab-a and leaves nothing behind, lab-a stopped, failover onto the
newest CP's bytes, lab-a back, reprotect sending only differences, failback losing nothing.

Lifeboat runs over the real Kafka and PostgreSQL (the test command's), every cloud call goes
through openstacksdk to the real services, replicas are read and written through librbd with
Lifeboat's own least-privilege cephx users. Run by deploy/openstack-lab/ci.sh, which starts the
two sites and their clusters and names them in LIFEBOAT_LAB_DR (JSON: site -> {"dir", "ceph"}).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from lifeboat_cli.gateway import register_endpoint
from lifeboat_cli.stack import Stack
from lifeboat_cli.story import wait_execution, wait_new_cp
from lifeboat_replicator.entrypoints.receiver import spawned_receiver
from lifeboat_shared.cloud import CloudDriver, CloudProject, SiteConfig
from tests.integration.replication.harness import fresh_database
from tests.lab.rbdcheck import Cluster

pytestmark = [pytest.mark.openstack_lab, pytest.mark.timeout(1500)]

A, B = "lab-a", "lab-b"
NET, CIDR = "app-net", "10.42.0.0/24"


def _sites() -> dict[str, dict[str, Path]]:
    raw = os.environ.get("LIFEBOAT_LAB_DR")
    if not raw:
        raise RuntimeError(
            "LIFEBOAT_LAB_DR is not set: this test needs two lab sites on Ceph; run "
            "deploy/openstack-lab/ci.sh (it starts them)"
        )
    found = {k: {n: Path(p) for n, p in v.items()} for k, v in json.loads(raw).items()}
    assert set(found) == {A, B}, found
    return found


def _clouds_yaml(sites: dict[str, dict[str, Path]], out: Path) -> Path:
    clouds: dict[str, Any] = {}
    for site in sites.values():
        clouds.update(yaml.safe_load((site["dir"] / "clouds.yaml").read_text())["clouds"])
    out.write_text(yaml.safe_dump({"clouds": clouds}))
    return out


def _register(clouds: Path, site: str, url: str) -> None:
    """Lifeboat's catalog entry (disaster-recovery -> the gateway) in the site's Keystone, as
    `lifeboat up` does in cloudsim's; a member's session then finds it by service type."""
    from openstack.config import OpenStackConfig

    register_endpoint(clouds, f"{site}-admin", url)
    member = OpenStackConfig(config_files=[str(clouds)]).get_one(cloud=site).get_session()
    found = member.get_endpoint(service_type="disaster-recovery", interface="public")
    assert found == url, f"{site}: the catalog's disaster-recovery endpoint is {found!r}"


def _rbd(ceph: Path, user: str) -> dict[str, Any]:
    return {
        "ceph_conf": str(ceph / "ceph.conf"),
        "user": user,
        "keyring": str(ceph / f"client.{user}.keyring"),
        "pools": ["volumes"],
    }


@contextmanager
def _stopped(site: dict[str, Path]) -> Iterator[None]:
    """Every process of a site (its OpenStack services, RabbitMQ, its Ceph daemons) frozen with
    SIGSTOP: the site stops answering, as in a power cut, and comes back with its state."""
    pids: list[int] = []
    for pidfile in [*site["dir"].glob("run/*.pid"), *site["ceph"].glob("run/*.pid")]:
        try:
            pids.append(int(pidfile.read_text().split()[0]))
        except (ValueError, IndexError, OSError):
            continue
    for pid in pids:
        with _quiet():
            os.killpg(os.getpgid(pid), signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with _quiet():
                os.killpg(os.getpgid(pid), signal.SIGCONT)


@contextmanager
def _quiet() -> Iterator[None]:
    with suppress(ProcessLookupError):
        yield


async def _ok(r: httpx.Response) -> Any:
    assert r.status_code < 300, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json() if r.content else None


async def _app(project: CloudProject, name: str) -> tuple[str, list[str]]:
    """A server booted from a 1 GiB Ceph volume, with a 1 GiB data volume, on NET."""
    bs, nova = project.block_storage, project.compute
    boot = await bs.create_volume(1, name=f"{name}-boot", bootable=True)
    data = await bs.create_volume(1, name=f"{name}-data")
    net = next(n for n in await project.network.list_networks() if n.name == NET)
    flavor = next(f for f in await project.compute.list_flavors() if f.name == "m1.tiny")
    port = await project.network.create_port(net.id, name=f"{name}-port")
    server = await nova.create_server(
        name,
        flavor.id or flavor.name,
        boot_volume_id=boot.id,
        data_volume_ids=[data.id],
        port_ids=[port.id],
    )
    return server.id, [boot.id, data.id]


async def _network(project: CloudProject) -> None:
    if any(n.name == NET for n in await project.network.list_networks()):
        return
    net = await project.network.create_network(NET)
    await project.network.create_subnet(net.id, CIDR, name=f"{NET}-subnet")


async def _inventory(project: CloudProject) -> dict[str, set[str]]:
    inv = await project.inventory()
    return {
        "servers": {s.id for s in inv.servers},
        "volumes": {v.id for v in inv.volumes},
        "ports": {p.id for p in inv.ports},
        "networks": {n.id for n in inv.networks},
        "subnets": {s.id for s in inv.subnets},
        "security_groups": {g.id for g in inv.security_groups},
        "routers": {r.id for r in await project.network.list_routers()},
    }


async def _server_volume_hashes(project: CloudProject, cluster: Cluster, sid: str) -> set[str]:
    vols = await project.compute.server_volumes(sid)
    return {await asyncio.to_thread(cluster.content_hash, f"volume-{v.volume_id}") for v in vols}


@asynccontextmanager
async def _lifeboat(
    tmp: Path, clouds: Path, sites: dict[str, dict[str, Path]], kafka: str, postgres: str
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str], dict[str, str]]]:
    """The five services over the real Kafka + PostgreSQL, and a receiver per site (each
    writing its site's replicas with that site's writer key)."""
    database = await fresh_database(postgres)
    env = {
        "LIFEBOAT_BUS": "kafka",
        "LIFEBOAT_KAFKA_BOOTSTRAP": kafka,
        "LIFEBOAT_DATABASE_URL": database,
        "LIFEBOAT_AUTO_MIGRATE": "true",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    readers = {s: _rbd(v["ceph"], "lifeboat-reader") for s, v in sites.items()}
    stack = Stack(
        tmp / "lifeboat",
        port_base=0,
        overrides={
            "replicator": {
                "clouds_yaml": clouds,
                "rbd_sites": readers,
                "runner_interval_seconds": 0.2,
            },
            "policy": {"clouds_yaml": clouds},
            "orchestrator": {
                "clouds_yaml": clouds,
                "runner_interval_seconds": 0.2,
                "step_backoff_seconds": 0.5,
            },
        },
    )
    with ExitStack() as receivers:
        endpoints = {}
        for site, v in sites.items():
            _proc, endpoint = receivers.enter_context(
                spawned_receiver(
                    site,
                    data_dir=tmp / "lifeboat",
                    clouds_yaml=clouds,
                    extra_env={
                        "LIFEBOAT_REPLICATOR_RBD_SITES": json.dumps(
                            {site: _rbd(v["ceph"], "lifeboat-writer")}
                        ),
                        "LIFEBOAT_REPLICATOR_CONNECTOR_HOST": f"lifeboat-receiver-{site}",
                    },
                )
            )
            endpoints[site] = endpoint
        await stack.start()
        try:
            for site in sites:  # one public endpoint, in each real Keystone's catalog
                await asyncio.to_thread(_register, clouds, site, stack.gateway.url)
            urls = {s.name: s.url for s in stack.services}
            headers = {"Authorization": f"Bearer {stack.token}"}
            async with httpx.AsyncClient(headers=headers, timeout=120) as client:
                yield client, urls, endpoints
        finally:
            await stack.stop()
            for k, old in saved.items():
                if old is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = old


async def test_two_site_dr_cycle_on_ceph(
    tmp_path: Path, kafka_bootstrap: str, postgres_url: str
) -> None:
    sites = _sites()
    ceph = {s: Cluster(v["ceph"]) for s, v in sites.items()}
    clouds = _clouds_yaml(sites, tmp_path / "clouds.yaml")
    driver = CloudDriver([SiteConfig(name=s, cloud=s, clouds_yaml=clouds) for s in sites])
    figures: dict[str, Any] = {}
    t0 = time.monotonic()

    def note(what: str, **data: Any) -> None:
        figures[what] = data
        print(f"[{time.monotonic() - t0:7.1f}s] {what}: {data}", flush=True)

    try:
        pa, pb = await driver.project(A), await driver.project(B)
        await _network(pa)
        await _network(pb)
        name = f"dr-{uuid.uuid4().hex[:6]}"
        server_id, volumes = await _app(pa, name)
        for i, vid in enumerate(volumes):  # the guest's first data
            await asyncio.to_thread(ceph[A].write_as_guest, vid, 256, seed=i)
        note("app", server=server_id, volumes=volumes)

        async with _lifeboat(tmp_path, clouds, sites, kafka_bootstrap, postgres_url) as (
            client,
            urls,
            endpoints,
        ):
            policy, orch, repl = urls["policy"], urls["orchestrator"], urls["replicator"]
            for site in sites:
                await _ok(
                    await client.put(
                        f"{policy}/v1/sites/{site}",
                        json={"cloud": site, "role": "both", "data_endpoint": endpoints[site]},
                    )
                )
            pol = await _ok(
                await client.post(
                    f"{policy}/v1/policies",
                    json={"name": f"{name}-rpo", "rpo_seconds": 10, "retention": {"keep_last": 4}},
                )
            )
            group = await _ok(
                await client.post(
                    f"{policy}/v1/protection-groups",
                    json={
                        "name": name,
                        "project_id": "lifeboat",
                        "source_site": A,
                        "target_site": B,
                        "policy_id": pol["id"],
                        "members": {"servers": [server_id]},
                    },
                )
            )

            # --- 3 CPs, data written between them; each replica snapshot == its source
            checked: dict[str, dict[str, str]] = {}
            deadline = time.monotonic() + 300
            while len(checked) < 3:
                assert time.monotonic() < deadline, f"only {len(checked)} CPs in 300 s"
                cps = await _ok(
                    await client.get(
                        f"{repl}/v1/consistency-points", params={"group_id": group["id"]}
                    )
                )
                new = [c for c in cps if c["id"] not in checked]
                if not new:
                    await asyncio.sleep(1)
                    continue
                cp = new[-1]  # oldest unseen first
                hashes: dict[str, str] = {}
                for m in cp["members"]:
                    src = await asyncio.to_thread(
                        ceph[A].content_hash,
                        f"volume-{m['volume_id']}",
                        f"snapshot-{m['source_snapshot_id']}",
                    )
                    dst = await asyncio.to_thread(
                        ceph[B].content_hash,
                        f"volume-{m['replica_volume_id']}",
                        f"snapshot-{m['replica_snapshot_id']}",
                    )
                    assert src == dst, f"CP {cp['id']} volume {m['volume_id']}: {src} != {dst}"
                    hashes[m["volume_id"]] = src
                checked[cp["id"]] = hashes
                note("cp", id=cp["id"], members=len(hashes), n=len(checked))
                for i, vid in enumerate(volumes):  # the guest keeps writing
                    await asyncio.to_thread(
                        ceph[A].write_as_guest, vid, 64, seed=len(checked) * 10 + i
                    )

            plan_body = {
                "name": name,
                "project_id": "lifeboat",
                "groups": [group["id"]],
                "source_site": A,
                "target_sites": [B],
                "tiers": [{"name": "app", "servers": [server_id]}],
                "network_mappings": [{"source_network": NET, "ip_mode": "keep"}],
            }
            plan = None
            while plan is None:
                r = await client.post(f"{orch}/v1/plans", json=plan_body)
                if r.status_code == 201:
                    plan = r.json()
                else:
                    assert time.monotonic() < deadline, r.text
                    await asyncio.sleep(1)
            while not (await _ok(await client.post(f"{orch}/v1/plans/{plan['id']}/readiness")))[
                "readiness"
            ]["ready"]:
                assert time.monotonic() < deadline, "plan never ready"
                await asyncio.sleep(1)

            async def execute(kind: str, **extra: Any) -> dict[str, Any]:
                started = await _ok(
                    await client.post(
                        f"{orch}/v1/plans/{plan['id']}/executions", json={"kind": kind, **extra}
                    )
                )
                done = await wait_execution(client, orch, started["id"], lambda *_: None, 600)
                note(kind, rto=done.get("rto_seconds"), rpo=done.get("rpo_seconds"))
                return await _ok(await client.get(f"{orch}/v1/executions/{done['id']}"))

            # --- bubble test at lab-b: lab-a untouched, nothing left at lab-b
            before_a, before_b = await _inventory(pa), await _inventory(pb)
            test = await execute("test-failover")
            await execute("test-cleanup", test_id=test["id"])
            assert await _inventory(pa) == before_a
            after_b = await _inventory(pb)
            assert after_b == before_b, {k: after_b[k] ^ before_b[k] for k in after_b}

            # --- lab-a stops answering; failover onto the newest CP
            with _stopped(sites[A]):
                await _ok(
                    await client.post(
                        f"{orch}/v1/sites/{A}/declare-down", json={"reason": "lab-a stopped"}
                    )
                )
                failover = await execute("failover")
                newest = await _ok(
                    await client.get(
                        f"{repl}/v1/consistency-points",
                        params={"group_id": group["id"], "limit": 1},
                    )
                )
                dr_server = _recovered_server(failover)
                server = await pb.compute.get_server(dr_server)
                assert server.status == "ACTIVE", server.status
                want = {
                    await asyncio.to_thread(
                        ceph[B].content_hash,
                        f"volume-{m['replica_volume_id']}",
                        f"snapshot-{m['replica_snapshot_id']}",
                    )
                    for m in newest[0]["members"]
                }
                assert await _server_volume_hashes(pb, ceph[B], dr_server) == want
                note("failover-bytes", cp=newest[0]["id"], volumes=len(want))
            await _ok(await client.post(f"{orch}/v1/sites/{A}/declare-up"))

            # --- the app runs at lab-b and writes; reprotect sends only differences
            dr_vols = [v.volume_id for v in await pb.compute.server_volumes(dr_server)]
            for i, vid in enumerate(dr_vols):
                await asyncio.to_thread(ceph[B].write_as_guest, vid, 128, seed=100 + i)
            reprotect = await execute("reprotect")
            sync = _step(reprotect, "reverse-sync")["result"]
            total = len(dr_vols) * 1024**3
            note("reprotect", sent=sync["bytes_sent"], changed=sync["bytes_changed"], size=total)
            # 1 MiB written at lab-b, plus what lab-a wrote after the newest CP (to be undone):
            # a few MiB at most, of 2 GiB of volumes
            assert 0 < sync["bytes_sent"] < 8 * 1024**2, sync

            # --- failback: planned, nothing lost
            for i, vid in enumerate(dr_vols):
                await asyncio.to_thread(ceph[B].write_as_guest, vid, 32, seed=200 + i)
            failback = await execute("failback")
            home_server = _recovered_server(failback)
            at_b = set()
            for vid in dr_vols:
                at_b.add(await asyncio.to_thread(ceph[B].content_hash, f"volume-{vid}"))
            assert await _server_volume_hashes(pa, ceph[A], home_server) == at_b
            final = await _ok(await client.get(f"{orch}/v1/plans/{plan['id']}"))
            note("home", site=final["state"]["active_site"], status=final["state"]["status"])
            assert final["state"]["active_site"] == A
            assert final["state"]["status"] == "protected"

            # --- protected again, by schedule: the forward group follows the servers failback
            # made and its next CP starts from the stopped lab-b copy (seeded: differences only)
            cp = await wait_new_cp(
                client, policy, group["id"], after=failback["finished_at"], timeout=300
            )
            again = await _ok(await client.get(f"{repl}/v1/consistency-points/{cp['cp']}"))
            seeded = [m for m in again["members"] if m.get("seeded_from")]
            note(
                "protected-again",
                cp=cp["cp"],
                after_s=(
                    datetime.fromisoformat(cp["taken_at"])
                    - datetime.fromisoformat(failback["finished_at"])
                ).total_seconds(),
                seeded=len(seeded),
                sent=again["bytes_sent"],
            )
            assert len(seeded) == len(again["members"]) == 2, again
            assert again["bytes_sent"] < 8 * 1024**2, again
            for m in again["members"]:  # the replica at lab-b is the home volume at the CP
                src = await asyncio.to_thread(
                    ceph[A].content_hash,
                    f"volume-{m['volume_id']}",
                    f"snapshot-{m['source_snapshot_id']}",
                )
                dst = await asyncio.to_thread(
                    ceph[B].content_hash,
                    f"volume-{m['replica_volume_id']}",
                    f"snapshot-{m['replica_snapshot_id']}",
                )
                assert src == dst, f"CP {cp['cp']} volume {m['volume_id']}: {src} != {dst}"
    finally:
        await driver.aclose()
        print(json.dumps(figures, default=str))


def _step(execution: dict[str, Any], step_id: str) -> dict[str, Any]:
    for step in execution["steps"]:
        if step["id"] == step_id:
            return dict(step)
    raise AssertionError(f"no step {step_id} in {[s['id'] for s in execution['steps']]}")


def _recovered_server(execution: dict[str, Any]) -> str:
    """The id of the (one) server an execution brought up."""
    for step in execution["steps"]:
        result = step.get("result") or {}
        if (
            step["id"].startswith("recover:")
            and isinstance(result, dict)
            and result.get("server_id")
        ):
            return str(result["server_id"])
    raise AssertionError(f"no recover step with a server: {[s['id'] for s in execution['steps']]}")

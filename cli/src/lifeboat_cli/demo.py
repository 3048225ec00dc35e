"""The world `lifeboat up` protects: cloudsim sites on localhost (real HTTP, real openstacksdk;
site-a and site-b by default, any number with `--sites`), a receiver process per site, and a VM
with several volumes, a guest agent and a workload writing ordered, checksummed records across
its volumes."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cloudsim.testing import SiteSet, running_sites
from lifeboat_replicator.entrypoints.receiver import spawned_receiver
from lifeboat_shared.cloud import CloudDriver, SiteConfig

SOURCE, TARGET = "site-a", "site-b"
DEMO_GROUP = "demo-app"
DEMO_PROJECT = "demo"


@dataclass
class DemoWorld:
    sites: SiteSet
    receiver: str  # host:port of site-b's receiver ("" without a site-b)
    receivers: dict[str, str]  # every site's receiver (site-a's carries reprotect's reverse data)


@contextlib.contextmanager
def demo_world(data_dir: Path, site_ids: Sequence[str] = (SOURCE, TARGET)) -> Iterator[DemoWorld]:
    """Fresh sites each run (cloudsim keeps no state worth keeping) and a receiver per site
    (site-b's for protection, site-a's for the reverse direction after a failover)."""
    shutil.rmtree(data_dir / "sites", ignore_errors=True)
    with (
        running_sites(list(site_ids), data_dir / "sites") as sites,
        contextlib.ExitStack() as receivers,
    ):
        addresses = {
            site: receivers.enter_context(
                spawned_receiver(site, data_dir=data_dir, clouds_yaml=sites.clouds_yaml)
            )[1]
            for site in site_ids
        }
        yield DemoWorld(sites, addresses.get(TARGET, ""), addresses)


async def register_sites(client: httpx.AsyncClient, policy_url: str, world: DemoWorld) -> None:
    """Every site of the world at the policy service, with its receiver (role both)."""
    for site_id, receiver in world.receivers.items():
        site = {"cloud": site_id, "role": "both", "data_endpoint": receiver}
        (await client.put(f"{policy_url}/v1/sites/{site_id}", json=site)).raise_for_status()


async def make_demo_vm(world: DemoWorld, volumes: int) -> tuple[str, list[str]]:
    """A volume-backed VM on site-a with `volumes` volumes and a running workload."""
    driver = CloudDriver(
        [SiteConfig(name=SOURCE, cloud=SOURCE, clouds_yaml=world.sites.clouds_yaml)]
    )
    try:
        project = await driver.project(SOURCE)
        flavor_id = (await project.compute.list_flavors())[0].id
        assert flavor_id is not None
        vols = [
            (
                await project.block_storage.create_volume(
                    1, name=f"demo-db-disk{i}", bootable=i == 0
                )
            ).id
            for i in range(volumes)
        ]
        server = await project.compute.create_server(
            "demo-db", flavor_id, boot_volume_id=vols[0], data_volume_ids=vols[1:]
        )
    finally:
        await driver.aclose()
    with world.sites.sites[SOURCE].admin() as admin:
        admin.post(
            "/workloads", json={"servers": [server.id], "rate_per_s": 200}
        ).raise_for_status()
    return server.id, vols


async def protect(
    client: httpx.AsyncClient, policy_url: str, world: DemoWorld, server_id: str, rpo: int
) -> dict[str, Any]:
    """Register both sites, a guest-agent policy and the demo group (an older demo group, whose
    VM went with the previous run's sites, is deleted first)."""
    sites: dict[str, dict[str, Any]] = {
        SOURCE: {"cloud": SOURCE, "role": "both", "data_endpoint": world.receivers[SOURCE]},
        TARGET: {"cloud": TARGET, "role": "recovery", "data_endpoint": world.receiver},
    }
    for site_id, site in sites.items():
        (await client.put(f"{policy_url}/v1/sites/{site_id}", json=site)).raise_for_status()
    name = f"demo-rpo-{rpo}s-guest-agent"
    policies = (await client.get(f"{policy_url}/v1/policies")).raise_for_status().json()
    policy = next((p for p in policies if p["name"] == name), None)
    if policy is None:
        new: dict[str, Any] = {
            "name": name,
            "rpo_seconds": rpo,
            "quiesce": {"method": "guest-agent", "on_failure": "crash-consistent"},
            "retention": {"keep_last": 3},
            "replicate_on": {"shutdown": True, "detach": True},
        }
        policy = (
            (await client.post(f"{policy_url}/v1/policies", json=new)).raise_for_status().json()
        )
    groups = (
        (
            await client.get(
                f"{policy_url}/v1/protection-groups", params={"project_id": DEMO_PROJECT}
            )
        )
        .raise_for_status()
        .json()
    )
    for old in groups:
        if old["name"] == DEMO_GROUP:
            (
                await client.delete(f"{policy_url}/v1/protection-groups/{old['id']}")
            ).raise_for_status()
    body: dict[str, Any] = {
        "name": DEMO_GROUP,
        "project_id": DEMO_PROJECT,
        "source_site": SOURCE,
        "target_site": TARGET,
        "policy_id": policy["id"],
        "members": {"servers": [server_id]},
    }
    created = await client.post(f"{policy_url}/v1/protection-groups", json=body)
    created.raise_for_status()
    return dict(created.json())


def check_at_dr(world: DemoWorld, cp: dict[str, Any]) -> dict[str, Any]:
    """cloudsim's consistency checker over the CP's replica snapshots at site-b."""
    snaps = {m["volume_id"]: m["replica_snapshot_id"] for m in cp["members"]}
    with world.sites.sites[TARGET].admin() as admin:
        report = admin.post("/check", json={"snapshots": snaps})
        report.raise_for_status()
        return dict(report.json())

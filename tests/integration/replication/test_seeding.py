"""Seeding (UC5c) through the public API on the embedded stack: a group created with
`seed_volumes` (a DR-side volume holding an earlier copy, e.g. restored from a backup) sends only
what differs on its first cycle, and its CP says the member was seeded; the replica is then
byte-identical to the source at the CP."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from lifeboat_cli.demo import DEMO_PROJECT, SOURCE, TARGET, demo_world
from lifeboat_cli.stack import Stack
from lifeboat_cli.story import wait_group
from lifeboat_shared.cloud import CloudDriver, SiteConfig
from tests.integration.replication.harness import write_random

pytestmark = pytest.mark.timeout(300)
MIB = 1024 * 1024


def _path(site: object, kind: str, rid: str) -> str:
    with site.admin() as admin:  # type: ignore[attr-defined]
        r = admin.get(f"/{kind}/{rid}")
        r.raise_for_status()
        return str(r.json()["path"])


def _same(a: str, b: str) -> bool:
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(4 * MIB), fb.read(4 * MIB)
            if x != y:
                return False
            if not x:
                return True


async def test_a_seeded_group_sends_only_the_differences(tmp_path: Path) -> None:
    with demo_world(tmp_path) as world:
        driver = CloudDriver(
            [
                SiteConfig(name=s, cloud=s, clouds_yaml=world.sites.clouds_yaml)
                for s in (SOURCE, TARGET)
            ]
        )
        try:
            source = await (await driver.project(SOURCE)).block_storage.create_volume(
                1, name="seeded-src"
            )
            seed = await (await driver.project(TARGET)).block_storage.create_volume(
                1, name="seed-from-backup"
            )
        finally:
            await driver.aclose()
        a, b = world.sites.sites[SOURCE], world.sites.sites[TARGET]
        src_path, seed_path = _path(a, "volumes", source.id), _path(b, "volumes", seed.id)
        # The seed holds an earlier copy: 64 MiB of data; since then 4 MiB changed at the source.
        # (What travels beside them: the receiver's block hashes of the 1 GiB volume, ~130 KB.)
        write_random(src_path, 64, stride_mib=4)
        shutil.copyfile(src_path, seed_path)
        write_random(src_path, 4, stride_mib=16, offset_mib=1)
        differing = 4 * MIB
        assert not _same(src_path, seed_path)

        stack = Stack(
            tmp_path,
            port_base=0,
            overrides={
                "replicator": {"clouds_yaml": world.sites.clouds_yaml},
                "policy": {"clouds_yaml": world.sites.clouds_yaml},
                "orchestrator": {"clouds_yaml": world.sites.clouds_yaml},
            },
        )
        await stack.start()
        try:
            urls = {s.name: s.url for s in stack.services}
            policy = urls["policy"]
            async with httpx.AsyncClient(
                headers={"Authorization": f"Bearer {stack.token}"}, timeout=60
            ) as client:
                for site_id in (SOURCE, TARGET):
                    body = {
                        "cloud": site_id,
                        "role": "both",
                        "data_endpoint": world.receivers[site_id],
                    }
                    (await client.put(f"{policy}/v1/sites/{site_id}", json=body)).raise_for_status()
                pol = (
                    await client.post(
                        f"{policy}/v1/policies",
                        json={"name": "seeded", "rpo_seconds": 600, "quiesce": {"method": "none"}},
                    )
                ).json()
                base = {
                    "name": "seeded",
                    "project_id": DEMO_PROJECT,
                    "source_site": SOURCE,
                    "target_site": TARGET,
                    "policy_id": pol["id"],
                    "members": {"volumes": [source.id]},
                }
                bad = await client.post(
                    f"{policy}/v1/protection-groups",
                    json={**base, "seed_volumes": {source.id: "not an id!"}},
                )
                assert bad.status_code == 422 and "seed_volumes" in bad.text, bad.text
                r = await client.post(
                    f"{policy}/v1/protection-groups",
                    json={**base, "seed_volumes": {source.id: seed.id}},
                )
                assert r.status_code == 201, r.text
                group = r.json()
                assert group["seed_volumes"] == {source.id: seed.id}
                # Its first CP: nobody asks, the first tick is due within min(RPO/2, 5 min);
                # replicate-now makes the test quick.
                (
                    await client.post(f"{policy}/v1/protection-groups/{group['id']}/replicate-now")
                ).raise_for_status()
                status = await wait_group(
                    client, policy, group["id"], lambda g: g["newest_cp_id"], status=True
                )
                cp = (
                    await client.get(
                        f"{urls['replicator']}/v1/consistency-points/{status['newest_cp_id']}"
                    )
                ).json()
        finally:
            await stack.stop()
        (member,) = cp["members"]
        assert member["seeded_from"] == seed.id and member["replica_volume_id"] == seed.id
        sent = cp["bytes_sent"]
        print(f"seeded: sent {sent} bytes for {differing} differing ({sent / differing:.3f}x)")
        assert sent <= 1.05 * differing, (sent, differing)
        assert sent >= differing * 0.9, "the differences did travel"
        assert _same(
            _path(a, "snapshots", member["source_snapshot_id"]),
            _path(b, "snapshots", member["replica_snapshot_id"]),
        ), "the replica at the CP is the source at the CP"

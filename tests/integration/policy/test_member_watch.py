"""UC4 against a real cloudsim site: a protected VM shutting down, or losing a volume, asks for a
consistency point at once (ReplicateNow with trigger shutdown / detach)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from cloudsim.testing import running_sites
from lifeboat_policy.service_layer.watcher import MemberWatcher
from lifeboat_shared.cloud import CloudDriver, SiteConfig
from lifeboat_shared.contracts.messages import ReplicateNow
from tests.integration.policy.conftest import TOKEN, Policy


@pytest.fixture(params=["sqlite"])
def policy_settings(tmp_path: Path) -> dict[str, object]:
    return {
        "data_dir": tmp_path,
        "api_token": TOKEN,
        "json_logs": False,
        "scheduler_enabled": False,
        "member_watch_interval_seconds": 0,  # the test drives the passes
    }


async def test_shutdown_and_detach_ask_for_a_cp(policy: Policy, tmp_path: Path) -> None:
    with running_sites(["site-a", "site-b"], tmp_path / "sites") as sites:
        driver = CloudDriver(
            [SiteConfig(name="site-a", cloud="site-a", clouds_yaml=sites.clouds_yaml)]
        )
        try:
            project = await driver.project("site-a")
            flavor_id = (await project.compute.list_flavors())[0].id
            assert flavor_id is not None
            boot = await project.block_storage.create_volume(1, name="boot", bootable=True)
            data = await project.block_storage.create_volume(1, name="data")
            server = await project.compute.create_server(
                "db", flavor_id, boot_volume_id=boot.id, data_volume_ids=[data.id]
            )
            await policy.post("/v1/sites", {"site_id": "a", "cloud": "site-a", "role": "protected"})
            await policy.post(
                "/v1/sites",
                {"site_id": "b", "cloud": "site-b", "role": "recovery", "data_endpoint": "h:1"},
            )
            pol = await policy.post(
                "/v1/policies",
                {
                    "name": f"p-{uuid.uuid4().hex[:6]}",
                    "rpo_seconds": 3600,
                    "replicate_on": {"shutdown": True, "detach": True},
                },
            )
            group = await policy.post(
                "/v1/protection-groups",
                {
                    "name": "db",
                    "project_id": "demo",
                    "source_site": "a",
                    "target_site": "b",
                    "policy_id": pol["id"],
                    "members": {"servers": [server.id]},
                },
            )
            watcher = MemberWatcher(policy.runtime, sites.clouds_yaml)
            try:
                assert await watcher.pass_once() == []  # first look: records only
                assert await watcher.pass_once() == []  # nothing changed
                await project.compute.detach_volume(server.id, data.id)
                assert await watcher.pass_once() == [(group["id"], "detach")]
                await project.compute.stop_server(server.id)
                assert await watcher.pass_once() == [(group["id"], "shutdown")]
                assert await watcher.pass_once() == []  # once per transition
            finally:
                await watcher.aclose()
        finally:
            await driver.aclose()
    commands = await policy.events(ReplicateNow)
    assert [c.trigger for c in commands] == ["detach", "shutdown"]
    detach = commands[0]
    assert detach.group_id == group["id"]
    assert data.id in detach.spec.volumes, "the detached volume is in the final CP"
    assert detach.spec.servers == [server.id]

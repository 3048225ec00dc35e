"""UC7 in a recovery plan (real Kafka, PostgreSQL, cloudsim over HTTP): a standalone volume
protected by the backup strategy (a full Cinder backup, exported and imported at site-b as the
replicator does) is restored at failover from the CP's backup, byte-identical to the source at
the CP, and attached to a server made from the plan's stateless template."""

from __future__ import annotations

from pathlib import Path

import pytest

from lifeboat_replicator.adapters.backup_strategy import backup_cycle
from lifeboat_shared.cloud import CloudDriver, SiteConfig
from lifeboat_shared.contracts.messages import CpMember
from tests.integration.orchestrator.harness import (
    AUTH,
    make_app,
    orchestrated,
    plan_body,
    replica_cp,
)
from tests.integration.replication.harness import write_random
from tests.integration.replication.test_protection import _digest

pytestmark = pytest.mark.timeout(300)
A, B = "site-a", "site-b"


async def test_failover_restores_a_standalone_volume_from_its_backup_onto_a_template_server(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    async with orchestrated(tmp_path, postgres_url, kafka_bootstrap, [A, B]) as o:
        src, dr = await o.project(A), await o.project(B)
        app = await make_app(src, {"db": 1})
        vol = (await src.block_storage.create_volume(1, name="app-all-in-one")).id
        with o.sites.sites[A].admin() as a:
            path = a.get(f"/volumes/{vol}").json()["path"]
        write_random(path, 3, offset_mib=7)
        admins = CloudDriver(
            [
                SiteConfig(name=s, cloud=f"{s}-admin", clouds_yaml=o.sites.clouds_yaml)
                for s in (A, B)
            ]
        )
        try:  # play the replicator's backup strategy for the standalone volume
            point = await backup_cycle(
                src,
                dr,
                cycle_id="c-uc7",
                volume_id=vol,
                parent_backup_id=None,
                source_admin=await admins.project(A, "demo"),
                target_admin=await admins.project(B, "demo"),
                keep_snapshot=True,
            )
        finally:
            await admins.aclose()
        with o.sites.sites[A].admin() as a:
            at_cp = _digest(a.get(f"/snapshots/{point.snapshot_id}").json()["path"])
        write_random(path, 1, offset_mib=900)  # after the CP: must not be restored
        cp = await replica_cp(dr, app, A, B)
        backed = CpMember(
            source_volume_id=vol,
            size_gib=1,
            source_snapshot_id=point.snapshot_id,
            backup_id=point.target_backup_id,
            source_backup_id=point.source_backup_id,
            bytes_changed=0,
            bytes_sent=0,
        )
        await o.publish([cp.model_copy(update={"members": [*cp.members, backed]})])

        body = plan_body(app, A, [B], "uc7")
        app_tier = {
            "name": "app",
            "stateless": [
                {"name": "app", "flavor": "m1.tiny", "image": "cirros", "network": "private"}
            ],
            "volumes": [{"volume_id": vol, "attach_to": "app"}],
        }
        bad = {**app_tier, "volumes": [{"volume_id": vol, "attach_to": "web"}]}
        refused = await o.client.post(
            f"{o.base}/v1/plans", json={**body, "tiers": [*body["tiers"], bad]}, headers=AUTH
        )
        assert refused.status_code == 422 and "attaches to web" in refused.text, refused.text
        plan = await o.plan({**body, "tiers": [*body["tiers"], app_tier]})
        e = await o.run(plan["id"], "failover")
        assert e["state"] == "succeeded", e["error"]

        steps = {s["id"]: s for s in e["steps"]}
        restored = steps[f"volume:{vol}"]["result"]
        assert restored["backup_id"] == point.target_backup_id
        server = steps["stateless:app-0"]["result"]
        assert server["volumes"] == {vol: restored["volume_id"]}
        attached = await dr.block_storage.get_volume(restored["volume_id"])
        assert [x.server_id for x in attached.attachments] == [server["server_id"]]
        with o.sites.sites[B].admin() as b:
            assert _digest(b.get(f"/volumes/{restored['volume_id']}").json()["path"]) == at_cp

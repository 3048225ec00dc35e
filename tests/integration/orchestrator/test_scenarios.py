"""Recovery scenarios over real Kafka, PostgreSQL and cloudsim, with the orchestrator as its own
process: 20% 503/429 from Nova and Cinder, two recovery sites and an evacuation in approved
waves (UC3a, UC9), a bubble test that leaves production and the DR site as they were (UC1e), and a
split brain reconciled without losing the losing side's data (UC6)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lifeboat_shared.cloud.tags import META_OP
from tests.integration.orchestrator.harness import (
    inventory,
    make_app,
    orchestrated,
    plan_body,
    replica_cp,
)
from tests.support.faults import record_fault

pytestmark = pytest.mark.timeout(600)
faults = pytest.mark.faults
A, B, C = "site-a", "site-b", "site-c"


@faults
async def test_failover_through_503_and_429(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    async with orchestrated(tmp_path, postgres_url, kafka_bootstrap, [A, B]) as o:
        app = await make_app(await o.project(A), {"db": 4, "app": 8, "web": 8})
        await o.publish([await replica_cp(await o.project(B), app, A, B)])
        plan = await o.plan(plan_body(app, A, [B], "faults"))
        rules = [
            {"operation": op, "error_rate": 0.2, "status": status, "retry_after": 0}
            for op in ("server.create", "server.show", "volume.create", "volume.show")
            for status in (503, 429)
        ]
        with o.sites.sites[B].admin() as admin:
            admin.put("/rules", json={"rules": rules}).raise_for_status()
        try:
            e = await o.run(plan["id"], "failover")
        finally:
            with o.sites.sites[B].admin() as admin:
                admin.delete("/rules").raise_for_status()
        dr = await o.project(B)
        servers = [s for s in await dr.compute.list_servers() if s.metadata.get(META_OP) == e["id"]]
        volumes = [
            v for v in await dr.block_storage.list_volumes() if v.metadata.get(META_OP) == e["id"]
        ]
        made = {s["result"]["server_id"] for s in e["steps"] if s["action"] == "recover"}
        made_vols = {
            v
            for s in e["steps"]
            if s["action"] == "recover"
            for v in s["result"]["volumes"].values()
        }
        retried = sum(s["attempts"] - 1 for s in e["steps"])
        assert e["state"] == "succeeded", e["error"]
        orphans = len({s.id for s in servers} ^ made) + len({v.id for v in volumes} ^ made_vols)
        record_fault(
            "20% 503/429 from Nova and Cinder at the DR site during a 20-VM failover",
            tried=20,
            survived=len(made) if e["state"] == "succeeded" else 0,
            lost=orphans,
            detail=f"{retried} step retries on top of the driver's; {orphans} orphans",
        )
        # 0 orphans: everything tagged with the execution is what its steps recorded, once.
        assert {s.id for s in servers} == made and len(made) == 20
        assert {v.id for v in volumes} == made_vols and len(made_vols) == 20


async def test_two_recovery_sites_and_an_evacuation_in_waves(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    async with orchestrated(tmp_path, postgres_url, kafka_bootstrap, [A, B, C]) as o:
        source = await o.project(A)
        apps = [await make_app(source, {"db": 1, "web": 2}, prefix=f"app{i}") for i in range(2)]
        cps = []
        for app in apps:
            for target in (B, C):  # UC3a: the same groups replicated to two sites
                cps.append(await replica_cp(await o.project(target), app, A, target))
        await o.publish(cps)
        plans = [await o.plan(plan_body(app, A, [B, C], f"p{i}")) for i, app in enumerate(apps)]
        evac = await o.post(
            "/v1/evacuations",
            {"source_site": A, "target_sites": [B, C], "wave_size": 1, "max_parallel": 1},
        )
        assert [w["state"] for w in evac["waves"]] == ["awaiting-approval"] * 2
        for wave in range(2):
            await o.post(f"/v1/evacuations/{evac['id']}/approve")
            entry = None
            for _ in range(300):
                evac = await o.get(f"/v1/evacuations/{evac['id']}")
                entry = evac["waves"][wave]["plans"][0]
                if entry["state"] not in ("pending", "running"):
                    break
                await asyncio.sleep(0.2)
            assert entry is not None and entry["state"] == "succeeded", evac
        assert evac["state"] == "succeeded"
        assert evac["summary"]["vms_recovered"] == 6
        targets = sorted(
            [(await o.get(f"/v1/plans/{p['id']}"))["state"]["active_site"] for p in plans]
        )
        assert targets == [B, C], "spread over both recovery sites by load"


async def test_bubble_test_leaves_everything_as_it_was(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    async with orchestrated(tmp_path, postgres_url, kafka_bootstrap, [A, B]) as o:
        app = await make_app(await o.project(A), {"db": 2, "web": 2})
        await o.publish([await replica_cp(await o.project(B), app, A, B)])
        plan = await o.plan(plan_body(app, A, [B], "bubble"))
        before = {A: await inventory(o.sites, A), B: await inventory(o.sites, B)}
        test = await o.run(plan["id"], "test-failover")
        assert test["state"] == "succeeded", test["error"]
        during = await inventory(o.sites, B)
        assert len(during["servers"] - before[B]["servers"]) == 4
        assert await inventory(o.sites, A) == before[A], "production untouched"
        cleanup = await o.run(plan["id"], "test-cleanup", test_id=test["id"])
        assert cleanup["state"] == "succeeded", cleanup["error"]
        assert await inventory(o.sites, B) == before[B], "nothing left behind"
        assert await inventory(o.sites, A) == before[A]
        state = (await o.get(f"/v1/plans/{plan['id']}"))["state"]
        assert state["status"] == "protected" and state["active_site"] == A
        # A bubble left alone is torn down by itself when its timeout passes.
        short = await o.plan({**plan_body(app, A, [B], "bubble-short"), "test_timeout_seconds": 1})
        test = await o.run(short["id"], "test-failover")
        assert test["state"] == "succeeded", test["error"]
        cleanup = None
        for _ in range(100):
            runs = await o.get(f"/v1/executions?plan_id={short['id']}")
            cleanup = next((r for r in runs if r["kind"] == "test-cleanup"), None)
            if cleanup is not None:
                break
            await asyncio.sleep(0.2)
        assert cleanup is not None, "the expired bubble was not torn down"
        assert (await o.wait(cleanup["id"]))["state"] == "succeeded"
        assert await inventory(o.sites, B) == before[B], "nothing left behind"


async def test_split_brain_keeps_the_losing_side_as_snapshots(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    async with orchestrated(tmp_path, postgres_url, kafka_bootstrap, [A, B]) as o:
        app = await make_app(await o.project(A), {"db": 1, "web": 1})
        await o.publish([await replica_cp(await o.project(B), app, A, B)])
        body = plan_body(
            app,
            A,
            [B],
            "split",
            split_brain={"on_partition": "both-online", "reconcile": "keep-primary"},
        )
        plan = await o.plan(body)
        primary = await inventory(o.sites, A)
        # A partition with both sites up: the DR copy comes online too (degraded mode).
        degraded = await o.run(plan["id"], "failover", degraded=True)
        assert degraded["state"] == "succeeded", degraded["error"]
        state = (await o.get(f"/v1/plans/{plan['id']}"))["state"]
        assert state["status"] == "split-brain" and state["active_site"] == A
        dr_servers = {p["server_id"] for p in state["dr_copy"].values()}
        dr_volumes = {v for p in state["dr_copy"].values() for v in p["volumes"].values()}
        assert len(dr_servers) == 2
        # The link is back: keep the primary; the DR copy's divergent data stays as snapshots.
        rec = await o.run(plan["id"], "reconcile")
        assert rec["state"] == "succeeded", rec["error"]
        kept = [
            s
            for st in rec["steps"]
            if st["action"] == "keep-divergent"
            for s in st["result"]["snapshots"]
        ]
        snaps = {s.id: s for s in await (await o.project(B)).block_storage.list_snapshots()}
        assert len(kept) == 2 and all(k in snaps for k in kept)
        assert {snaps[k].volume_id for k in kept} == dr_volumes
        after_b = await inventory(o.sites, B)
        assert not dr_servers & after_b["servers"], "the DR copy's servers are gone"
        assert dr_volumes <= after_b["volumes"], "its volumes stay, with their snapshots"
        assert (await inventory(o.sites, A))["servers"] == primary["servers"]
        state = (await o.get(f"/v1/plans/{plan['id']}"))["state"]
        assert state["status"] == "protected" and state["active_site"] == A


async def test_cold_dr_network_stateless_members_floating_ips_dns_and_automatic_failover(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    """UC2 + UC8 + UC1b: the DR network is created at failover (cold), web servers are made from a
    template with user data, recovered servers get floating IPs and DNS follows; the plan fails
    over by itself when its site is declared down (a site-health event on Kafka)."""
    from datetime import UTC, datetime

    from lifeboat_shared.contracts.messages import SiteDeclaredDown

    async with orchestrated(tmp_path, postgres_url, kafka_bootstrap, [A, B]) as o:
        app = await make_app(await o.project(A), {"db": 2})
        await o.publish([await replica_cp(await o.project(B), app, A, B)])
        dr = await o.project(B)
        zone = await dr.dns.create_zone("cold.example.", "ops@cold.example", wait=True)
        body = plan_body(app, A, [B], "cold")
        body["tiers"].append(
            {
                "name": "web",
                "stateless": [
                    {
                        "name": "web",
                        "count": 3,
                        "flavor": "m1.tiny",
                        "image": "cirros",
                        "network": "private",
                        "user_data": "#cloud-config\nruncmd: [start-web]\n",
                    }
                ],
            }
        )
        body.update(
            environment="cold",
            network_mappings=[
                {"source_network": "private", "target_network": "shop-dr", "ip_mode": "keep"}
            ],
            floating_ips=True,
            external_network="public",
            dns=[
                {"zone": "cold.example.", "name": "db.cold.example.", "server": app.tiers["db"][0]}
            ],
            failover_mode="automatic",
        )
        plan = await o.plan(body)
        await o.publish(
            [
                SiteDeclaredDown(
                    site_id=A, reason="test", declared_by="probe", declared_at=datetime.now(UTC)
                )
            ]
        )
        execution = None
        for _ in range(150):
            runs = await o.get(f"/v1/executions?plan_id={plan['id']}")
            if runs:
                execution = runs[0]
                break
            await asyncio.sleep(0.2)
        assert execution is not None, "no automatic failover"
        e = await o.wait(execution["id"])
        assert e["state"] == "succeeded", e["error"]
        assert e["requested_by"].startswith("site-down:")
        nets = {n.name: n for n in await dr.network.list_networks()}
        assert "shop-dr" in nets, "cold: the DR network was created"
        web = [s for s in e["steps"] if s["action"] == "stateless"]
        assert len(web) == 3 and all(s["result"]["addresses"] for s in web)
        db = [s for s in e["steps"] if s["action"] == "recover"]
        fips = {s["result"]["floating_ip"] for s in db}
        assert None not in fips and len(fips) == 2
        records = await dr.dns.list_recordsets(zone.id, name="db.cold.example.", type="A")
        assert len(records) == 1 and records[0].records[0] in fips
        ports = [p for p in await dr.network.list_ports() if p.network_id == nets["shop-dr"].id]
        kept = {ip.ip_address for p in ports for ip in p.fixed_ips}
        captured = (await o.get(f"/v1/plans/{plan['id']}"))["capture"]["servers"]
        wanted = {
            ip for s in captured.values() for port in s["ports"] for _c, ip in port["fixed_ips"]
        }
        assert wanted <= kept, "the same fixed IPs in the new DR network"

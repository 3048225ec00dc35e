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
    AUTH,
    create_plan,
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
    """UC3a x UC9: both plans list [site-b, site-c], but p0's group has CPs only at site-c (from a
    replication leg to an extra target) and p1's only at site-b. Readiness shows where each
    group's CPs are; an explicit failover to a site without them is refused (409); the
    evacuation sends each plan where its CPs are (not by load alone, which would send p0 to
    site-b) and succeeds; a plan with no CP anywhere is reported not evacuable, with the
    reason, before anything starts."""
    async with orchestrated(tmp_path, postgres_url, kafka_bootstrap, [A, B, C]) as o:
        source = await o.project(A)
        apps = [await make_app(source, {"db": 1, "web": 2}, prefix=f"app{i}") for i in range(3)]
        homes = [C, B]  # where each app's group replicates to; apps[2] has no CP anywhere
        cps = [
            await replica_cp(await o.project(t), app, A, t)
            for app, t in zip(apps[:2], homes, strict=True)
        ]
        # p0's CP comes from its group's leg to an extra target site (policy: group id
        # "<group>:<site>"), the orchestrator counts it as the group's CP at site-c.
        cps[0] = cps[0].model_copy(update={"group_id": f"{apps[0].group}:{C}"})
        await o.publish(cps)
        plans = [await o.plan(plan_body(apps[i], A, [B, C], f"p{i}")) for i in range(2)]
        ready = (await o.post(f"/v1/plans/{plans[0]['id']}/readiness"))["readiness"]
        assert ready["ready"] and ready["qualifying_sites"] == [C] and ready["ready_sites"] == [C]
        table = {row["site"]: row for row in ready["sites"]}
        assert not table[B]["qualifies"] and table[C]["qualifies"]
        assert table[B]["groups"] == [
            {
                "group": apps[0].group,
                "consistency_point_id": None,
                "taken_at": None,
                "age_seconds": None,
            }
        ]
        [cp_c] = table[C]["groups"]
        assert cp_c["group"] == apps[0].group and cp_c["consistency_point_id"]
        assert 0 <= cp_c["age_seconds"] < 300
        refused = await o.client.post(
            f"{o.base}/v1/plans/{plans[0]['id']}/executions",
            json={"kind": "failover", "target_site": B},
            headers=AUTH,
        )
        assert refused.status_code == 409, refused.text
        assert refused.json()["detail"] == (
            f"target_site: {B} has no verified consistency point of group {apps[0].group}"
        )
        evac = await o.post(
            "/v1/evacuations",
            {"source_site": A, "target_sites": [B, C], "wave_size": 1, "max_parallel": 1},
        )
        assert evac["not_evacuable"] == [] and evac["summary"]["not_evacuable"] == []
        assert [w["state"] for w in evac["waves"]] == ["awaiting-approval"] * 2
        assert {e["name"]: e["target_site"] for w in evac["waves"] for e in w["plans"]} == {
            "p0": C,
            "p1": B,
        }
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
        assert evac["summary"]["vms_by_target"] == {B: 3, C: 3}
        at = [(await o.get(f"/v1/plans/{p['id']}"))["state"]["active_site"] for p in plans]
        assert at == homes, "each plan went where its CPs are"
        # A plan whose group has no CP at any of its recovery sites: not evacuable, said up front.
        await create_plan(o.client, o.base, plan_body(apps[2], A, [B, C], "p2"))
        r = await o.client.post(
            f"{o.base}/v1/evacuations", json={"source_site": A, "approval": "none"}, headers=AUTH
        )
        assert r.status_code == 409, r.text
        group = apps[2].group
        assert r.json()["detail"] == (
            f"consistency_points: no plan can be evacuated: p2: {B} has no verified consistency "
            f"point of group {group}; {C} has no verified consistency point of group {group}"
        )
        r = await o.client.post(
            f"{o.base}/v1/plans/p2/executions", json={"kind": "failover"}, headers=AUTH
        )
        assert r.status_code == 409 and f"{C} has no verified consistency point" in r.text


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

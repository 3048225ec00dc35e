"""UC6 through the public API on the embedded stack (policy, replicator, orchestrator running;
cloudsim sites): a degraded failover brings the DR copy up beside the running primary (split
brain), both copies write, then reconcile keep-both keeps every record of both sides (cloudsim's
checker: the DR copy's in its snapshots after it stopped, the primary's in the next CP) and
replication runs again by itself."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from lifeboat_cli.demo import SOURCE, TARGET, demo_world
from lifeboat_cli.stack import Stack
from lifeboat_cli.story import protect_app, wait_execution, wait_group, wait_new_cp

pytestmark = pytest.mark.timeout(420)


async def _writes(site: Any, workload: str, more: int) -> int:
    """Until the workload wrote ``more`` records (counted, not slept for)."""
    with site.admin() as admin:
        first = admin.get(f"/workloads/{workload}").json()["last_seq"]
        deadline = time.monotonic() + 60
        while (seq := admin.get(f"/workloads/{workload}").json()["last_seq"]) < first + more:
            assert time.monotonic() < deadline, f"workload {workload} stopped writing"
            await asyncio.sleep(0.05)
    return int(seq)


def _check(site: Any, snapshots: dict[str, str], workload: str, last_seq: int) -> dict[str, Any]:
    with site.admin() as admin:
        r = admin.post(
            "/check",
            json={"snapshots": snapshots, "expected_last_seq": last_seq, "workload_id": workload},
        )
        r.raise_for_status()
        return dict(r.json())


async def _run(client: httpx.AsyncClient, orch: str, plan_id: str, **body: Any) -> dict[str, Any]:
    r = await client.post(f"{orch}/v1/plans/{plan_id}/executions", json=body)
    assert r.status_code == 202, r.text
    await wait_execution(client, orch, r.json()["id"], lambda *_: None)
    return dict((await client.get(f"{orch}/v1/executions/{r.json()['id']}")).json())


async def test_keep_both_keeps_every_record_of_both_sides_and_replicates_again(
    tmp_path: Path,
) -> None:
    with demo_world(tmp_path) as world:
        stack = Stack(
            tmp_path,
            port_base=0,
            overrides={
                "replicator": {"clouds_yaml": world.sites.clouds_yaml},
                "policy": {"clouds_yaml": world.sites.clouds_yaml},
                "orchestrator": {
                    "clouds_yaml": world.sites.clouds_yaml,
                    "runner_interval_seconds": 0.1,
                },
            },
        )
        await stack.start()
        a, b = world.sites.sites[SOURCE], world.sites.sites[TARGET]
        try:
            urls = {s.name: s.url for s in stack.services}
            orch, policy = urls["orchestrator"], urls["policy"]
            async with httpx.AsyncClient(
                headers={"Authorization": f"Bearer {stack.token}"}, timeout=60
            ) as client:
                plan, servers = await protect_app(
                    client,
                    urls,
                    world,
                    lambda *_: None,
                    plan_extra={
                        "split_brain": {"on_partition": "both-online", "reconcile": "keep-both"}
                    },
                )
                group = plan["spec"]["groups"][0]
                # Both sites up, the link cut (as an operator sees it): the DR copy comes up too.
                degraded = await _run(client, orch, plan["id"], kind="failover", degraded=True)
                assert degraded["state"] == "succeeded", degraded["error"]
                state = (await client.get(f"{orch}/v1/plans/{plan['id']}")).json()
                assert state["state"]["status"] == "split-brain"
                assert state["next_executions"] == ["reconcile"]
                # The policy service applies the suspension when ExecutionCompleted arrives.
                status = await wait_group(
                    client, policy, group, lambda g: g["suspended"], status=True
                )
                assert status["suspended_by"] == "split-brain", status
                resume = await client.post(f"{policy}/v1/protection-groups/{group}/resume")
                assert resume.status_code == 409, "a split brain's group resumes by reconcile"
                dr_db = state["state"]["dr_copy"][servers["db"]]
                # Both copies write: the primary's workload goes on, one starts on the DR copy.
                with b.admin() as admin:
                    admin.post(
                        "/workloads",
                        json={
                            "workload_id": "dr-db",
                            "servers": [dr_db["server_id"]],
                            "rate_per_s": 200,
                        },
                    ).raise_for_status()
                await _writes(b, "dr-db", 50)
                await _writes(a, "shop-db", 50)

                rec = await _run(client, orch, plan["id"], kind="reconcile")
                assert rec["state"] == "succeeded", rec["error"]
                resolved = next(s for s in rec["steps"] if s["id"] == "resolve")["result"]
                assert resolved["policy"] == "keep-both"
                kept = resolved["kept"]
                assert set(kept) == {SOURCE, TARGET}, "both sides kept as snapshots"
                assert set(resolved["detached"]) == set(servers.values())

                # The DR copy stopped before its snapshots: every record it wrote is in them.
                with b.admin() as admin:
                    dr_workload = admin.get("/workloads/dr-db").json()
                assert dr_workload["paused"], "the DR copy's servers were stopped"
                dr_snaps = {
                    f"v{i}": kept[TARGET][vol] for i, vol in enumerate(dr_db["volumes"].values())
                }
                report = _check(b, dr_snaps, "dr-db", dr_workload["last_seq"])
                assert report["missing_records"] == 0 and report["crash_consistent"], report
                # The primary's snapshots are there too (it kept running: no expected end).
                primary_vols = set(kept[SOURCE])
                assert len(primary_vols) == 4

                # Replication runs again by itself: the next CP holds every primary record.
                state = (await client.get(f"{orch}/v1/plans/{plan['id']}")).json()["state"]
                assert state["status"] == "protected" and state["protected_to"] == TARGET
                assert set(state["detached"]) == set(servers.values())
                with a.admin() as admin:
                    stopped = admin.post("/workloads/shop-db/stop").json()
                after = datetime.now(UTC).isoformat()
                cp = await wait_new_cp(client, policy, group, after=after)
                assert not cp["suspended"]
                detail = (
                    await client.get(f"{urls['replicator']}/v1/consistency-points/{cp['cp']}")
                ).json()
                db_members = [m for m in detail["members"] if m["server_id"] == servers["db"]]
                assert len(db_members) == 2
                report = _check(
                    b,
                    {f"v{i}": m["replica_snapshot_id"] for i, m in enumerate(db_members)},
                    "shop-db",
                    stopped["last_seq"],
                )
                assert report["missing_records"] == 0 and report["crash_consistent"], report
                assert report["last_seq"] == stopped["last_seq"] > 0
        finally:
            await stack.stop()

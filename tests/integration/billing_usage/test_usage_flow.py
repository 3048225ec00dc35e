"""Usage from every service, once each (issue #16), on Kafka + PostgreSQL with cloudsim: protect
a 3-tier app, let CPs happen, fail over, reprotect, let a window pass, fail back; then billing's
ledger (`GET /v1/usage`) against an independent recomputation from what the test observed, and a
replay (a second metering pass of each service, every usage re-delivered) that adds nothing.

Windows are time-scaled (a few seconds, ``W``): quantities stay in real hours."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from lifeboat_cli.demo import DEMO_PROJECT, SOURCE, TARGET, demo_world
from lifeboat_cli.stack import Stack
from lifeboat_cli.story import _wait_site_state, protect_app, wait_execution, wait_group
from lifeboat_orchestrator.service_layer.usage import emit_dr_usage
from lifeboat_policy.service_layer.usage import emit_usage
from lifeboat_shared.bus.records import Record
from lifeboat_shared.cloud import CloudDriver, SiteConfig
from lifeboat_shared.contracts.envelope import Envelope, decode_record, encode_envelope
from lifeboat_shared.contracts.messages import UsageRecorded
from lifeboat_shared.contracts.messages.billing import METRIC_UNITS
from lifeboat_shared.persistence.tables import outbox
from lifeboat_shared.service.runtime import ServiceRuntime
from tests.integration.replication.harness import fresh_database

pytestmark = pytest.mark.timeout(400)

W = 4  # usage window, seconds (policy and orchestrator)
PASS = 0.5  # metering pass interval, seconds
SLACK = 2 * PASS + 1.0  # a state change is seen at most one pass late, plus commit-to-poll delay
GIB = 1024**3
EXPECTED = {
    "replicated_bytes",
    "stored_gb_hours",
    "protected_vm_hours",
    "protected_gb_hours",
    "dr_vm_hours",
    "dr_vcpu_hours",
}


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def hours(seconds: float) -> float:
    return seconds / 3600


async def staged_usage(runtime: ServiceRuntime) -> list[UsageRecorded]:
    async with runtime.db.read() as s:
        rows = await s.execute(sa.select(outbox).order_by(outbox.c.id))
        envelopes = [
            decode_record(
                Record(
                    topic=r.topic,
                    key=r.key,
                    value=r.value,
                    headers=tuple((k, v.encode()) for k, v in r.headers.items()),
                )
            )
            for r in rows
        ]
    return [e.message for e in envelopes if isinstance(e.message, UsageRecorded)]


def mine(usage_id: str, group_id: str | None, ours: set[str]) -> bool:
    return group_id in ours or any(x in usage_id for x in ours)


async def ledger(client: httpx.AsyncClient, billing: str, ours: set[str]) -> list[dict[str, Any]]:
    """Billing's entries of this test's groups and plan (the Kafka topics are shared)."""
    r = await client.get(f"{billing}/v1/usage", params={"project_id": DEMO_PROJECT})
    r.raise_for_status()
    return [e for e in r.json()["entries"] if mine(e["usage_id"], e["group_id"], ours)]


async def wait_for(what: str, check: Any, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not seen within {timeout:.0f} s")
        await asyncio.sleep(0.3)


async def test_usage_of_a_dr_cycle_once_each(
    tmp_path: Path,
    kafka_bootstrap: str,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    database = await fresh_database(postgres_url)
    for key, value in {
        "LIFEBOAT_BUS": "kafka",
        "LIFEBOAT_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "LIFEBOAT_DATABASE_URL": database,
        "LIFEBOAT_TOPIC_PARTITIONS": "3",
    }.items():
        monkeypatch.setenv(key, value)
    usage = {"usage_window_seconds": W, "usage_pass_interval_seconds": PASS}
    with demo_world(tmp_path) as world:
        stack = Stack(
            tmp_path,
            port_base=0,
            overrides={
                "replicator": {"clouds_yaml": world.sites.clouds_yaml},
                "policy": {"clouds_yaml": world.sites.clouds_yaml, **usage},
                "orchestrator": {
                    "clouds_yaml": world.sites.clouds_yaml,
                    "runner_interval_seconds": 0.1,
                    "step_backoff_seconds": 0.2,
                    **usage,
                },
            },
        )
        await stack.start()
        try:
            urls = {s.name: s.url for s in stack.services}
            runtimes = {s.name: s.app.state.runtime for s in stack.services}
            async with httpx.AsyncClient(
                headers={"Authorization": f"Bearer {stack.token}"}, timeout=60
            ) as client:
                await _cycle(client, urls, runtimes, world, stack)
        finally:
            await stack.stop()


async def _cycle(
    client: httpx.AsyncClient,
    urls: dict[str, str],
    runtimes: dict[str, ServiceRuntime],
    world: Any,
    stack: Stack,
) -> None:
    orch, policy, billing, replicator = (
        urls["orchestrator"],
        urls["policy"],
        urls["billing"],
        urls["replicator"],
    )
    said: list[tuple[str, dict[str, Any]]] = []
    plan, _servers = await protect_app(client, urls, world, lambda w, d: said.append((w, d)))
    group = plan["spec"]["groups"][0]
    created = ts((await client.get(f"{policy}/v1/protection-groups/{group}")).json()["created_at"])

    async def execute(kind: str) -> dict[str, Any]:
        r = await client.post(f"{orch}/v1/plans/{plan['id']}/executions", json={"kind": kind})
        r.raise_for_status()
        return await wait_execution(client, orch, r.json()["id"], lambda w, d: None)

    # Fail over (site-a cut), reprotect (site-a back), a window at the DR site, fail back.
    with world.sites.sites[SOURCE].admin() as admin:
        admin.post("/down", json={"mode": "503"}).raise_for_status()
    (
        await client.post(f"{orch}/v1/sites/{SOURCE}/declare-down", json={"reason": "t"})
    ).raise_for_status()
    await _wait_site_state(client, orch, SOURCE, "down")
    failover = await execute("failover")
    suspended = await wait_group(client, policy, group, lambda g: g["suspended"])
    suspended_seen = datetime.now(UTC)
    placed = (await client.get(f"{orch}/v1/plans/{plan['id']}")).json()["state"]["placement"]
    dr_servers = {p["server_id"] for p in placed.values()}
    assert {p["site"] for p in placed.values()} == {TARGET} and len(dr_servers) == 3
    # vCPUs of the recovered servers, read at the DR site (openstacksdk; failback deletes them)
    driver = CloudDriver(
        [SiteConfig(name=TARGET, cloud=TARGET, clouds_yaml=world.sites.clouds_yaml)]
    )
    try:
        dr = await driver.project(TARGET)
        vcpus = {}
        for sid in dr_servers:
            flavor = (await dr.compute.get_server(sid)).flavor
            assert flavor is not None
            vcpus[sid] = flavor.vcpus
    finally:
        await driver.aclose()

    with world.sites.sites[SOURCE].admin() as admin:
        admin.post("/up").raise_for_status()
    (await client.post(f"{orch}/v1/sites/{SOURCE}/declare-up")).raise_for_status()
    await execute("reprotect")
    reverse = await wait_group(client, policy, f"{group}.reverse", lambda g: True)
    await asyncio.sleep(W + PASS)  # a whole window at the DR site (the flow's pace, no verdict)
    failback = await execute("failback")
    await wait_group(client, policy, group, lambda g: not g["suspended"])
    failed_over = ts(failover["finished_at"])
    failed_back = ts(failback["finished_at"])
    assert suspended["suspended"]

    # Everything metered up to the failback is in billing once the window after it closed.
    ours = {group, reverse["id"], plan["id"]}
    closes = failed_back + timedelta(seconds=W + 2 * PASS)

    async def complete() -> list[dict[str, Any]] | None:
        if datetime.now(UTC) < closes:
            return None
        entries = await ledger(client, billing, ours)
        dr_end = max(
            (ts(e["period_end"]) for e in entries if e["metric"] == "dr_vm_hours"), default=None
        )
        metrics = {e["metric"] for e in entries}
        return entries if metrics >= EXPECTED and dr_end and dr_end >= failed_back else None

    entries = await wait_for("every metric in billing", complete, timeout=120)
    ids = [e["usage_id"] for e in entries]
    assert not [i for i, n in Counter(ids).items() if n > 1]
    for e in entries:
        assert e.get("unit", METRIC_UNITS[e["metric"]]) == METRIC_UNITS[e["metric"]]
    by: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        by.setdefault(e["metric"], []).append(e)

    # replicated_bytes: one per CP of our groups, its bytes_sent from the replicator's API
    cps: dict[str, dict[str, Any]] = {}
    for g in (group, reverse["id"]):
        listed = await client.get(
            f"{replicator}/v1/consistency-points",
            params={"group_id": g, "include_pruned": "true", "limit": 1000},
        )
        cps.update({c["id"]: c for c in listed.json()})
    sent = {e["usage_id"].removeprefix("replicated_bytes-"): e for e in by["replicated_bytes"]}
    assert set(sent) <= set(cps)
    assert {c for c, cp in cps.items() if ts(cp["created_at"]) < failed_back} <= set(sent)
    for cp_id, e in sent.items():
        assert Decimal(e["quantity"]) == cps[cp_id]["bytes_sent"], (e, cps[cp_id])
    assert sum(Decimal(e["quantity"]) for e in sent.values()) == sum(
        cps[c]["bytes_sent"] for c in sent
    )

    # stored_gb_hours: at least the replica volumes' size over the window, at most that plus
    # every change of the group's CPs
    for e in by["stored_gb_hours"]:
        cp = cps[e["usage_id"].removeprefix("stored_gb_hours-")]
        h = hours((ts(e["period_end"]) - ts(e["period_start"])).total_seconds())
        provisioned = sum(m["size_gib"] for m in cp["members"]) * GIB
        changes = sum(
            m["bytes_changed"]
            for c in cps.values()
            if c["group_id"] == cp["group_id"]
            for m in c["members"]
        )
        q = float(e["quantity"])
        assert provisioned / 1e9 * h - 1e-6 <= q <= (provisioned + changes) / 1e9 * h + 1e-6, e
    size = 4 * GIB  # the app's 4 volumes of 1 GiB

    # protected_*: the forward group, 3 servers, 4 GiB: protected from its creation until the
    # failover suspended it, and again from the failback's resume
    forward = [e for e in by["protected_vm_hours"] if e["group_id"] == group]
    assert forward, by["protected_vm_hours"]
    for e in forward:
        start, end = ts(e["period_start"]), ts(e["period_end"])
        assert (end - start).total_seconds() == W and int(start.timestamp()) % W == 0
        assert float(e["quantity"]) <= 3 * hours(W) + 1e-6
        quiet_from = suspended_seen + timedelta(seconds=SLACK)
        assert not (start >= quiet_from and end <= ts(failback["created_at"])), e
    protected_s = sum(float(e["quantity"]) for e in forward) * 3600 / 3
    before = (suspended_seen - created).total_seconds()
    assert protected_s >= (failed_over - created).total_seconds() - W - SLACK - W
    assert protected_s <= before + (datetime.now(UTC) - failed_back).total_seconds() + SLACK
    gb = {
        e["period_start"]: float(e["quantity"])
        for e in by["protected_gb_hours"]
        if e["group_id"] == group
    }
    for e in forward:  # GB-hours = VM-hours / 3 servers x 4 GiB, 0 GB before the first CP
        per_vm = float(e["quantity"]) / 3
        assert gb[e["period_start"]] <= per_vm * size / 1e9 + 1e-5

    # dr_*: each recovered server, from the failover's commit to the failback's
    dr_vm = [e for e in by["dr_vm_hours"] if plan["id"] in e["usage_id"]]
    ran = (failed_back - failed_over).total_seconds()
    assert ran > W
    for sid in dr_servers:
        ran_here = [e for e in dr_vm if sid in e["usage_id"]]
        total = sum(float(e["quantity"]) for e in ran_here) * 3600
        assert abs(total - ran) <= SLACK + 1, (sid, total, ran)
        for e in ran_here:
            stamp = int(ts(e["period_start"]).timestamp())
            assert e["usage_id"] == f"dr_vm_hours-{plan['id']}-{sid}-{stamp}"
            vcpu_id = f"dr_vcpu_hours-{plan['id']}-{sid}-{stamp}"
            vcpu = next(x for x in by["dr_vcpu_hours"] if x["usage_id"] == vcpu_id)
            assert abs(float(vcpu["quantity"]) - float(e["quantity"]) * vcpus[sid]) <= 1e-5
            assert e["site_id"] == TARGET

    # Replay: a second metering pass of each service (another replica, a restart) stages no
    # usage already staged, and every usage re-delivered under new event ids changes nothing.
    staged_before = {
        name: {u.usage_id for u in await staged_usage(runtimes[name])}
        for name in ("policy", "orchestrator", "replicator")
    }
    await emit_usage(runtimes["policy"], W)
    await emit_dr_usage(runtimes["orchestrator"], W)
    for name in ("policy", "orchestrator", "replicator"):
        again = [u.usage_id for u in await staged_usage(runtimes[name])]
        assert len(again) == len(set(again)), name
    snapshot = sorted((e["usage_id"], e["quantity"]) for e in entries)
    replays: list[Envelope] = []
    keys: set[str] = set()
    for name in ("policy", "orchestrator", "replicator"):
        for msg in await staged_usage(runtimes[name]):
            if msg.usage_id in staged_before[name] and mine(msg.usage_id, msg.group_id, ours):
                replays.append(runtimes[name].envelope(msg, event_id=f"replay-{uuid.uuid4()}"))
                keys.add(msg.partition_key())
    sentinels = {
        key: UsageRecorded(
            usage_id=f"sentinel-{uuid.uuid4().hex}",
            project_id=f"sentinel-{uuid.uuid4().hex[:8]}",
            group_id=key,
            site_id=TARGET,
            metric="test_runs",
            quantity=Decimal(0),
            period_start=datetime.now(UTC),
            period_end=datetime.now(UTC),
        )
        for key in keys
    }
    runtime = runtimes["billing"]
    await stack.bus.publish(
        [encode_envelope(e) for e in replays]
        + [encode_envelope(runtime.envelope(s)) for s in sentinels.values()]
    )

    async def sentinels_in() -> bool:
        r = await client.get(f"{billing}/v1/usage")
        seen = {e["usage_id"] for e in r.json()["entries"]}
        return all(s.usage_id in seen for s in sentinels.values())

    await wait_for("the replay behind its sentinels", sentinels_in)
    after = await ledger(client, billing, ours)
    # windows and CPs that closed meanwhile (the forward group is protected again) are new;
    # nothing billed before changed, and the DR servers ran no more
    before_ids = {x for x, _ in snapshot}
    later = [e for e in after if e["usage_id"] not in before_ids]
    assert not [e for e in later if e["metric"].startswith("dr_")], later
    kept = sorted((e["usage_id"], e["quantity"]) for e in after if e["usage_id"] in before_ids)
    assert kept == snapshot
    assert len(after) == len({e["usage_id"] for e in after})

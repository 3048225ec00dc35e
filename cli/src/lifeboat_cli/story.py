"""The whole disaster-recovery story on the embedded default, step by step (`lifeboat up`):

protect a 3-tier app on site-a -> CPs arrive at site-b -> readiness check -> bubble test (and its
teardown, leaving nothing) -> site-a cut -> failover -> achieved RPO and RTO -> site-a back ->
reprotect (differences only) -> failback (planned, zero data loss).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from lifeboat_cli.demo import DEMO_PROJECT, SOURCE, TARGET, DemoWorld
from lifeboat_shared.cloud import CloudDriver, SiteConfig

APP = "shop"
TIERS = (("db", 2), ("app", 1), ("web", 1))  # (tier, volumes per VM)
ZONE = "shop.example."

Say = Callable[[str, dict[str, Any]], None]


@dataclass
class StoryResult:
    plan_id: str = ""
    events: dict[str, Any] = field(default_factory=dict)


async def make_app(world: DemoWorld) -> dict[str, str]:
    """One VM per tier on site-a's `private` network with fixed IPs; db gets a workload. Also a
    DNS zone at site-b whose records failover re-points."""
    driver = CloudDriver(
        [SiteConfig(name=s, cloud=s, clouds_yaml=world.sites.clouds_yaml) for s in (SOURCE, TARGET)]
    )
    servers: dict[str, str] = {}
    try:
        project = await driver.project(SOURCE)
        flavor = (await project.compute.list_flavors())[0]
        net = next(n for n in await project.network.list_networks() if n.name == "private")
        subnet = (await project.network.list_subnets(network_id=net.id))[0]
        prefix = subnet.cidr.rsplit(".", 2)[0]
        for i, (tier, nvol) in enumerate(TIERS):
            vols = [
                (
                    await project.block_storage.create_volume(
                        1, name=f"{APP}-{tier}-disk{j}", bootable=j == 0
                    )
                ).id
                for j in range(nvol)
            ]
            port = await project.network.create_port(
                net.id, name=f"{APP}-{tier}", fixed_ips=[(subnet.id, f"{prefix}.10.{10 + i}")]
            )
            server = await project.compute.create_server(
                f"{APP}-{tier}",
                flavor.id or flavor.name,
                boot_volume_id=vols[0],
                data_volume_ids=vols[1:],
                port_ids=[port.id],
            )
            servers[tier] = server.id
        dr = await driver.project(TARGET)
        if await dr.dns.find_zone(ZONE) is None:
            await dr.dns.create_zone(ZONE, "ops@shop.example", wait=True)
    finally:
        await driver.aclose()
    with world.sites.sites[SOURCE].admin() as admin:
        admin.post(
            "/workloads",
            json={"workload_id": "shop-db", "servers": [servers["db"]], "rate_per_s": 200},
        ).raise_for_status()
    return servers


async def _ok(reply: Awaitable[httpx.Response]) -> Any:
    r = await reply
    if r.status_code >= 400:
        raise RuntimeError(f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:500]}")
    return r.json() if r.content else None


async def wait_execution(
    client: httpx.AsyncClient, url: str, execution_id: str, say: Say, timeout: float = 300
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last = -1
    while True:
        e = await _ok(client.get(f"{url}/v1/executions/{execution_id}"))
        if e["done"] != last:
            last = e["done"]
            say("progress", {"kind": e["kind"], "done": e["done"], "total": e["total"]})
        if e["state"] != "running":
            if e["state"] != "succeeded":
                raise RuntimeError(f"{e['kind']} {e['state']}: {e['error']}")
            return dict(e)
        if time.monotonic() > deadline:
            raise TimeoutError(f"{e['kind']} still running after {timeout:.0f} s")
        await asyncio.sleep(0.3)


async def protect_app(
    client: httpx.AsyncClient, urls: dict[str, str], world: DemoWorld, say: Say
) -> tuple[dict[str, Any], dict[str, str]]:
    """The app on site-a, protected to site-b, and its recovery plan once it is ready."""
    policy, orch = urls["policy"], urls["orchestrator"]
    servers = await make_app(world)
    say("app", {"servers": servers})
    for site_id, role in ((SOURCE, "both"), (TARGET, "both")):
        await _ok(
            client.put(
                f"{policy}/v1/sites/{site_id}",
                json={"cloud": site_id, "role": role, "data_endpoint": world.receivers[site_id]},
            )
        )
    pol = await _ok(
        client.post(
            f"{policy}/v1/policies",
            json={
                "name": "shop-rpo-5s",
                "rpo_seconds": 5,
                "quiesce": {"method": "guest-agent", "on_failure": "crash-consistent"},
                "retention": {"keep_last": 3},
            },
        )
    )
    group = await _ok(
        client.post(
            f"{policy}/v1/protection-groups",
            json={
                "name": APP,
                "project_id": DEMO_PROJECT,
                "source_site": SOURCE,
                "target_site": TARGET,
                "policy_id": pol["id"],
                "members": {"servers": list(servers.values())},
            },
        )
    )
    say("protected", {"group": group["id"]})
    # The orchestrator learns CPs from the replicator's events; wait for one.
    deadline = time.monotonic() + 120
    plan: dict[str, Any] | None = None
    body = {
        "name": APP,
        "project_id": DEMO_PROJECT,
        "groups": [group["id"]],
        "source_site": SOURCE,
        "target_sites": [TARGET],
        "tiers": [{"name": t, "servers": [servers[t]]} for t, _ in TIERS],
        "network_mappings": [{"source_network": "private", "ip_mode": "keep"}],
        "dns": [{"zone": ZONE, "name": f"www.{ZONE}", "server": servers["web"]}],
        "dns_site": TARGET,
    }
    while plan is None:
        r = await client.post(f"{orch}/v1/plans", json=body)
        if r.status_code == 201:
            plan = r.json()
        elif time.monotonic() > deadline:
            raise RuntimeError(f"plan not created: {r.status_code} {r.text[:300]}")
        else:
            await asyncio.sleep(0.5)  # sites not yet in the orchestrator's catalog
    while True:
        ready = await _ok(client.post(f"{orch}/v1/plans/{plan['id']}/readiness"))
        if ready["readiness"]["ready"]:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"plan never ready: {ready['readiness']}")
        await asyncio.sleep(1)
    say("ready", {"checks": len(ready["readiness"]["checks"])})
    return plan, servers


async def run_story(
    client: httpx.AsyncClient, urls: dict[str, str], world: DemoWorld, say: Say
) -> StoryResult:
    orch = urls["orchestrator"]
    plan, _servers = await protect_app(client, urls, world, say)
    out = StoryResult(plan_id=plan["id"])

    async def execute(kind: str, **extra: Any) -> dict[str, Any]:
        started = await _ok(
            client.post(f"{orch}/v1/plans/{plan['id']}/executions", json={"kind": kind, **extra})
        )
        say("start", {"kind": kind, "id": started["id"], "steps": started["total"]})
        done = await wait_execution(client, orch, started["id"], say)
        say("done", done)
        out.events[kind] = done
        return done

    test = await execute("test-failover")
    detail = await _ok(client.get(f"{orch}/v1/executions/{test['id']}"))
    bubble = next(s for s in detail["steps"] if s["id"] == "bubble-ready")
    say("bubble", {"servers": bubble["result"]["servers"]})
    cleanup = await execute("test-cleanup", test_id=test["id"])
    teardown = await _ok(client.get(f"{orch}/v1/executions/{cleanup['id']}"))
    say("teardown", teardown["steps"][0]["result"])

    with world.sites.sites[SOURCE].admin() as admin:
        wl = admin.get("/workloads/shop-db").json()
        admin.post("/down", json={"mode": "503"}).raise_for_status()
    cut_at = time.time()
    say("cut", {"site": SOURCE, "last_seq": wl["last_seq"]})
    await _ok(
        client.post(f"{orch}/v1/sites/{SOURCE}/declare-down", json={"reason": "demo: site-a cut"})
    )
    failover = await execute("failover")
    say("rpo-rto", {"rpo": failover["rpo_seconds"], "rto": failover["rto_seconds"], "cut": cut_at})
    with world.sites.sites[SOURCE].admin() as admin:
        admin.post("/up").raise_for_status()
    await _ok(client.post(f"{orch}/v1/sites/{SOURCE}/declare-up"))
    say("back", {"site": SOURCE})
    reprotect = await execute("reprotect")
    rdetail = await _ok(client.get(f"{orch}/v1/executions/{reprotect['id']}"))
    sync = next(s for s in rdetail["steps"] if s["id"] == "reverse-sync")["result"]
    say("reverse", {"sent": sync["bytes_sent"], "changed": sync["bytes_changed"]})
    await execute("failback")
    final = await _ok(client.get(f"{orch}/v1/plans/{plan['id']}"))
    say("home", {"site": final["state"]["active_site"], "status": final["state"]["status"]})
    return out

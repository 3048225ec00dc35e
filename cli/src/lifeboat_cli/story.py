"""The whole disaster-recovery story on the embedded default, step by step (`lifeboat up`):

protect a 3-tier app on site-a -> CPs arrive at site-b -> readiness check -> bubble test (and its
teardown, leaving nothing) -> site-a cut -> failover -> achieved RPO and RTO -> site-a back ->
reprotect (differences only) -> failback (planned, zero data loss) -> protected again -> the
tenant's invoice for the story (rated by the billing service from the services' usage events).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from lifeboat_cli.demo import DEMO_PROJECT, SOURCE, TARGET, DemoWorld
from lifeboat_cli.retrying import ApiError, Backoff, describe, is_transient, warn, with_retries
from lifeboat_shared.cloud import CloudDriver, SiteConfig

APP = "shop"
TIERS = (("db", 2), ("app", 1), ("web", 1))  # (tier, volumes per VM)
ZONE = "shop.example."

Say = Callable[[str, dict[str, Any]], None]

# What the story's invoice must show before it is printed: bytes sent, storage kept at site-b,
# the DR VMs of the failover, the bubble test's run and VMs (usage windows are seconds long in
# the story: settings in story_cmd).
INVOICE_METRICS = frozenset(
    {"replicated_bytes", "stored_gb_hours", "dr_vm_hours", "bubble_vm_hours", "test_runs"}
)


def story_overrides(world: DemoWorld) -> dict[str, dict[str, Any]]:
    """The services' settings for the story (`lifeboat story` and its test): the sites' clouds,
    a fast execution runner, usage windows of seconds so the invoice is complete at the end, and
    the verifier on cloudsim's guests with a week of schedule time per second."""
    clouds_yaml = world.sites.clouds_yaml
    usage = {"usage_window_seconds": 5, "usage_pass_interval_seconds": 1}
    return {
        "replicator": {"clouds_yaml": clouds_yaml},
        "policy": {"clouds_yaml": clouds_yaml, **usage},
        "orchestrator": {"clouds_yaml": clouds_yaml, "runner_interval_seconds": 0.1, **usage},
        "verifier": {
            "clouds_yaml": clouds_yaml,
            "guest_probes": {
                name: {"admin_url": h.admin_url, "admin_token": h.admin_token}
                for name, h in world.sites.sites.items()
            },
            "time_scale": 604800,
            "runner_interval_seconds": 0.2,
        },
    }


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
        raise ApiError(
            r.status_code, f"{r.request.method} {r.request.url}: {r.status_code} {r.text[:500]}"
        )
    return r.json() if r.content else None


async def _get(client: httpx.AsyncClient, url: str) -> Any:
    """A GET, asked again while the service is slow or failing (reported on stderr)."""
    return await with_retries(f"GET {url}", lambda: _ok(client.get(url)))


def _put(client: httpx.AsyncClient, url: str, body: dict[str, Any]) -> Callable[[], Awaitable[Any]]:
    return lambda: _ok(client.put(url, json=body))


def _step(execution: dict[str, Any], step_id: str) -> dict[str, Any]:
    for step in execution["steps"]:
        if step["id"] == step_id:
            return dict(step)
    raise RuntimeError(
        f"{execution['kind']} {execution['id']} has no step {step_id!r} "
        f"(steps: {', '.join(s['id'] for s in execution['steps']) or 'none'})"
    )


async def wait_execution(
    client: httpx.AsyncClient, url: str, execution_id: str, say: Say, timeout: float = 300
) -> dict[str, Any]:
    """Poll until the execution finishes; a failed poll is reported and retried with backoff
    until ``timeout``, never the end of the wait."""
    deadline = time.monotonic() + timeout
    last = -1
    backoff = Backoff()
    while True:
        try:
            e = await _ok(client.get(f"{url}/v1/executions/{execution_id}"))
        except (httpx.TransportError, ApiError) as exc:
            if not is_transient(exc) or time.monotonic() > deadline:
                raise
            delay = backoff.failed()
            warn(f"polling execution {execution_id}: {describe(exc)}; retrying in {delay:.1f} s")
            await asyncio.sleep(delay)
            continue
        backoff.reset()
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
    client: httpx.AsyncClient,
    urls: dict[str, str],
    world: DemoWorld,
    say: Say,
    plan_extra: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, str]]:
    """The app on site-a, protected to site-b, and its recovery plan once it is ready."""
    policy, orch = urls["policy"], urls["orchestrator"]
    servers = await make_app(world)
    say("app", {"servers": servers})
    for site_id, role in ((SOURCE, "both"), (TARGET, "both")):
        site = {"cloud": site_id, "role": role, "data_endpoint": world.receivers[site_id]}
        await with_retries(
            f"registering {site_id}", _put(client, f"{policy}/v1/sites/{site_id}", site)
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
        **(plan_extra or {}),
    }
    backoff = Backoff()
    while plan is None:
        try:
            r = await client.post(f"{orch}/v1/plans", json=body)
        except httpx.TransportError as exc:
            if time.monotonic() > deadline:
                raise
            warn(f"creating plan {APP}: {describe(exc)}; retrying")
            await asyncio.sleep(backoff.failed())
            continue
        if r.status_code == 201:
            plan = r.json()
        elif r.status_code == 409:  # an earlier attempt made it before its answer was lost
            plan = await _get(client, f"{orch}/v1/plans/{APP}")
        elif time.monotonic() > deadline:
            raise RuntimeError(f"plan not created: {r.status_code} {r.text[:300]}")
        else:
            await asyncio.sleep(0.5)  # sites not yet in the orchestrator's catalog
    while True:
        ready = await with_retries(
            "readiness check", lambda: _ok(client.post(f"{orch}/v1/plans/{plan['id']}/readiness"))
        )
        if ready["readiness"]["ready"]:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"plan never ready: {ready['readiness']}")
        await asyncio.sleep(1)
    say("ready", {"checks": len(ready["readiness"]["checks"])})
    return plan, servers


async def _wait_site_state(
    client: httpx.AsyncClient, orch: str, site: str, state: str, timeout: float = 60
) -> None:
    """Until the orchestrator's site catalog shows ``site`` in ``state`` (a declaration travels
    as an event first)."""
    deadline = time.monotonic() + timeout
    while True:
        sites = await _get(client, f"{orch}/v1/sites")
        if any(s["id"] == site and s["state"] == state for s in sites):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"site {site} not {state} after {timeout:.0f} s")
        await asyncio.sleep(0.2)


BUBBLE_CHECKS: list[dict[str, Any]] = [
    {"name": "boots", "kind": "boot", "marker": "login:", "timeout_seconds": 20},
    {"name": "db-data", "kind": "data", "tier": "db", "timeout_seconds": 120, "retries": 0},
]
"""The story's bubble test: every copy boots to a login prompt (its console log, through Nova),
and the database's volumes hold exactly its consistency point's bytes, consistently."""


async def scheduled_bubble_test(
    client: httpx.AsyncClient, verifier: str, plan_id: str, say: Say, timeout: float = 300
) -> dict[str, Any]:
    """A weekly bubble test (the stack's verifier runs a week of schedule time per second):
    it fires, the verifier asks for a test failover, checks the bubble, tears it down."""
    body = {
        "name": "weekly",
        "plan_id": plan_id,
        "project_id": DEMO_PROJECT,
        "schedule": "0 3 * * 0",
        "checks": BUBBLE_CHECKS,
    }
    d = await with_retries("defining the bubble test", lambda: _ok(
        client.post(f"{verifier}/v1/test-definitions", json=body)))  # fmt: skip
    deadline = time.monotonic() + timeout
    runs: list[dict[str, Any]] = []
    while not runs:
        if time.monotonic() > deadline:
            raise TimeoutError("the weekly bubble test did not fire")
        await asyncio.sleep(0.3)
        runs = await _get(client, f"{verifier}/v1/test-runs?definition_id={d['definition_id']}")
    await _ok(  # one run is the story; the schedule goes on in a real deployment
        client.patch(
            f"{verifier}/v1/test-definitions/{d['definition_id']}", json={"enabled": False}
        )
    )
    run_id = runs[-1]["test_id"]
    say("bubble-test", {"run": run_id, "schedule": body["schedule"]})
    while True:
        run: dict[str, Any] = await _get(client, f"{verifier}/v1/test-runs/{run_id}")
        if run["phase"] == "done":
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"bubble test {run_id} still {run['phase']}")
        await asyncio.sleep(0.3)
    say("bubble", {"servers": len(run["server_ids"])})
    for check in run["checks"]:
        say("check", check)
    say("verdict", {"status": run["status"], "rto": run["rto_seconds"], "rpo": run["rpo_seconds"]})
    removed = (run.get("evidence") or {}).get("resources_removed", [])
    say("teardown", {"deleted": len(removed), "cleanup": run["cleanup"]})
    if run["status"] != "passed" or run["cleanup"] != "clean":
        raise RuntimeError(f"bubble test {run_id} {run['status']}, cleanup {run['cleanup']}")
    say("report", await verified_report(client, verifier, run_id))
    return run


async def verified_report(client: httpx.AsyncClient, verifier: str, run_id: str) -> dict[str, Any]:
    """The run's signed report, checked here against the deployment's public key (what
    `lifeboat test verify-report` does offline)."""
    from lifeboat_verifier.adapters.signing import load_public_key, verify_document

    # issued in the transaction that finished the run: there once the run is done
    document = await _get(client, f"{verifier}/v1/test-reports/{run_id}")
    key = await _get(client, f"{verifier}/v1/signing-key")
    verify_document(document, load_public_key(key["public_key_pem"]))  # raises if altered
    report = document["report"]
    return {
        "report_id": report["report_id"],
        "fingerprint": document["signature"]["key_fingerprint"],
        "url": f"{verifier}/v1/test-reports/{report['report_id']}?format=html",
        "checks": len(report["evidence"]["checks"]),
    }


async def run_story(
    client: httpx.AsyncClient, urls: dict[str, str], world: DemoWorld, say: Say
) -> StoryResult:
    orch = urls["orchestrator"]
    began = datetime.now(UTC)
    plan, _servers = await protect_app(client, urls, world, say)
    out = StoryResult(plan_id=plan["id"])

    async def execute(kind: str, **extra: Any) -> dict[str, Any]:
        # The key makes a repeated start (its first answer lost) return the same execution.
        key = {"Idempotency-Key": str(uuid.uuid4())}
        started = await with_retries(
            f"starting {kind}",
            lambda: _ok(
                client.post(
                    f"{orch}/v1/plans/{plan['id']}/executions",
                    json={"kind": kind, **extra},
                    headers=key,
                )
            ),
        )
        say("start", {"kind": kind, "id": started["id"], "steps": started["total"]})
        done = await wait_execution(client, orch, started["id"], say)
        say("done", done)
        out.events[kind] = done
        return done

    run = await scheduled_bubble_test(client, urls["verifier"], plan["id"], say)
    out.events["bubble-test"] = run

    with world.sites.sites[SOURCE].admin() as admin:
        wl = admin.get("/workloads/shop-db").json()
        admin.post("/down", json={"mode": "503"}).raise_for_status()
    cut_at = time.time()
    say("cut", {"site": SOURCE, "last_seq": wl["last_seq"]})
    await _ok(
        client.post(f"{orch}/v1/sites/{SOURCE}/declare-down", json={"reason": "demo: site-a cut"})
    )
    await _wait_site_state(client, orch, SOURCE, "down")  # as an operator sees it before acting
    failover = await execute("failover")
    say("rpo-rto", {"rpo": failover["rpo_seconds"], "rto": failover["rto_seconds"], "cut": cut_at})
    with world.sites.sites[SOURCE].admin() as admin:
        admin.post("/up").raise_for_status()
    await _ok(client.post(f"{orch}/v1/sites/{SOURCE}/declare-up"))
    say("back", {"site": SOURCE})
    reprotect = await execute("reprotect")
    rdetail = await _get(client, f"{orch}/v1/executions/{reprotect['id']}")
    sync = _step(rdetail, "reverse-sync")["result"]
    say("reverse", {"sent": sync["bytes_sent"], "changed": sync["bytes_changed"]})
    policy = urls["policy"]
    group = plan["spec"]["groups"][0]
    reverse = await wait_group(client, policy, f"{group}.reverse", lambda g: True)
    say("reverse-group", {"id": reverse["id"], "from": reverse["source_site"]})
    failback = await execute("failback")
    final = await _get(client, f"{orch}/v1/plans/{plan['id']}")
    say("home", {"site": final["state"]["active_site"], "status": final["state"]["status"]})
    cp = await wait_new_cp(client, policy, group, after=failback["finished_at"])
    detail = await _get(client, f"{urls['replicator']}/v1/consistency-points/{cp['cp']}")
    members = detail["members"]
    cp["seeded"] = sum(1 for m in members if m.get("seeded_from"))
    cp["volumes"] = len(members)
    cp["sent"] = detail["bytes_sent"]
    cp["size"] = sum(m["size_gib"] for m in members) * 2**30
    say("protected-again", cp)
    invoice = await wait_invoice(client, urls["billing"], began)
    say("invoice", invoice)
    out.events["invoice"] = invoice
    return out


async def wait_invoice(
    client: httpx.AsyncClient, billing: str, began: datetime, *, timeout: float = 90
) -> dict[str, Any]:
    """The demo tenant's rated usage since the story began, once every metric of
    ``INVOICE_METRICS`` has arrived (each service meters on its own schedule)."""
    start = (began - timedelta(minutes=10)).isoformat()
    end = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    url = f"{billing}/v1/invoice-reports/{DEMO_PROJECT}"
    deadline = time.monotonic() + timeout
    while True:
        report: dict[str, Any] = await _ok(client.get(url, params={"start": start, "end": end}))
        missing = INVOICE_METRICS - {line["metric"] for line in report["lines"]}
        if not missing:
            return report
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the story's invoice still lacks {sorted(missing)} after {timeout:.0f} s"
            )
        await asyncio.sleep(0.5)


async def wait_group(
    client: httpx.AsyncClient,
    policy: str,
    group: str,
    ready: Callable[[dict[str, Any]], bool],
    *,
    status: bool = False,
    timeout: float = 60,
) -> dict[str, Any]:
    """Until the policy service shows the group (or its status) as ``ready`` says: it applies
    what an execution did to the protection when its ``ExecutionCompleted`` arrives."""
    url = f"{policy}/v1/protection-groups/{group}{'/status' if status else ''}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = await _get(client, url)
        except ApiError as exc:
            if exc.status != 404:
                raise
            found = None
        if found is not None and ready(found):
            return dict(found)
        if time.monotonic() > deadline:
            raise TimeoutError(f"group {group} not as expected after {timeout:.0f} s: {found}")
        await asyncio.sleep(0.2)


async def wait_new_cp(
    client: httpx.AsyncClient, policy: str, group: str, *, after: str, timeout: float = 120
) -> dict[str, Any]:
    """Until the forward group's newest verified CP was taken after ``after`` (failback's end):
    nobody asks for it, the group's own RPO schedule does."""
    deadline = time.monotonic() + timeout
    while True:
        status = await _get(client, f"{policy}/v1/protection-groups/{group}/status")
        taken = status["newest_cp_taken_at"]
        if taken is not None and datetime.fromisoformat(taken) > datetime.fromisoformat(after):
            return {
                "cp": status["newest_cp_id"],
                "taken_at": taken,
                "rpo_target": status["rpo_target_seconds"],
                "suspended": status["suspended"],
            }
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"no CP of group {group} after failback within {timeout:.0f} s "
                f"(newest {taken}, suspended {status['suspended_by']}, "
                f"last failure {status['last_failure']})"
            )
        await asyncio.sleep(0.5)

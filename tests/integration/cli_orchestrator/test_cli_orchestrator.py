"""`lifeboat` orchestrator verbs against a real running stack (the embedded default: five services,
two cloudsim sites over HTTP, replication receivers): plan create/list/show/refresh/check/delete,
a failing and a passing bubble test and their cleanups, a site cut, declare-down and health, an
evacuation waiting for approval, failover with the achieved RPO/RTO, the steps of an execution,
and the errors an operator gets for a bad plan file, an unknown plan or a refused verb.

The stack serves on this test's event loop, so each CLI run happens in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner, Result

from lifeboat_cli.demo import DEMO_PROJECT, SOURCE, TARGET, demo_world
from lifeboat_cli.main import app
from lifeboat_cli.stack import Stack
from lifeboat_cli.story import make_app

pytestmark = pytest.mark.timeout(240)

TIERS = ("db", "app", "web")


class Cli:
    """Runs `lifeboat ...` in-process (CliRunner) against the stack's orchestrator."""

    def __init__(self, url: str, token: str, policy_url: str) -> None:
        self.env = {
            "LIFEBOAT_ORCHESTRATOR_URL": url,
            "LIFEBOAT_POLICY_URL": policy_url,
            "LIFEBOAT_TOKEN": token,
            "COLUMNS": "200",
        }

    async def run(self, *args: str, code: int | None = 0) -> Result:
        result = await asyncio.to_thread(CliRunner().invoke, app, list(args), env=self.env)
        print(f"$ lifeboat {' '.join(args)}  -> exit {result.exit_code}\n{result.output}")
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"lifeboat {' '.join(args)} raised {result.exception!r}\n{result.output}"
        )
        assert "Traceback" not in result.output, result.output
        if code is not None:
            assert result.exit_code == code, f"lifeboat {' '.join(args)}:\n{result.output}"
        return result

    async def json(self, *args: str) -> Any:
        return json.loads((await self.run(*args, "--json")).stdout)


async def _protect(client: httpx.AsyncClient, policy: str, world: Any) -> dict[str, str]:
    """What a plan needs, as story.run_story makes it: the app, sites, a policy, a group."""
    servers = await make_app(world)
    for site_id in (SOURCE, TARGET):
        body = {"cloud": site_id, "role": "both", "data_endpoint": world.receivers[site_id]}
        (await client.put(f"{policy}/v1/sites/{site_id}", json=body)).raise_for_status()
    pol = await client.post(
        f"{policy}/v1/policies",
        json={"name": "cli-rpo-5s", "rpo_seconds": 5, "retention": {"keep_last": 3}},
    )
    pol.raise_for_status()
    group = await client.post(
        f"{policy}/v1/protection-groups",
        json={
            "name": "shop",
            "project_id": DEMO_PROJECT,
            "source_site": SOURCE,
            "target_site": TARGET,
            "policy_id": pol.json()["id"],
            "members": {"servers": list(servers.values())},
        },
    )
    group.raise_for_status()
    return {"group": group.json()["id"], **servers}


async def _until(what: str, probe: Any, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = await probe()
        if got:
            return got
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.5)


async def test_cli_drives_the_orchestrator(tmp_path: Path) -> None:
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
                    "step_backoff_seconds": 0.2,
                    "hooks": {"gate-closed": {"argv": ["false"]}},  # installed by the operator
                },
            },
        )
        await stack.start()
        try:
            urls = {s.name: s.url for s in stack.services}
            async with httpx.AsyncClient(
                headers={"Authorization": f"Bearer {stack.token}"}, timeout=60
            ) as client:
                ids = await _protect(client, urls["policy"], world)
            await _drive(
                Cli(urls["orchestrator"], stack.token, urls["policy"]), ids, world, tmp_path
            )
        finally:
            await stack.stop()


async def _drive(cli: Cli, ids: dict[str, str], world: Any, tmp_path: Path) -> None:
    await _bad_input(cli, tmp_path)
    spec = {
        "name": "shop",
        "project_id": DEMO_PROJECT,
        "groups": [ids["group"]],
        "source_site": SOURCE,
        "target_sites": [TARGET],
        "tiers": [{"name": t, "servers": [ids[t]]} for t in TIERS],
        "network_mappings": [{"source_network": "private", "ip_mode": "keep"}],
    }
    plan_file = tmp_path / "plan.yaml"
    plan_file.write_text(yaml.safe_dump(spec))

    async def created() -> Any:
        # Exit 1 (a clear error) until the orchestrator's catalog knows the sites.
        r = await cli.run("plan", "create", "--file", str(plan_file), "--json", code=None)
        return json.loads(r.stdout) if r.exit_code == 0 else None

    plan = await _until("plan create", created)
    assert plan["name"] == "shop" and plan["state"]["active_site"] == SOURCE
    listed = await cli.json("plan", "list")
    assert [p["id"] for p in listed] == [plan["id"]]
    shown = await cli.json("plan", "show", "shop")
    assert set(shown["capture"]["servers"]) == {ids[t] for t in TIERS}
    refreshed = await cli.json("plan", "refresh", "shop")
    assert refreshed["capture"] == shown["capture"] and refreshed["id"] == plan["id"]
    human = (await cli.run("plan", "show", plan["id"])).stdout
    assert "shop-db" in human and "Tiers (boot order)" in human

    async def ready() -> bool:
        return (await cli.run("plan", "check", "shop", "--strict", code=None)).exit_code == 0

    await _until("plan ready (a verified CP at site-b)", ready)
    readiness = await cli.json("plan", "check", "shop")
    assert readiness["ready"] and {c["site"] for c in readiness["checks"]} == {TARGET}
    assert "READY" in (await cli.run("plan", "check", "shop")).stdout
    assert "yes" in (await cli.run("plan", "list")).stdout

    await _failing_test(cli, ids, tmp_path)
    test = await cli.json("test-failover", "shop", "--idempotency-key", "bubble-1")
    assert test["state"] == "succeeded" and test["done"] == test["total"] > 0
    again = await cli.json("test-failover", "shop", "--idempotency-key", "bubble-1", "--no-wait")
    assert again["id"] == test["id"]  # the same key starts one execution
    cleanup = await cli.run("test-cleanup", "shop", "--test", test["id"])
    assert "succeeded" in cleanup.stdout

    with world.sites.sites[SOURCE].admin() as admin:
        admin.post("/down", json={"mode": "503"}).raise_for_status()
    down = await cli.run("dr-site", "declare-down", SOURCE, "--reason", "cli test: site-a cut")
    assert "declared down" in down.stdout

    sites: dict[str, Any] = {}

    async def declared() -> bool:
        nonlocal sites
        sites = {s["site_id"]: s for s in await cli.json("dr-site", "list")}
        return SOURCE in sites and sites[SOURCE]["state"] == "down"

    await _until("site-a declared down", declared, timeout=30)
    # site-b was registered and never declared: listed all the same, up.
    assert sites[TARGET]["registered"] and sites[TARGET]["state"] == "up"
    # The health hysteresis (or, before any probe, the declaration) for a known site; a clear
    # error for an unknown one.
    health = await cli.json("dr-site", "health", SOURCE)
    assert health["site_id"] == SOURCE and health["declared"] in ("up", "down")
    assert isinstance(health["recent_probes"], list) and health["assessment"]
    assert "assessment" in (await cli.run("dr-site", "health", SOURCE)).stdout
    unknown_site = await cli.run("dr-site", "health", "site-z", code=1)
    assert "'site-z' is not known to the orchestrator" in unknown_site.stderr

    evacuation = await _evacuate(cli)
    failover = await cli.run("failover", "shop")
    assert "RPO (achieved)" in failover.stdout and "succeeded" in failover.stdout
    runs = await cli.json("execution", "list", "--plan", "shop", "--state", "succeeded")
    assert [e["kind"] for e in runs] == ["failover", "test-cleanup", "test-failover"]
    detail = await cli.json("execution", "show", runs[0]["id"])
    assert 0 <= detail["rpo_seconds"] < 60 and detail["rto_seconds"] > 0
    assert detail["steps"] and all(s["state"] in ("succeeded", "skipped") for s in detail["steps"])
    assert f"{detail['rpo_seconds']:.1f} s" in failover.stdout
    steps = (await cli.run("execution", "show", runs[0]["id"])).stdout
    assert "Steps" in steps and detail["steps"][0]["id"] in steps
    watched = await cli.json("execution", "watch", runs[0]["id"])
    assert watched["state"] == "succeeded"
    assert (await cli.json("plan", "show", "shop"))["state"]["status"] == "failed-over"

    await _approve_after_the_fact(cli, evacuation)
    refused = await cli.run("failback", "shop", code=1)
    assert "failback needs a reprotected plan" in refused.stderr
    unknown = await cli.run("failover", "no-such-plan", code=1)
    assert "plan no-such-plan not found" in unknown.stderr
    assert "not found" in (await cli.run("plan", "show", "no-such-plan", code=1)).stderr
    missing = await cli.run("execution", "show", "no-such-execution", code=1)
    assert "execution no-such-execution not found" in missing.stderr


async def _failing_test(cli: Cli, ids: dict[str, str], tmp_path: Path) -> None:
    """A plan whose db tier has a pre-hook that fails: its test failover fails, the verb exits 1
    with the failed step and its error; cleanup and delete still work."""
    spec = {
        "name": "shop-gated",
        "project_id": DEMO_PROJECT,
        "groups": [ids["group"]],
        "source_site": SOURCE,
        "target_sites": [TARGET],
        "tiers": [
            {
                "name": "db",
                "servers": [ids["db"]],
                "pre_hooks": [{"kind": "command", "name": "gate-closed"}],
            }
        ],
    }
    (tmp_path / "gated.json").write_text(json.dumps(spec))
    await cli.run("plan", "create", "--file", str(tmp_path / "gated.json"))
    failed = await cli.run("test-failover", "shop-gated", code=1)
    assert "Failed steps" in failed.stdout and "tier:db:pre" in failed.stdout
    assert "pre-hook of tier db failed" in failed.stdout
    runs = await cli.json("execution", "list", "--plan", "shop-gated", "--state", "failed")
    assert [e["kind"] for e in runs] == ["test-failover"]
    await cli.run("test-cleanup", "shop-gated", "--test", runs[0]["id"])
    assert "deleted plan shop-gated" in (await cli.run("plan", "delete", "shop-gated")).stdout
    await cli.run("plan", "show", "shop-gated", code=1)


async def _evacuate(cli: Cli) -> str:
    """An evacuation of site-a waiting for its first wave's approval (UC9)."""
    evac = await cli.json("evacuate", "--from", SOURCE, "--plan", "shop", "--wave-size", "1")
    assert evac["state"] == "running"
    assert [w["state"] for w in evac["waves"]] == ["awaiting-approval"]
    entry = evac["waves"][0]["plans"][0]
    assert (entry["name"], entry["target_site"], entry["state"]) == ("shop", TARGET, "pending")
    assert [e["id"] for e in await cli.json("evacuation", "list")] == [evac["id"]]
    waiting = (await cli.run("evacuation", "show", evac["id"])).stdout
    assert "awaiting-approval" in waiting and f"evacuation approve {evac['id']}" in waiting
    return str(evac["id"])


async def _approve_after_the_fact(cli: Cli, evacuation: str) -> None:
    """The operator failed the plan over directly; the wave approved later has nothing to move:
    its entry is rejected (with the reason) and the evacuation ends failed."""
    approved = await cli.json("evacuation", "approve", evacuation)
    assert approved["waves"][0]["state"] != "awaiting-approval"

    async def ended() -> Any:
        e = await cli.json("evacuation", "show", evacuation)
        return e if e["state"] != "running" else None

    final = await _until("the evacuation to end", ended, timeout=30)
    entry = final["waves"][0]["plans"][0]
    assert final["state"] == "failed" and entry["state"] == "rejected" and entry["error"]
    assert "rejected" in (await cli.run("evacuation", "show", evacuation)).stdout
    again = await cli.run("evacuation", "approve", evacuation, code=1)
    assert "no wave is waiting for approval" in again.stderr
    # Evacuating site-b back to site-a: the failed-over plan has nowhere to go until reprotect.
    back = await cli.run(
        "evacuate", "--from", TARGET, "--to", SOURCE, "--kind", "planned-migration",
        "--no-approval", "--max-parallel", "2", code=1,
    )  # fmt: skip
    assert "target_sites: plan shop cannot go to any of ['site-a']" in back.stderr


async def _bad_input(cli: Cli, tmp_path: Path) -> None:
    """A bad plan file is a usage error (exit 2) naming what is wrong, before anything is sent."""
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "x",\n "tiers": [}')
    r = await cli.run("plan", "create", "--file", str(broken), code=2)
    assert "not valid JSON at line 2" in r.stderr
    spec = {"name": "x", "project_id": "p", "groups": ["g"], "source_site": SOURCE,
            "target_sites": [TARGET], "tiers": [{"name": "db", "servers": ["s1"]}]}  # fmt: skip
    wrong = tmp_path / "wrong.yaml"
    for change, message in (
        ({"colour": "red"}, "colour: Extra inputs are not permitted"),
        ({"tiers": [{"name": "db"}]}, "tiers: tier db has no servers and no stateless members"),
        ({"target_sites": []}, "target_sites: List should have at least 1 item"),
        ({"tiers": [{"name": "db", "servers": ["s1"], "pre_hooks": [{"kind": "webhook"}]}]},
         "tiers.0.pre_hooks.0: a webhook hook needs url"),
    ):  # fmt: skip
        wrong.write_text(yaml.safe_dump({**spec, **change}))
        r = await cli.run("plan", "create", "--file", str(wrong), code=2)
        assert message in r.stderr
    wrong.write_text("name: [unclosed\n")
    assert "not valid YAML" in (await cli.run("plan", "create", "-f", str(wrong), code=2)).stderr
    r = await cli.run("plan", "create", "--file", str(tmp_path / "absent.json"), code=2)
    assert "cannot read it" in r.stderr
    assert await cli.json("plan", "list") == []

"""UC8 over real Kafka, PostgreSQL and cloudsim, the orchestrator as its own process: a plan of
stateless members only needs no consistency point, passes readiness and fails over by making its
servers from their templates at the DR site, tier after tier (pre hooks, members, post hooks).

Its hooks are the operator's (issue 14): named in the plan, installed in the orchestrator's
settings, run with a scrubbed environment (the service's own variables, a canary among them,
never reach them nor the execution), their output only a short redacted excerpt; the API refuses
command lines, unknown hook names and webhooks to internal addresses (422 naming the field);
a webhook to the allowlisted test receiver works, one to a name resolving to loopback does not."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.orchestrator.harness import AUTH, Orchestrated, orchestrated
from tests.support.webhooks import RecordingServer

pytestmark = pytest.mark.timeout(300)
A, B = "site-a", "site-b"
HOOK = (
    "import json, os, sys; c = json.loads(os.environ['LIFEBOAT_HOOK_CONTEXT']); "
    "open(sys.argv[1], 'a').write(json.dumps([c['site'], c['tier'], c['when']]) + '\\n'); "
    "open(sys.argv[2], 'a').write(json.dumps(dict(os.environ)) + '\\n')"
)
# The operator's hook that talks too much: its environment, pages of output, a credential last.
LEAK = (
    "import json, os, sys; print(json.dumps(dict(os.environ))); print('x' * 5000); "
    "print('token=tok-9d2b71e0c4'); sys.exit(3)"
)
CANARY = "canary-5e1f0a9b3c7d"
NOT_NEEDED = "not needed: the plan has only stateless members (nothing replicates)"


DOCUMENTED = ("PLAN_ID", "PLAN", "EXECUTION_ID", "KIND", "TIER", "PHASE", "SITE", "CONTEXT")


async def _refused(o: Orchestrated, body: dict[str, Any]) -> None:
    """No API path takes a command line, an unknown hook or an internal webhook target."""

    async def refusal(hook: dict[str, Any]) -> tuple[list[Any], str]:
        tiers = [{"name": "db", "stateless": [_member("db", 1)], "pre_hooks": [hook]}]
        r = await o.client.post(
            f"{o.base}/v1/plans", json={**body, "name": "bad", "tiers": tiers}, headers=AUTH
        )
        assert r.status_code == 422, r.text
        return r.json()["detail"][0]["loc"], r.json()["detail"][0]["msg"]

    loc, msg = await refusal({"kind": "command", "command": ["/bin/sh", "-c", "id"]})
    assert loc == ["body", "tiers", 0, "pre_hooks", 0], loc
    assert "command: the API takes no command line" in msg and "ORCHESTRATOR_HOOKS" in msg, msg
    loc, msg = await refusal({"kind": "command", "name": "flush-db"})
    assert loc[-1] == "name" and "no command hook named 'flush-db'" in msg, msg
    for target in ("127.0.0.1:8703", "169.254.169.254", "[::1]", "0x7f.1", "2130706433"):
        loc, msg = await refusal({"kind": "webhook", "url": f"http://{target}/x"})
        assert loc == ["body", "tiers", 0, "pre_hooks", 0, "url"], (target, loc)
        assert msg.startswith("tiers.0.pre_hooks.0.url: "), msg


def _member(name: str, count: int) -> dict[str, Any]:
    return {
        "name": name,
        "count": count,
        "flavor": "m1.tiny",
        "image": "cirros",
        "network": "private",
        "user_data": f"#cloud-config\nruncmd: [start-{name}]\n",
    }


def _at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_a_stateless_only_plan_needs_no_cp_and_fails_over_in_tier_order(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    log, envs = tmp_path / "hooks.log", tmp_path / "hook-envs.log"
    installed = {
        "record": {"argv": [sys.executable, "-c", HOOK, str(log), str(envs)]},
        "leak": {"argv": [sys.executable, "-c", LEAK], "timeout_seconds": 30},
    }
    hook = {"kind": "command", "name": "record"}
    receiver, internal = RecordingServer("127.0.0.2"), RecordingServer("127.0.0.1")
    webhook = {"kind": "webhook", "url": f"http://127.0.0.2:{receiver.port}/cache-up"}
    tiers = [
        {
            "name": "cache",
            "stateless": [_member("cache", 1)],
            "post_hooks": [
                hook,
                webhook,
                {"kind": "command", "name": "leak", "on_failure": "continue"},
                {
                    "kind": "webhook",
                    "url": f"http://localhost:{internal.port}/",
                    "on_failure": "continue",
                },
            ],
        },
        {
            "name": "app",
            "stateless": [_member("app", 2)],
            "pre_hooks": [hook],
            "post_hooks": [hook],
        },
        {
            "name": "web",
            "stateless": [_member("web", 2)],
            "depends_on": ["app"],
            "pre_hooks": [hook],
        },
    ]
    body: dict[str, Any] = {
        "name": "stateless-shop",
        "project_id": "demo",
        # A protection group of stateless templates only: the policy service never ticks it,
        # so no CP of it ever exists.
        "groups": ["g-web-templates"],
        "source_site": A,
        "target_sites": [B],
        "tiers": tiers,
    }
    settings = {
        "LIFEBOAT_ORCHESTRATOR_HOOKS": json.dumps(installed),
        "LIFEBOAT_ORCHESTRATOR_WEBHOOK_ALLOW_NETWORKS": '["127.0.0.2/32"]',
        "LIFEBOAT_ORCHESTRATOR_CANARY": CANARY,
    }
    try:
        async with orchestrated(tmp_path, postgres_url, kafka_bootstrap, [A, B], **settings) as o:
            await _refused(o, body)
            # Protected servers still need a group to take their CPs from.
            bad = await o.client.post(
                f"{o.base}/v1/plans",
                json={**body, "groups": [], "tiers": [{"name": "db", "servers": ["s1"]}]},
                headers=AUTH,
            )
            assert bad.status_code == 422 and "groups" in bad.text, bad.text

            bare = await o.plan({**body, "name": "no-groups", "groups": []})
            checks = (await o.get(f"/v1/plans/{bare['id']}"))["readiness"]["checks"]
            assert [c for c in checks if c["check"].startswith("consistency point")] == [
                {
                    "site": B,
                    "check": "consistency points",
                    "ok": True,
                    "detail": NOT_NEEDED,
                }
            ]

            plan = await o.plan(body)  # retries readiness until ready: no CP is ever published
            checks = (await o.get(f"/v1/plans/{plan['id']}"))["readiness"]["checks"]
            cp_checks = [c for c in checks if c["check"].startswith("consistency point")]
            assert cp_checks == [
                {
                    "site": B,
                    "check": "consistency point g-web-templates",
                    "ok": True,
                    "detail": NOT_NEEDED,
                }
            ]
            e = await o.run(plan["id"], "failover")
            assert e["state"] == "succeeded", e["error"]
            assert e["consistency_point_id"] is None and e["recovery_point"] is None
            assert (e["rpo_seconds"], e["rpo_basis"]) == (0.0, "stateless")

            steps = {s["id"]: s for s in e["steps"]}
            made = [s for s in e["steps"] if s["action"] == "stateless"]
            assert sorted(s["id"] for s in made) == [
                "stateless:app-0",
                "stateless:app-1",
                "stateless:cache-0",
                "stateless:web-0",
                "stateless:web-1",
            ]
            # Tier order from the steps' own times: each tier's pre hooks, then its members, then
            # its post hooks, and only then the next tier.
            order = ["cache", "app", "web"]
            previous_end = None
            for tier in order:
                pre, post = steps[f"tier:{tier}:pre"], steps[f"tier:{tier}:post"]
                members = [s for s in made if s["tier"] == tier]
                if previous_end is not None:
                    assert _at(pre["started_at"]) >= previous_end, tier
                for m in members:
                    assert _at(m["started_at"]) >= _at(pre["finished_at"]), m["id"]
                    assert _at(m["finished_at"]) <= _at(post["started_at"]), m["id"]
                previous_end = _at(post["finished_at"])
            hooks = [json.loads(line) for line in log.read_text().splitlines()]
            assert hooks == [
                [B, "cache", "post"],
                [B, "app", "pre"],
                [B, "app", "post"],
                [B, "web", "pre"],
            ]
            # Issue 14: the hook saw only PATH, LANG and the documented LIFEBOAT_HOOK_* variables.
            seen = json.loads(envs.read_text().splitlines()[0])
            assert set(seen) == {"PATH", "LANG", *(f"LIFEBOAT_HOOK_{v}" for v in DOCUMENTED)}, seen
            assert (seen["LIFEBOAT_HOOK_PLAN_ID"], seen["LIFEBOAT_HOOK_EXECUTION_ID"]) == (
                plan["id"],
                e["id"],
            )
            assert (seen["LIFEBOAT_HOOK_TIER"], seen["LIFEBOAT_HOOK_PHASE"]) == ("cache", "post")
            assert seen["LIFEBOAT_HOOK_SITE"] == B and CANARY not in json.dumps(seen)
            outcomes = steps["tier:cache:post"]["result"]["hooks"]
            assert outcomes[:2] == ["command record ok", "webhook 204"], outcomes
            leak, local = outcomes[2], outcomes[3]
            assert leak.startswith("failed (continued): command hook 'leak' exited 3: ...x"), leak
            assert leak.endswith("token=***") and len(leak) < 250, leak
            assert "loopback" in local and internal.hits == [], local
            assert json.loads(receiver.hits[0]["body"])["tier"] == "cache"
            whole = json.dumps(await o.get(f"/v1/executions/{e['id']}"))
            assert CANARY not in whole and "tok-9d2b71e0c4" not in whole
            assert "LIFEBOAT_API_TOKEN" not in whole and "PATH" not in whole

            # The servers exist at the DR site, made from the template, and run; Nova's creation
            # times (second resolution) follow the tiers too.
            dr = {s.id: s for s in await (await o.project(B)).compute.list_servers()}
            created: dict[str, list[str]] = {}
            for m in made:
                server = dr[m["result"]["server_id"]]
                assert server.status == "ACTIVE" and server.image_id, server
                assert server.name == f"{m['id'].split(':', 1)[1]}" and m["result"]["addresses"]
                created.setdefault(m["tier"], []).append(str(server.created_at))
            assert max(created["cache"]) <= min(created["app"])
            assert max(created["app"]) <= min(created["web"])
            state = (await o.get(f"/v1/plans/{plan['id']}"))["state"]
            assert state["status"] == "failed-over" and state["active_site"] == B

            # And back: nothing replicates in reverse; failback makes the members at A again.
            back = await o.run(plan["id"], "reprotect")
            assert back["state"] == "succeeded", back["error"]
            state = (await o.get(f"/v1/plans/{plan['id']}"))["state"]
            assert (state["status"], state["protected_to"], state["reverse_group"]) == (
                "reprotected",
                A,
                None,
            )
            home = await o.run(plan["id"], "failback")
            assert home["state"] == "succeeded", home["error"]
            assert (home["rpo_seconds"], home["rpo_basis"]) == (0.0, "stateless")
            at_a = {s.id: s for s in await (await o.project(A)).compute.list_servers()}
            remade = [s["result"]["server_id"] for s in home["steps"] if s["action"] == "stateless"]
            assert len(remade) == 5 and all(at_a[sid].status == "ACTIVE" for sid in remade)
            state = (await o.get(f"/v1/plans/{plan['id']}"))["state"]
            assert state["active_site"] == A
    finally:
        receiver.close()
        internal.close()

"""Every field is validated: 422 naming the field, 409 for conflicts, 404 naming the id."""

from __future__ import annotations

import uuid
from typing import Any

from tests.integration.policy.conftest import Policy, make_group, seed


def loc(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    return [str(p) for p in response.json()["detail"][0]["loc"]]


async def test_policy_fields_are_validated(policy: Policy) -> None:
    c = policy.client
    good = {"name": "p", "rpo_seconds": 60}
    assert loc(await c.post("/v1/policies", json={**good, "cron": "*/5 * * * *"})) == [
        "body",
        "cron",
    ]
    assert loc(await c.post("/v1/policies", json={"name": "p"})) == ["body", "cron"]
    bad_cron = await c.post("/v1/policies", json={"name": "p", "cron": "61 * * * *"})
    assert loc(bad_cron) == ["body", "cron"] and "cron" in bad_cron.json()["detail"][0]["msg"]
    assert loc(await c.post("/v1/policies", json={**good, "bind_address": "10.0.0.300"})) == [
        "body",
        "bind_address",
    ]
    assert loc(await c.post("/v1/policies", json={**good, "bandwidth_bytes_per_s": 0})) == [
        "body",
        "bandwidth_bytes_per_s",
    ]
    assert loc(await c.post("/v1/policies", json={**good, "rpo_seconds": 0})) == [
        "body",
        "rpo_seconds",
    ]
    hook = await c.post("/v1/policies", json={**good, "quiesce": {"method": "hook"}})
    assert loc(hook) == ["body", "quiesce"] and "hook" in hook.json()["detail"][0]["msg"]
    webhook_without_url = {
        "method": "hook",
        "hook": {
            "pre_freeze": {"kind": "webhook"},
            "post_thaw": {"kind": "command", "name": "thaw"},
        },
    }
    bad = await c.post("/v1/policies", json={**good, "quiesce": webhook_without_url})
    assert loc(bad) == ["body", "quiesce"] and "pre_freeze" in bad.json()["detail"][0]["msg"]
    # Issue 14: the API never takes a command line; the refusal says how to install a hook.
    command_line = {
        "method": "hook",
        "hook": {
            "pre_freeze": {"kind": "command", "command": ["/bin/sh", "-c", "id"]},
            "post_thaw": {"kind": "command", "name": "thaw"},
        },
    }
    bad = await c.post("/v1/policies", json={**good, "quiesce": command_line})
    msg = bad.json()["detail"][0]["msg"]
    assert loc(bad) == ["body", "quiesce"] and "hook.pre_freeze.command" in msg, msg
    assert "LIFEBOAT_REPLICATOR_HOOKS" in msg and '"name"' in msg, msg
    # A webhook to a literal non-global address is refused at create time, naming the field.
    for target in ("127.0.0.1", "[::1]", "169.254.169.254", "0x7f.1", "2130706433", "10.0.0.1"):
        internal = {
            "method": "hook",
            "hook": {
                "pre_freeze": {"kind": "command", "name": "freeze"},
                "post_thaw": {"kind": "webhook", "url": f"http://{target}/thaw"},
            },
        }
        bad = await c.post("/v1/policies", json={**good, "quiesce": internal})
        assert loc(bad) == ["body", "quiesce", "hook", "post_thaw", "url"], (target, bad.text)
        assert bad.json()["detail"][0]["msg"].startswith("quiesce.hook.post_thaw.url: "), bad.text
    retention = await c.post("/v1/policies", json={**good, "retention": {"keep_last": 0}})
    assert loc(retention)[:3] == ["body", "retention", "keep_last"]
    assert loc(await c.post("/v1/policies", json={**good, "colour": "red"})) == ["body", "colour"]
    full = {
        **good,
        "retention": {"keep_last": 5, "hourly": 24, "daily": 7, "weekly": 4},
        "quiesce": {
            "method": "hook",
            "on_failure": "retry",
            "retries": 2,
            "hook": {
                "pre_freeze": {"kind": "webhook", "url": "https://app.example/freeze"},
                "post_thaw": {"kind": "command", "name": "thaw-all"},
            },
        },
        "bandwidth_bytes_per_s": 50_000_000,
        "bind_address": "192.0.2.10",
        "replicate_on": {"detach": True, "shutdown": True},
    }
    created = await c.post("/v1/policies", json=full)
    assert created.status_code == 201, created.text
    assert created.json()["bind_address"] == "192.0.2.10"
    dup = await c.post("/v1/policies", json=full)
    assert dup.status_code == 409 and dup.json()["detail"].startswith("name:")
    weekly = await c.post("/v1/policies", json={"name": "weekly", "cron": "0 2 * * 0"})
    assert weekly.status_code == 201 and weekly.json()["rpo_target_seconds"] == 7 * 24 * 3600
    missing = await c.get(f"/v1/policies/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json()["detail"].startswith("policy_id:")


async def test_site_and_group_fields_are_validated(policy: Policy) -> None:
    c = policy.client
    ids = await seed(policy)
    site = {"site_id": "x", "cloud": "cx", "role": "protected"}
    assert loc(await c.post("/v1/sites", json={**site, "role": "primary"})) == ["body", "role"]
    assert loc(await c.post("/v1/sites", json={**site, "data_endpoint": "nohost"})) == [
        "body",
        "data_endpoint",
    ]
    assert loc(await c.post("/v1/sites", json={**site, "data_endpoint": "h:70000"})) == [
        "body",
        "data_endpoint",
    ]
    assert loc(await c.post("/v1/sites", json={**site, "site_id": "a b"})) == ["body", "site_id"]
    dup = await c.post("/v1/sites", json={**site, "site_id": "a"})
    assert dup.status_code == 409 and dup.json()["detail"].startswith("site_id:")
    updated = await c.put("/v1/sites/b", json={"cloud": "cloud-b2", "role": "recovery"})
    assert updated.status_code == 200 and updated.json()["cloud"] == "cloud-b2"

    good = {
        "name": "db",
        "project_id": "p1",
        "source_site": "a",
        "target_site": "b",
        "policy_id": ids["policy_id"],
        "members": {"servers": ["s1"]},
    }
    for field, value in (
        ("source_site", "nowhere"),
        ("target_site", "nowhere"),
        ("target_site", "a"),  # the same as the source
        ("source_site", "b"),  # a recovery-only site cannot be protected
        ("policy_id", "nope"),
    ):
        assert loc(await c.post("/v1/protection-groups", json={**good, field: value})) == [
            "body",
            field,
        ], (field, value)
    assert loc(await c.post("/v1/protection-groups", json={**good, "members": {}})) == [
        "body",
        "members",
    ]
    twice = {"servers": ["s1", "s1"]}
    assert loc(await c.post("/v1/protection-groups", json={**good, "members": twice}))[:3] == [
        "body",
        "members",
        "servers",
    ]
    stateless = {"stateless": [{"name": "web", "image": "img", "flavor": "m1"}]}
    ok = await c.post("/v1/protection-groups", json={**good, "members": stateless})
    assert ok.status_code == 201, ok.text
    dup = await c.post("/v1/protection-groups", json=good)
    assert dup.status_code == 409 and dup.json()["detail"].startswith("name:")
    role = await c.put("/v1/sites/b", json={"cloud": "cloud-b2", "role": "protected"})
    assert role.status_code == 409 and role.json()["detail"].startswith("role:")
    used = await c.delete(f"/v1/policies/{ids['policy_id']}")
    assert used.status_code == 409 and used.json()["detail"].startswith("policy_id:")
    missing = await c.get(f"/v1/protection-groups/{uuid.uuid4()}/status")
    assert missing.status_code == 404 and missing.json()["detail"].startswith("group_id:")
    bad_key = await c.post(
        f"/v1/protection-groups/{ok.json()['id']}/replicate-now",
        headers={"Idempotency-Key": "no spaces allowed"},
    )
    assert loc(bad_key) == ["header", "Idempotency-Key"]
    # Nothing half-done: exactly one group, and the registry announced every site write.
    assert len((await c.get("/v1/protection-groups")).json()) == 1
    from lifeboat_shared.contracts.messages import SiteRegistered

    announced = await policy.events(SiteRegistered)
    assert [e.site.site_id for e in announced] == ["a", "a2", "b", "c", "b"]
    assert announced[-1].site.cloud == "cloud-b2"


async def test_app_set_rules(policy: Policy) -> None:
    ids = await seed(policy)
    g1 = await make_group(policy, ids["policy_id"], "g1")
    g2 = await make_group(policy, ids["policy_id"], "g2")
    g3 = await make_group(policy, ids["policy_id"], "g3", target="c")
    c = policy.client
    body = {"name": "s", "project_id": "p1", "group_ids": [g1["id"], g3["id"]]}
    other_target = await c.post("/v1/app-sets", json=body)
    assert other_target.status_code == 409 and "target_site" in other_target.json()["detail"]
    unknown = await c.post("/v1/app-sets", json={**body, "group_ids": [g1["id"], "nope"]})
    assert loc(unknown) == ["body", "group_ids"]
    ok = await c.post("/v1/app-sets", json={**body, "group_ids": [g1["id"], g2["id"]]})
    assert ok.status_code == 201, ok.text
    again = await c.post("/v1/app-sets", json={**body, "name": "t", "group_ids": [g2["id"]]})
    assert again.status_code == 409 and "already in set" in again.json()["detail"]
    in_set = await c.delete(f"/v1/protection-groups/{g1['id']}")
    assert in_set.status_code == 409

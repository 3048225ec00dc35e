"""UC7: a policy chooses the backup strategy; a bad value is refused naming the field; the
strategy travels to the replicator inside the group's ticks (and defaults to blocks)."""

from __future__ import annotations

from datetime import timedelta

from lifeboat_policy.service_layer.scheduler import emit_due_ticks
from lifeboat_shared.contracts.messages import RpoTickElapsed
from tests.integration.policy.conftest import Policy, at, make_group, seed


async def test_strategy_is_validated_shown_and_carried_in_ticks(policy: Policy) -> None:
    c = policy.client
    bad = await c.post("/v1/policies", json={"name": "x", "rpo_seconds": 60, "strategy": "tape"})
    assert bad.status_code == 422, bad.text
    assert [str(p) for p in bad.json()["detail"][0]["loc"]] == ["body", "strategy"]
    ids = await seed(policy, strategy="backup")
    shown = (await c.get(f"/v1/policies/{ids['policy_id']}")).json()
    assert shown["strategy"] == "backup"
    plain = await c.post("/v1/policies", json={"name": "plain", "rpo_seconds": 60})
    assert plain.status_code == 201 and plain.json()["strategy"] == "blocks"

    backed = await make_group(policy, ids["policy_id"], "app")
    blocks = await make_group(policy, plain.json()["id"], "db")
    due = []
    for g in (backed, blocks):
        status = (await c.get(f"/v1/protection-groups/{g['id']}/status")).json()
        due.append(at(str(status["next_due_at"])))
    await emit_due_ticks(policy.runtime, max(due) + timedelta(milliseconds=1))
    ticks = {t.group_id: t for t in await policy.events(RpoTickElapsed)}
    assert ticks[backed["id"]].spec.strategy == "backup"
    assert ticks[blocks["id"]].spec.strategy == "blocks"

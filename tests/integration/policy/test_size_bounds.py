"""Size bounds: a group's ids (65,536 characters) and an application set's (163,840) are
refused past their budget with a 422 naming the field, so their ticks fit the bus's limit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lifeboat_policy.service_layer.scheduler import emit_due_ticks
from tests.integration.policy.conftest import Policy, make_group, seed


async def test_groups_and_sets_are_bounded_so_their_ticks_fit(policy: Policy) -> None:
    ids = await seed(policy)
    long = "x" * 100
    r = await policy.client.post(
        "/v1/protection-groups",
        json={
            "name": "huge",
            "project_id": "p1",
            "source_site": "a",
            "target_site": "b",
            "policy_id": ids["policy_id"],
            "members": {"servers": [f"s{i}-{long}" for i in range(700)]},
        },
    )
    assert r.status_code == 422, r.text
    assert "members and seed_volumes" in r.text and len(r.content) < 2000
    # Three groups just under the budget each: any two make a set, all three do not.
    groups = [
        await make_group(
            policy, ids["policy_id"], f"g{n}", servers=[f"s{n}-{i}-{long}" for i in range(540)]
        )
        for n in range(3)
    ]
    every = [g["id"] for g in groups]
    r = await policy.client.post(
        "/v1/app-sets", json={"name": "too-big", "project_id": "p1", "group_ids": every}
    )
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["body", "group_ids"]
    r = await policy.client.post(
        "/v1/app-sets", json={"name": "fits", "project_id": "p1", "group_ids": every[:2]}
    )
    assert r.status_code == 201, r.text
    # The set's tick (both groups' ids) fits the bus's default limit.
    far = datetime.now(UTC) + timedelta(days=1)
    assert r.json()["id"] in {t.unit_id for t in await emit_due_ticks(policy.runtime, far)}

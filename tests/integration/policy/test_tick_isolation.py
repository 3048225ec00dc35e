"""A group whose tick cannot be published (over the bus limit) does not stop other groups' ticks:
it is left out, its status says why, and it is retried at its next due time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lifeboat_policy import metrics
from lifeboat_policy.service_layer.scheduler import emit_due_ticks
from lifeboat_shared.contracts.messages import RpoTickElapsed
from tests.integration.policy.conftest import Policy, make_group, seed


@pytest.fixture
def policy_settings(policy_settings: dict[str, Any]) -> dict[str, Any]:
    return {**policy_settings, "max_record_bytes": 6 * 1024}


async def test_oversized_group_does_not_stop_other_ticks(policy: Policy) -> None:
    ids = await seed(policy)
    small = await make_group(policy, ids["policy_id"], "small")
    # Each member alone is fine; the tick of all of them together is over 6 KiB.
    big = await make_group(
        policy, ids["policy_id"], "big", servers=[f"srv-{i:04d}-{'x' * 40}" for i in range(150)]
    )
    other = await make_group(policy, ids["policy_id"], "other")
    failures = metrics.TICK_FAILURES._value.get()
    far = datetime.now(UTC) + timedelta(days=1)
    ticked = sorted(t.unit_id for t in await emit_due_ticks(policy.runtime, far))
    assert ticked == sorted([small["id"], other["id"]])
    assert metrics.TICK_FAILURES._value.get() == failures + 1
    st = (await policy.client.get(f"/v1/protection-groups/{big['id']}/status")).json()
    assert st["last_failure"]["stage"] == "schedule"
    assert "over the bus limit" in st["last_failure"]["reason"]
    ticks = await policy.events(RpoTickElapsed)
    assert sorted(t.group_id for t in ticks) == sorted([small["id"], other["id"]])
    # The next pass ticks the others again; the big one is retried, and isolated again.
    later = far + timedelta(days=1)
    again = sorted(t.unit_id for t in await emit_due_ticks(policy.runtime, later))
    assert again == sorted([small["id"], other["id"]])
    assert metrics.TICK_FAILURES._value.get() == failures + 2

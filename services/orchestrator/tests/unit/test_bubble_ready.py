"""The end of a bubble test when the plan's servers have no network: a clear step failure (which
the runner does not retry), where ``next(iter({}))`` used to raise StopIteration inside the
coroutine ("RuntimeError: coroutine raised StopIteration"). Plain objects only, no I/O."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from lifeboat_orchestrator.adapters.plans import Plan
from lifeboat_orchestrator.domain.execution import Execution, build_steps
from lifeboat_orchestrator.domain.plan import (
    Capture,
    CapturedNetwork,
    CapturedServer,
    PlanSpec,
    PlanState,
)
from lifeboat_orchestrator.service_layer.steps.bubble import bubble_ready
from lifeboat_orchestrator.service_layer.steps.context import StepEnv, StepFailed
from lifeboat_orchestrator.service_layer.steps.network import prepare_bubble
from lifeboat_shared.cloud.sites import SiteClouds
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.messages import BubbleReady

A, B = "site-a", "site-b"
SERVER = "11111111-1111-1111-1111-111111111111"


def bubble_env(
    step_id: str, networks: dict[str, CapturedNetwork], results: dict[str, dict[str, Any]]
) -> tuple[StepEnv, list[Message]]:
    spec = PlanSpec(
        name="shop",
        project_id="demo",
        groups=["g-1"],
        source_site=A,
        target_sites=[B],
        tiers=[{"name": "db", "servers": [SERVER]}],  # type: ignore[list-item]
    )
    now = datetime.now(UTC)
    capture = Capture(
        servers={SERVER: CapturedServer(server_id=SERVER, name="db", flavor="m1.small")},
        networks=networks,
    )
    plan = Plan(str(uuid.uuid4()), spec, capture, PlanState(active_site=A), now, now)
    execution = Execution(
        id=str(uuid.uuid4()),
        plan_id=plan.id,
        kind="test-failover",
        source_site=A,
        target_site=B,
        requested_by="test",
        created_at=now,
        steps=build_steps("test-failover", spec, A, B),
    )
    emitted: list[Message] = []

    async def emit(message: Message, _event_id: str) -> None:
        emitted.append(message)

    async def wait_cp(*_args: Any) -> Any:
        raise AssertionError("a bubble step waits for no CP")

    env = StepEnv(
        execution=execution,
        plan=plan,
        step=execution.step(step_id),
        clouds=SiteClouds(None),
        sites={},
        results=results,
        emit=emit,
        wait_cp=wait_cp,
        cps={},
    )
    return env, emitted


RECOVERED = {f"recover:{SERVER}": {"server_id": "22222222-2222-2222-2222-222222222222"}}


async def test_a_plan_without_networks_fails_the_bubble_network_step_clearly() -> None:
    env, _ = bubble_env("network", {}, {})
    with pytest.raises(StepFailed, match="needs a network to isolate"):
        await prepare_bubble(env)  # before it touches any cloud: env.sites is empty


async def test_bubble_ready_without_a_network_is_a_step_failure_not_stop_iteration() -> None:
    env, emitted = bubble_env("bubble-ready", {}, {**RECOVERED, "network": {"networks": {}}})
    with pytest.raises(StepFailed, match="the bubble has no network"):
        await bubble_ready(env)
    env, emitted = bubble_env("bubble-ready", {}, RECOVERED)  # no network result at all
    with pytest.raises(StepFailed, match="the bubble has no network"):
        await bubble_ready(env)
    assert emitted == []


async def test_bubble_ready_announces_the_bubble_on_its_first_network() -> None:
    net = CapturedNetwork(network_id="n-1", name="private")
    env, emitted = bubble_env(
        "bubble-ready",
        {"n-1": net},
        {**RECOVERED, "network": {"networks": {"n-1": "bubble-net"}, "entry_point": "r-1"}},
    )
    result = await bubble_ready(env)
    assert result["servers"] == 1
    [ready] = emitted
    assert isinstance(ready, BubbleReady)
    assert ready.network_id == "bubble-net" and ready.entry_point == "r-1"
    assert ready.server_ids == ["22222222-2222-2222-2222-222222222222"]

"""Starting runs: on demand (the API) and when a definition's schedule is due (the runner)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_shared.contracts.base import Message
from lifeboat_verifier.adapters.definitions import DefinitionRepository
from lifeboat_verifier.adapters.repository import TestRunRepository
from lifeboat_verifier.domain.definitions import TestDefinition
from lifeboat_verifier.domain.model import TestRun
from lifeboat_verifier.domain.schedule import ScheduleClock
from lifeboat_verifier.service_layer import runs


async def start_run(
    session: AsyncSession,
    d: TestDefinition,
    run_id: str,
    started_by: str,
    now: datetime,
    failover_wait: float,
) -> tuple[TestRun, list[Message]]:
    """Record the run and ask for its test failover (the run id is the idempotency key)."""
    repo = TestRunRepository(session)
    existing = await repo.get(run_id)
    if existing is not None:
        return existing, []
    run, messages = runs.new_run(d, run_id, started_by, now, failover_wait)
    await repo.add(run)
    # no BubbleReady by then: the run fails and tears down whatever was made
    await repo.hold_until(run_id, now + timedelta(seconds=failover_wait))
    return run, messages


async def fire_due(
    session: AsyncSession, now: datetime, clock: ScheduleClock, failover_wait: float
) -> list[tuple[TestRun, list[Message]]]:
    """Every due definition fires once: its due time moves on by compare-and-set, so of several
    verifier replicas only one starts the run (and the run id is the due time's)."""
    definitions = DefinitionRepository(session)
    started: list[tuple[TestRun, list[Message]]] = []
    for d in await definitions.due(now):
        assert d.next_due_at is not None and d.schedule is not None
        nxt = clock.next_fire(d.schedule, max(now, d.next_due_at), d.created_at)
        if not await definitions.advance(d.definition_id, d.next_due_at, nxt):
            continue  # another replica fired it
        run_id = runs.run_id_for(d.definition_id, d.next_due_at)
        started.append(
            await start_run(session, d, run_id, f"schedule:{d.created_by}", now, failover_wait)
        )
    return started

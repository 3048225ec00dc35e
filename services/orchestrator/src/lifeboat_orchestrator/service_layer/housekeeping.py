"""The runner's housekeeping on each pass: evacuations move on, expired bubbles are torn down."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import sqlalchemy as sa

from lifeboat_orchestrator.adapters.orm import evacuations as evacuations_table
from lifeboat_orchestrator.adapters.orm import executions as executions_table
from lifeboat_orchestrator.domain.execution import ExecutionState
from lifeboat_orchestrator.service_layer import evacuation
from lifeboat_orchestrator.service_layer.executions import ExecutionRejected, start_execution
from lifeboat_shared.persistence.database import Database

log = logging.getLogger(__name__)


async def advance_evacuations(db: Database) -> bool:
    """One pass over running evacuations; True if it started executions."""
    async with db.read() as s:
        running = [
            r[0]
            for r in await s.execute(
                sa.select(evacuations_table.c.id).where(evacuations_table.c.state == "running")
            )
        ]
    started = False
    for evac_id in running:
        async with db.transaction() as s:
            evac = await evacuation.get_evacuation(s, evac_id, for_update=True)
            if evac is not None and evac["state"] == "running":
                started |= await evacuation.advance(s, evac, f"evacuation:{evac_id}")
    return started


async def expire_tests(db: Database) -> None:
    """Bubble tests past their timeout are torn down by themselves."""
    now = datetime.now(UTC)
    async with db.read() as s:
        rows = await s.execute(
            sa.select(
                executions_table.c.id, executions_table.c.plan_id, executions_table.c.params
            ).where(
                executions_table.c.kind == "test-failover",
                executions_table.c.state == ExecutionState.SUCCEEDED.value,
            )
        )
        due = [
            (r[0], r[1])
            for r in rows
            if r[2].get("expires_at")
            and datetime.fromisoformat(r[2]["expires_at"]) < now
            and not r[2].get("torn_down")
        ]
    for test_id, plan_id in due:
        try:
            async with db.transaction() as s:
                _, created = await start_execution(
                    s,
                    execution_id=f"{test_id[:100]}.cleanup",
                    plan_id=plan_id,
                    kind="test-cleanup",
                    requested_by="orchestrator:test-timeout",
                    params={"test_id": test_id, "reason": "expired"},
                )
            if created:
                log.info("bubble test %s expired: tearing it down", test_id)
        except ExecutionRejected as exc:
            log.debug("test %s not torn down yet: %s", test_id, exc)

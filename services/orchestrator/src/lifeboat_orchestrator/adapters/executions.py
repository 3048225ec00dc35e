"""Executions and their steps in and out of the database, with the runner's lease."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_orchestrator.adapters.orm import execution_steps as st
from lifeboat_orchestrator.adapters.orm import executions as t
from lifeboat_orchestrator.domain.execution import Execution, ExecutionState, Step, StepState
from lifeboat_shared.persistence.types import aware


def _opt(value: datetime | None) -> datetime | None:
    return aware(value) if value is not None else None


def _step(row: sa.Row[Any]) -> Step:
    m = row._mapping
    return Step(
        id=m["id"],
        action=m["action"],
        seq=m["seq"],
        depends_on=list(m["depends_on"]),
        tier=m["tier"],
        site=m["site"],
        params=dict(m["params"]),
        state=StepState(m["state"]),
        attempts=m["attempts"],
        result=dict(m["result"]),
        error=m["error"],
        started_at=_opt(m["started_at"]),
        finished_at=_opt(m["finished_at"]),
    )


def _step_values(s: Step) -> dict[str, Any]:
    return {
        "state": s.state.value,
        "attempts": s.attempts,
        "result": s.result,
        "error": s.error,
        "started_at": s.started_at,
        "finished_at": s.finished_at,
    }


class ExecutionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @staticmethod
    def _execution(row: sa.Row[Any]) -> Execution:
        m = row._mapping
        return Execution(
            id=m["id"],
            plan_id=m["plan_id"],
            kind=m["kind"],
            source_site=m["source_site"],
            target_site=m["target_site"],
            requested_by=m["requested_by"],
            created_at=aware(m["created_at"]),
            state=ExecutionState(m["state"]),
            consistency_point_id=m["consistency_point_id"],
            recovery_point=_opt(m["recovery_point"]),
            params=dict(m["params"]),
            error=m["error"],
            finished_at=_opt(m["finished_at"]),
        )

    async def get(self, execution_id: str, *, steps: bool = True) -> Execution | None:
        row = (await self.session.execute(sa.select(t).where(t.c.id == execution_id))).first()
        if row is None:
            return None
        execution = self._execution(row)
        if steps:
            q = sa.select(st).where(st.c.execution_id == execution_id).order_by(st.c.seq)
            execution.steps = [_step(r) for r in await self.session.execute(q)]
        return execution

    async def all(
        self,
        *,
        plan_id: str | None = None,
        state: str | None = None,
        limit: int = 200,
        plan_ids: list[str] | None = None,
    ) -> list[Execution]:
        q = sa.select(t).order_by(t.c.created_at.desc()).limit(limit)
        if plan_id:
            q = q.where(t.c.plan_id == plan_id)
        if plan_ids is not None:  # tenant isolation: only these plans' executions
            q = q.where(t.c.plan_id.in_(plan_ids))
        if state:
            q = q.where(t.c.state == state)
        return [self._execution(r) for r in await self.session.execute(q)]

    async def progress(self, ids: list[str]) -> dict[str, tuple[int, int]]:
        """(done, total) steps per execution, in one query (listings load no steps)."""
        if not ids:
            return {}
        done = sa.func.sum(sa.case((st.c.state.in_(["succeeded", "skipped"]), 1), else_=0))
        q = (
            sa.select(st.c.execution_id, done, sa.func.count())
            .where(st.c.execution_id.in_(ids))
            .group_by(st.c.execution_id)
        )
        return {r[0]: (int(r[1] or 0), int(r[2])) for r in await self.session.execute(q)}

    async def states(self, ids: list[str]) -> dict[str, tuple[str, str | None]]:
        """(state, error) of many executions in one query (an evacuation's pass)."""
        if not ids:
            return {}
        q = sa.select(t.c.id, t.c.state, t.c.error).where(t.c.id.in_(ids))
        return {r[0]: (r[1], r[2]) for r in await self.session.execute(q)}

    async def running_for_plan(self, plan_id: str) -> list[Execution]:
        q = sa.select(t).where(t.c.plan_id == plan_id, t.c.state == ExecutionState.RUNNING.value)
        return [self._execution(r) for r in await self.session.execute(q)]

    async def add(self, execution: Execution) -> None:
        await self.session.execute(
            sa.insert(t).values(
                id=execution.id,
                plan_id=execution.plan_id,
                kind=execution.kind,
                state=execution.state.value,
                source_site=execution.source_site,
                target_site=execution.target_site,
                consistency_point_id=execution.consistency_point_id,
                recovery_point=execution.recovery_point,
                requested_by=execution.requested_by,
                params=execution.params,
                error=execution.error,
                created_at=execution.created_at,
                finished_at=execution.finished_at,
            )
        )
        if execution.steps:
            await self.session.execute(
                sa.insert(st),
                [
                    {
                        "execution_id": execution.id,
                        "id": s.id,
                        "seq": s.seq,
                        "action": s.action,
                        "depends_on": s.depends_on,
                        "tier": s.tier,
                        "site": s.site,
                        "params": s.params,
                        **_step_values(s),
                    }
                    for s in execution.steps
                ],
            )

    async def save_step(self, execution_id: str, step: Step) -> None:
        await self.session.execute(
            sa.update(st)
            .where(st.c.execution_id == execution_id, st.c.id == step.id)
            .values(**_step_values(step))
        )

    async def save(self, execution: Execution) -> None:
        await self.session.execute(
            sa.update(t)
            .where(t.c.id == execution.id)
            .values(
                state=execution.state.value,
                consistency_point_id=execution.consistency_point_id,
                recovery_point=execution.recovery_point,
                params=execution.params,
                error=execution.error,
                finished_at=execution.finished_at,
            )
        )

    # --- the runner's lease --------------------------------------------------------------------
    async def claim(
        self,
        owner: str,
        now: datetime,
        until: datetime,
        limit: int,
        exclude: Collection[str] = (),
    ) -> list[str]:
        """Lease running executions that are free (never leased, expired, or ours from before a
        restart); ``exclude``: the ones this runner is driving already (renewed separately).

        The candidates are picked (on PostgreSQL locked, skipping rows another runner is taking),
        then one UPDATE takes the leases *re-checking the same condition* and returns the ids it
        really updated: a row another runner leased between the pick and the update is not ours,
        whatever the engine or isolation level."""
        free = sa.or_(t.c.lease_until.is_(None), t.c.lease_until < now, t.c.lease_owner == owner)
        claimable = sa.and_(t.c.state == ExecutionState.RUNNING.value, free)
        q = sa.select(t.c.id).where(claimable).order_by(t.c.created_at).limit(limit)
        if exclude:
            q = q.where(t.c.id.not_in(list(exclude)))
        if self.session.bind.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        picked = [r[0] for r in await self.session.execute(q)]
        if not picked:
            return []
        taken = await self.session.execute(
            sa.update(t)
            .where(t.c.id.in_(picked), claimable)
            .values(lease_owner=owner, lease_until=until)
            .returning(t.c.id)
        )
        return [r[0] for r in taken]

    async def renew(self, owner: str, ids: list[str], until: datetime) -> list[str]:
        """Extend our leases; returns the ids still ours (a lease lost to another runner is not)."""
        if not ids:
            return []
        mine = await self.session.execute(
            sa.update(t)
            .where(t.c.id.in_(ids), t.c.lease_owner == owner)
            .values(lease_until=until)
            .returning(t.c.id)
        )
        return [r[0] for r in mine]

    async def hold(self, execution_id: str, owner: str, until: datetime) -> bool:
        """The fence before a side effect: True if ``owner`` still holds the lease of this
        running execution (extended to ``until``). One conditional UPDATE checked by row count;
        on PostgreSQL it also locks the row to the end of the caller's transaction, so no other
        runner can take the lease between this check and the caller's commit."""
        result = await self.session.execute(
            sa.update(t)
            .where(
                t.c.id == execution_id,
                t.c.lease_owner == owner,
                t.c.state == ExecutionState.RUNNING.value,
            )
            .values(lease_until=until)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def release(self, execution_id: str) -> None:
        await self.session.execute(
            sa.update(t).where(t.c.id == execution_id).values(lease_owner=None, lease_until=None)
        )

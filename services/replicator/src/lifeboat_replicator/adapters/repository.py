"""Cycles, consistency points and per-group state in and out of the database."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_replicator.adapters.orm import consistency_points as cps
from lifeboat_replicator.adapters.orm import group_state as gs
from lifeboat_replicator.adapters.orm import replication_cycles as t
from lifeboat_replicator.domain.model import (
    Consistency,
    ConsistencyPoint,
    CycleStatus,
    QuiesceFailure,
    ReplicationCycle,
    Stage,
    VolumeProgress,
)
from lifeboat_shared.persistence.types import aware

ACTIVE = [s.value for s in CycleStatus if s.active]


def _opt(value: datetime | None) -> datetime | None:
    return aware(value) if value is not None else None


def _failures(value: list[dict[str, Any]] | None) -> list[QuiesceFailure]:
    return [QuiesceFailure.from_json(f) for f in value or []]


def _cycle(row: sa.Row[Any]) -> ReplicationCycle:
    m = row._mapping
    return ReplicationCycle(
        id=m["id"],
        group_id=m["group_id"],
        project_id=m["project_id"],
        trigger=m["trigger"],
        trigger_event_id=m["trigger_event_id"],
        requested_at=aware(m["requested_at"]),
        spec=dict(m["spec"]),
        tick_seq=m["tick_seq"],
        due_by=_opt(m["due_by"]),
        full_resync=bool(m["full_resync"]),
        status=CycleStatus(m["status"]),
        stage=Stage(m["stage"]),
        attempts=m["attempts"],
        not_before=_opt(m["not_before"]),
        consistency=Consistency(m["consistency"]) if m["consistency"] else None,
        consistency_reason=m["consistency_reason"],
        quiesce_failures=_failures(m["quiesce_failures"]),
        taken_at=_opt(m["taken_at"]),
        volumes=[VolumeProgress.from_json(v) for v in m["volumes"]],
        error=m["error"],
        finished_at=_opt(m["finished_at"]),
    )


def _cycle_values(c: ReplicationCycle) -> dict[str, Any]:
    return {
        "status": c.status.value,
        "stage": c.stage.value,
        "attempts": c.attempts,
        "not_before": c.not_before,
        "consistency": c.consistency.value if c.consistency else None,
        "consistency_reason": c.consistency_reason,
        "quiesce_failures": [f.to_json() for f in c.quiesce_failures],
        "taken_at": c.taken_at,
        "volumes": [v.to_json() for v in c.volumes],
        "error": c.error,
        "finished_at": c.finished_at,
        "full_resync": c.full_resync,
    }


def _cp(row: sa.Row[Any]) -> ConsistencyPoint:
    m = row._mapping
    return ConsistencyPoint(
        id=m["id"],
        group_id=m["group_id"],
        project_id=m["project_id"],
        source_site=m["source_site"],
        target_site=m["target_site"],
        consistency=Consistency(m["consistency"]),
        taken_at=aware(m["taken_at"]),
        created_at=aware(m["created_at"]),
        cycle_id=m["cycle_id"],
        members=tuple(VolumeProgress.from_json(v) for v in m["members"]),
        member_groups=tuple(m["member_groups"]),
        pruned=bool(m["pruned"]),
        consistency_reason=m["consistency_reason"],
        quiesce_failures=tuple(_failures(m["quiesce_failures"])),
    )


def _claimable(owner: str, now: datetime) -> tuple[sa.ColumnElement[bool], sa.ColumnElement[bool]]:
    """(runnable, free): pending and due, or running with an expired lease (its runner died);
    and no live lease of another owner."""
    runnable = sa.or_(
        sa.and_(
            t.c.status == CycleStatus.PENDING.value,
            sa.or_(t.c.not_before.is_(None), t.c.not_before <= now),
        ),
        sa.and_(t.c.status == CycleStatus.RUNNING.value, t.c.lease_until < now),
    )
    free = sa.or_(t.c.lease_until.is_(None), t.c.lease_until < now, t.c.lease_owner == owner)
    return runnable, free


class CycleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once this session's transaction has committed (never on rollback)."""
        event.listen(self.session.sync_session, "after_commit", lambda _s: callback(), once=True)

    async def add(self, cycle: ReplicationCycle) -> None:
        await self.session.execute(
            sa.insert(t).values(
                id=cycle.id,
                group_id=cycle.group_id,
                project_id=cycle.project_id,
                trigger=cycle.trigger,
                trigger_event_id=cycle.trigger_event_id,
                tick_seq=cycle.tick_seq,
                spec=cycle.spec,
                requested_at=cycle.requested_at,
                due_by=cycle.due_by,
                **_cycle_values(cycle),
            )
        )

    async def save(self, cycle: ReplicationCycle, owner: str) -> bool:
        """Write the cycle's progress if ``owner`` still holds its lease; False if it does not
        (another runner took the cycle over: this one must not touch it again)."""
        result = await self.session.execute(
            sa.update(t)
            .where(t.c.id == cycle.id, t.c.lease_owner == owner)
            .values(**_cycle_values(cycle))
        )
        return int(result.rowcount) == 1  # type: ignore[attr-defined]

    async def hold(self, cycle_id: str, owner: str, lease_until: datetime) -> bool:
        """Compare-and-set fencing before a side effect: extend the lease if ``owner`` still
        holds it (the row is locked until the transaction ends), False if another runner has it."""
        result = await self.session.execute(
            sa.update(t)
            .where(
                t.c.id == cycle_id,
                t.c.lease_owner == owner,
                t.c.status == CycleStatus.RUNNING.value,
            )
            .values(lease_until=lease_until)
        )
        return int(result.rowcount) == 1  # type: ignore[attr-defined]

    async def get(self, cycle_id: str) -> ReplicationCycle | None:
        row = (await self.session.execute(sa.select(t).where(t.c.id == cycle_id))).first()
        return _cycle(row) if row else None

    async def active_for_group(self, group_id: str) -> ReplicationCycle | None:
        query = (
            sa.select(t)
            .where(t.c.group_id == group_id, t.c.status.in_(ACTIVE))
            .order_by(t.c.requested_at)
            .limit(1)
        )
        row = (await self.session.execute(query)).first()
        return _cycle(row) if row else None

    async def claim(
        self, owner: str, now: datetime, lease_until: datetime, *, limit: int = 100
    ) -> list[str]:
        """Take the lease of at most ``limit`` runnable cycles (pending and due, or running with an
        expired lease: its runner died), earliest deadline first (``due_by``, else the request
        time: due at once), and return the ids this owner actually took.

        One statement, ``UPDATE ... WHERE <claimable> AND id IN (SELECT ... FOR UPDATE SKIP
        LOCKED) RETURNING id``: on PostgreSQL concurrent claimers skip each other's rows and the
        outer WHERE is re-evaluated on the locked row, so two replicators never take one cycle;
        on SQLite write transactions are serialised (BEGIN IMMEDIATE). At most one active cycle
        per group exists."""
        runnable, free = _claimable(owner, now)
        candidates = (
            sa.select(t.c.id)
            .where(runnable, free)
            # earliest deadline first: the group nearest to breaching its RPO
            .order_by(sa.func.coalesce(t.c.due_by, t.c.requested_at), t.c.requested_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        result = await self.session.execute(
            sa.update(t)
            .where(t.c.id.in_(candidates), runnable, free)
            .values(lease_owner=owner, lease_until=lease_until, status=CycleStatus.RUNNING.value)
            .returning(t.c.id)
        )
        return [r.id for r in result]

    async def any_claimable(self, owner: str, now: datetime) -> bool:
        """Whether ``claim`` would find a cycle now (a read: no write lock for an idle pass)."""
        runnable, free = _claimable(owner, now)
        found = await self.session.execute(sa.select(t.c.id).where(runnable, free).limit(1))
        return found.first() is not None

    async def held(self, owner: str) -> set[str]:
        """The running cycles whose lease ``owner`` holds (a read: what ``renew`` would return)."""
        rows = await self.session.execute(
            sa.select(t.c.id).where(
                t.c.lease_owner == owner, t.c.status == CycleStatus.RUNNING.value
            )
        )
        return {r.id for r in rows}

    async def renew(self, owner: str, lease_until: datetime) -> set[str]:
        """Extend every lease ``owner`` holds; returns the ids it still holds."""
        result = await self.session.execute(
            sa.update(t)
            .where(t.c.lease_owner == owner, t.c.status == CycleStatus.RUNNING.value)
            .values(lease_until=lease_until)
            .returning(t.c.id)
        )
        return {r.id for r in result}

    async def release(self, cycle_id: str, owner: str) -> None:
        await self.session.execute(
            sa.update(t)
            .where(t.c.id == cycle_id, t.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )

    async def set_status_for_group(
        self,
        group_id: str,
        from_status: Sequence[CycleStatus],
        to: CycleStatus,
        *,
        error: str | None = None,
    ) -> int:
        values: dict[str, Any] = {"status": to.value, "not_before": None}
        if error is not None:
            values["error"] = error
        result = await self.session.execute(
            sa.update(t)
            .where(t.c.group_id == group_id, t.c.status.in_([s.value for s in from_status]))
            .values(**values)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def list(
        self, group_id: str | None = None, limit: int = 100, *, project_id: str | None = None
    ) -> Sequence[ReplicationCycle]:
        query = sa.select(t).order_by(t.c.requested_at.desc(), t.c.id).limit(limit)
        if group_id:
            query = query.where(t.c.group_id == group_id)
        if project_id is not None:
            query = query.where(t.c.project_id == project_id)
        return [_cycle(r) for r in await self.session.execute(query)]


class ConsistencyPointRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, cp: ConsistencyPoint) -> None:
        await self.session.execute(
            sa.insert(cps).values(
                id=cp.id,
                group_id=cp.group_id,
                project_id=cp.project_id,
                cycle_id=cp.cycle_id,
                source_site=cp.source_site,
                target_site=cp.target_site,
                consistency=cp.consistency.value,
                taken_at=cp.taken_at,
                created_at=cp.created_at,
                members=[m.to_json() for m in cp.members],
                member_groups=list(cp.member_groups),
                pruned=cp.pruned,
                consistency_reason=cp.consistency_reason,
                quiesce_failures=[f.to_json() for f in cp.quiesce_failures],
            )
        )

    async def get(self, cp_id: str) -> ConsistencyPoint | None:
        row = (await self.session.execute(sa.select(cps).where(cps.c.id == cp_id))).first()
        return _cp(row) if row else None

    async def list(
        self,
        group_id: str | None = None,
        *,
        include_pruned: bool = False,
        limit: int = 1000,
        project_id: str | None = None,
    ) -> Sequence[ConsistencyPoint]:
        query = sa.select(cps).order_by(cps.c.taken_at.desc(), cps.c.id).limit(limit)
        if group_id:
            query = query.where(cps.c.group_id == group_id)
        if project_id is not None:
            query = query.where(cps.c.project_id == project_id)
        if not include_pruned:
            query = query.where(cps.c.pruned.is_(False))
        return [_cp(r) for r in await self.session.execute(query)]

    async def newest_taken_at(self, group_id: str) -> datetime | None:
        """The recovery point of the group's newest live CP."""
        return _opt(
            await self.session.scalar(
                sa.select(sa.func.max(cps.c.taken_at)).where(
                    cps.c.group_id == group_id, ~cps.c.pruned
                )
            )
        )

    async def newest(self, group_id: str) -> ConsistencyPoint | None:
        found = await self.list(group_id, limit=1)
        return found[0] if found else None

    async def mark_pruned(self, cp_id: str) -> None:
        await self.session.execute(sa.update(cps).where(cps.c.id == cp_id).values(pruned=True))


class GroupStateRepository:
    """Newest tick per group (stale ticks are dropped) and suspension."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _row(self, group_id: str) -> sa.Row[Any] | None:
        return (await self.session.execute(sa.select(gs).where(gs.c.group_id == group_id))).first()

    async def accept_tick(self, group_id: str, tick_seq: int) -> bool:
        """Record the tick; False if an equal or newer tick was already seen."""
        row = await self._row(group_id)
        if row is None:
            await self.session.execute(
                sa.insert(gs).values(
                    group_id=group_id, last_tick_seq=tick_seq, suspended=False, resync_next=False
                )
            )
            return True
        if tick_seq <= row.last_tick_seq:
            return False
        await self.session.execute(
            sa.update(gs).where(gs.c.group_id == group_id).values(last_tick_seq=tick_seq)
        )
        return True

    async def is_suspended(self, group_id: str) -> bool:
        row = await self._row(group_id)
        return bool(row and row.suspended)

    async def set_suspended(self, group_id: str, suspended: bool) -> None:
        if await self._row(group_id) is None:
            await self.session.execute(
                sa.insert(gs).values(
                    group_id=group_id, last_tick_seq=0, suspended=suspended, resync_next=False
                )
            )
        else:
            await self.session.execute(
                sa.update(gs).where(gs.c.group_id == group_id).values(suspended=suspended)
            )

    async def suspended_groups(self) -> set[str]:
        rows = await self.session.execute(sa.select(gs.c.group_id).where(gs.c.suspended))
        return {r.group_id for r in rows}

    async def request_resync(self, group_id: str) -> None:
        await self.set_suspended(group_id, await self.is_suspended(group_id))
        await self.session.execute(
            sa.update(gs).where(gs.c.group_id == group_id).values(resync_next=True)
        )

    async def take_resync(self, group_id: str) -> bool:
        """True once after an operator asked for a full resync of the group."""
        row = await self._row(group_id)
        if row is None or not row.resync_next:
            return False
        await self.session.execute(
            sa.update(gs).where(gs.c.group_id == group_id).values(resync_next=False)
        )
        return True

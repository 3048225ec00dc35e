"""Protection groups and the scheduler's tick units in and out of the database.

Every read-modify-write goes through a ``*_for_update`` read: on PostgreSQL it locks the row
(the scheduler skips locked rows, a consumer or a request waits), on SQLite the transaction
already holds the write lock (``BEGIN IMMEDIATE``). Writes name only the columns they change.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_policy.adapters.due_times import DUE_TIMES
from lifeboat_policy.adapters.orm import protection_groups as g
from lifeboat_policy.adapters.orm import tick_units as u
from lifeboat_policy.domain.model import (
    CpSummary,
    Failure,
    Members,
    ProtectionGroup,
    QuiesceReport,
    StatelessTemplate,
    TickUnit,
)
from lifeboat_shared.persistence.types import aware

Row = sa.Row[tuple[object, ...]]


def _opt(value: Any) -> datetime | None:
    return aware(value) if value is not None else None


def members_to_json(members: Members) -> dict[str, Any]:
    return {
        "servers": list(members.servers),
        "volumes": list(members.volumes),
        "stateless": [vars(t).copy() for t in members.stateless],
    }


def _members(data: dict[str, Any]) -> Members:
    return Members(
        servers=list(data.get("servers", [])),
        volumes=list(data.get("volumes", [])),
        stateless=[StatelessTemplate(**t) for t in data.get("stateless", [])],
    )


def _quiesce(data: dict[str, Any] | None) -> QuiesceReport | None:
    if not data:
        return None
    return QuiesceReport(
        cycle_id=data["cycle_id"],
        outcome=data["outcome"],
        at=aware(datetime.fromisoformat(data["at"])),
        failures=tuple((f.get("server_id"), f["reason"]) for f in data["failures"]),
    )


def _quiesce_json(report: QuiesceReport | None) -> dict[str, Any] | None:
    if report is None:
        return None
    return {
        "cycle_id": report.cycle_id,
        "outcome": report.outcome,
        "at": report.at.isoformat(),
        "failures": [{"server_id": s, "reason": r} for s, r in report.failures],
    }


def _group(row: Row) -> ProtectionGroup:
    m = row._mapping
    cp = None
    if m["newest_cp_id"] is not None:
        cp = CpSummary(
            m["newest_cp_id"], aware(m["newest_cp_taken_at"]), aware(m["newest_cp_created_at"])
        )
    failure = None
    if m["failure_stage"] is not None:
        failure = Failure(m["failure_stage"], m["failure_reason"], aware(m["failure_at"]))
    return ProtectionGroup(
        id=m["id"],
        project_id=m["project_id"],
        name=m["name"],
        source_site=m["source_site"],
        target_site=m["target_site"],
        policy_id=m["policy_id"],
        rpo_target_seconds=m["rpo_target_seconds"],
        members=_members(m["members"]),
        created_at=aware(m["created_at"]),
        app_set_id=m["app_set_id"],
        suspended=m["suspended"],
        newest_cp=cp,
        last_failure=failure,
        last_quiesce=_quiesce(m["last_quiesce"]),
        breach_open=m["breach_open"],
        breach_episode=m["breach_episode"],
        suspended_reason=m["suspended_reason"],
        seed_volumes=dict(m["seed_volumes"] or {}),
        reverse_of=m["reverse_of"],
        extra_target_sites=list(m["extra_target_sites"] or []),
    )


def _unit(row: Row) -> TickUnit:
    m = row._mapping
    return TickUnit(
        unit_id=m["unit_id"],
        kind=m["kind"],
        created_at=aware(m["created_at"]),
        next_due_at=_opt(m["next_due_at"]),
        paused=m["paused"],
        last_tick_seq=m["last_tick_seq"],
        last_tick_at=_opt(m["last_tick_at"]),
        lead_seconds=m["lead_seconds"],
        newest_cp_taken_at=_opt(m["newest_cp_taken_at"]),
        pending_trigger=m["pending_trigger"],
    )


class GroupRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _pg(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    async def add(self, group: ProtectionGroup) -> None:
        await self.session.execute(
            sa.insert(g).values(
                id=group.id,
                project_id=group.project_id,
                name=group.name,
                source_site=group.source_site,
                target_site=group.target_site,
                policy_id=group.policy_id,
                rpo_target_seconds=group.rpo_target_seconds,
                members=members_to_json(group.members),
                created_at=group.created_at,
                app_set_id=group.app_set_id,
                suspended=group.suspended,
                suspended_reason=group.suspended_reason,
                seed_volumes=group.seed_volumes or None,
                reverse_of=group.reverse_of,
                extra_target_sites=group.extra_target_sites or None,
            )
        )

    async def get(self, group_id: str, *, for_update: bool = False) -> ProtectionGroup | None:
        query = sa.select(g).where(g.c.id == group_id)
        if for_update and self._pg:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return _group(row) if row else None

    async def many(self, ids: Sequence[str], *, for_update: bool = False) -> list[ProtectionGroup]:
        if not ids:
            return []
        query = sa.select(g).where(g.c.id.in_(list(ids))).order_by(g.c.id)
        if for_update and self._pg:
            query = query.with_for_update()
        return [_group(r) for r in await self.session.execute(query)]

    async def find_by_name(self, project_id: str, name: str) -> ProtectionGroup | None:
        query = sa.select(g).where(g.c.project_id == project_id, g.c.name == name)
        row = (await self.session.execute(query)).first()
        return _group(row) if row else None

    async def query(
        self,
        project_id: str | None = None,
        *,
        app_set_ids: Sequence[str] | None = None,
        link: tuple[str, str] | None = None,
        source_site: str | None = None,
    ) -> list[ProtectionGroup]:
        query = sa.select(g).order_by(g.c.created_at, g.c.id)
        if project_id:
            query = query.where(g.c.project_id == project_id)
        if app_set_ids is not None:
            query = query.where(g.c.app_set_id.in_(list(app_set_ids)))
        if link is not None:
            query = query.where(g.c.source_site == link[0], g.c.target_site == link[1])
        if source_site is not None:
            query = query.where(g.c.source_site == source_site)
        return [_group(r) for r in await self.session.execute(query)]

    async def uses_policy(self, policy_id: str) -> int:
        query = sa.select(sa.func.count()).select_from(g).where(g.c.policy_id == policy_id)
        return int((await self.session.execute(query)).scalar_one())

    async def uses_site(self, site_id: str, *, as_source: bool) -> int:
        """How many groups replicate from (``as_source``) or to this site."""
        column = g.c.source_site if as_source else g.c.target_site
        query = sa.select(sa.func.count()).select_from(g).where(column == site_id)
        return int((await self.session.execute(query)).scalar_one())

    async def set_app_set(self, group_ids: Sequence[str], set_id: str | None) -> None:
        await self.session.execute(
            sa.update(g).where(g.c.id.in_(list(group_ids))).values(app_set_id=set_id)
        )

    async def set_suspended(
        self, group_id: str, suspended: bool, reason: str | None = "operator"
    ) -> None:
        await self.session.execute(
            sa.update(g)
            .where(g.c.id == group_id)
            .values(suspended=suspended, suspended_reason=reason if suspended else None)
        )

    async def save_members(self, group: ProtectionGroup) -> None:
        """Members and seeds together (an operator's update, or failback re-pointing them)."""
        await self.session.execute(
            sa.update(g)
            .where(g.c.id == group.id)
            .values(members=members_to_json(group.members), seed_volumes=group.seed_volumes or None)
        )

    async def save_direction(self, group: ProtectionGroup) -> None:
        """A reverse group taken over again by a later reprotect: its sites may have moved."""
        await self.session.execute(
            sa.update(g)
            .where(g.c.id == group.id)
            .values(
                source_site=group.source_site,
                target_site=group.target_site,
                policy_id=group.policy_id,
                rpo_target_seconds=group.rpo_target_seconds,
                members=members_to_json(group.members),
                seed_volumes=group.seed_volumes or None,
                suspended=group.suspended,
                suspended_reason=group.suspended_reason,
            )
        )

    async def save_cp(self, group: ProtectionGroup) -> None:
        assert group.newest_cp is not None
        await self.session.execute(
            sa.update(g)
            .where(g.c.id == group.id)
            .values(
                newest_cp_id=group.newest_cp.id,
                newest_cp_taken_at=group.newest_cp.taken_at,
                newest_cp_created_at=group.newest_cp.created_at,
                breach_open=group.breach_open,
            )
        )

    async def save_failure(self, group: ProtectionGroup) -> None:
        assert group.last_failure is not None
        await self.session.execute(
            sa.update(g)
            .where(g.c.id == group.id)
            .values(
                failure_stage=group.last_failure.stage,
                failure_reason=group.last_failure.reason,
                failure_at=group.last_failure.at,
            )
        )

    async def save_quiesce(self, group: ProtectionGroup) -> None:
        await self.session.execute(
            sa.update(g)
            .where(g.c.id == group.id)
            .values(last_quiesce=_quiesce_json(group.last_quiesce))
        )

    async def save_breach(self, group: ProtectionGroup) -> None:
        await self.session.execute(
            sa.update(g)
            .where(g.c.id == group.id)
            .values(breach_open=group.breach_open, breach_episode=group.breach_episode)
        )

    async def breach_candidates(self, now: datetime) -> list[ProtectionGroup]:
        """Groups not yet in an open breach whose newest CP (or creation) is older than their
        target. A light unlocked scan finds them (the age arithmetic runs in Python, portable
        across engines); only those are then locked (skipping rows busy elsewhere) and checked
        again, so the check never holds locks on every group."""
        query = sa.select(
            g.c.id, g.c.created_at, g.c.newest_cp_taken_at, g.c.rpo_target_seconds
        ).where(g.c.breach_open.is_(False), g.c.suspended.is_(False))
        stale = [
            r[0]
            for r in await self.session.execute(query)
            if (now - aware(r[2] or r[1])).total_seconds() > r[3]
        ]
        if not stale:
            return []
        found = []
        for start in range(0, len(stale), 5000):  # bound the bind parameters of one query
            locked = sa.select(g).where(g.c.id.in_(stale[start : start + 5000])).order_by(g.c.id)
            if self._pg:
                locked = locked.with_for_update(skip_locked=True)
            for row in await self.session.execute(locked):
                group = _group(row)
                ref = group.newest_cp.taken_at if group.newest_cp else group.created_at
                age = (now - ref).total_seconds()
                if not group.members.replicates:
                    continue  # stateless templates only (UC8): no CP, so no RPO to breach
                if not group.breach_open and age > group.rpo_target_seconds:
                    found.append(group)
        return found

    async def rpo_snapshot(self) -> list[tuple[str, str, int, datetime | None]]:
        """(group, project, target, newest CP taken_at) of every group that replicates, for the
        gauge (a group of stateless templates only has no RPO: UC8)."""
        query = sa.select(
            g.c.id, g.c.project_id, g.c.rpo_target_seconds, g.c.newest_cp_taken_at, g.c.members
        )
        return [
            (r[0], r[1], r[2], _opt(r[3]))
            for r in await self.session.execute(query)
            if _members(r[4]).replicates
        ]

    async def delete(self, group_id: str) -> bool:
        result = await self.session.execute(sa.delete(g).where(g.c.id == group_id))
        return bool(result.rowcount)  # type: ignore[attr-defined]


class TickUnitRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _pg(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def _post_after_commit(self, due_at: datetime | None) -> None:
        """This process's scheduler hears of ``due_at`` once the transaction has committed."""
        if due_at is None or not DUE_TIMES.has_subscribers():
            return
        event.listen(
            self.session.sync_session, "after_commit", lambda _s: DUE_TIMES.post(due_at), once=True
        )  # post never raises: the transaction has committed by then

    async def add(self, unit: TickUnit) -> None:
        self._post_after_commit(unit.next_due_at)
        await self.session.execute(
            sa.insert(u).values(
                unit_id=unit.unit_id,
                kind=unit.kind,
                paused=unit.paused,
                next_due_at=unit.next_due_at,
                last_tick_seq=unit.last_tick_seq,
                created_at=unit.created_at,
            )
        )

    async def get(self, unit_id: str, *, for_update: bool = False) -> TickUnit | None:
        query = sa.select(u).where(u.c.unit_id == unit_id)
        if for_update and self._pg:
            query = query.with_for_update()
        row = (await self.session.execute(query)).first()
        return _unit(row) if row else None

    async def many(self, ids: Sequence[str], *, for_update: bool = False) -> list[TickUnit]:
        if not ids:
            return []
        query = sa.select(u).where(u.c.unit_id.in_(list(ids))).order_by(u.c.unit_id)
        if for_update and self._pg:
            query = query.with_for_update()
        return [_unit(r) for r in await self.session.execute(query)]

    async def due(self, now: datetime, limit: int) -> list[TickUnit]:
        """Due units, oldest first; on PostgreSQL locked so that concurrent schedulers (several
        replicas) each take different units and none waits for another."""
        query = sa.select(u).where(u.c.next_due_at <= now).order_by(u.c.next_due_at).limit(limit)
        if self._pg:
            query = query.with_for_update(skip_locked=True)
        return [_unit(r) for r in await self.session.execute(query)]

    async def next_due_at(self) -> datetime | None:
        """The soonest time any unit is due (the index on ``next_due_at`` answers it)."""
        # the filter lets SQLite answer from the partial index (WHERE next_due_at IS NOT NULL)
        return _opt(
            await self.session.scalar(
                sa.select(sa.func.min(u.c.next_due_at)).where(u.c.next_due_at.is_not(None))
            )
        )

    async def save(self, unit: TickUnit) -> None:
        self._post_after_commit(unit.next_due_at)
        await self.session.execute(
            sa.update(u)
            .where(u.c.unit_id == unit.unit_id)
            .values(
                paused=unit.paused,
                next_due_at=unit.next_due_at,
                last_tick_seq=unit.last_tick_seq,
                last_tick_at=unit.last_tick_at,
                lead_seconds=unit.lead_seconds,
                newest_cp_taken_at=unit.newest_cp_taken_at,
                pending_trigger=unit.pending_trigger,
            )
        )

    async def save_many(self, units: Sequence[TickUnit]) -> None:
        """One executemany for a scheduler batch (a statement per unit costs most of a pass)."""
        if not units:
            return
        statement = (
            sa.update(u)
            .where(u.c.unit_id == sa.bindparam("b_unit_id"))
            .values(
                paused=sa.bindparam("b_paused"),
                next_due_at=sa.bindparam("b_next_due_at"),
                last_tick_seq=sa.bindparam("b_last_tick_seq"),
                last_tick_at=sa.bindparam("b_last_tick_at"),
                pending_trigger=sa.bindparam("b_pending_trigger"),
            )
        )
        await self.session.execute(
            statement,
            [
                {
                    "b_unit_id": x.unit_id,
                    "b_paused": x.paused,
                    "b_next_due_at": x.next_due_at,
                    "b_last_tick_seq": x.last_tick_seq,
                    "b_last_tick_at": x.last_tick_at,
                    "b_pending_trigger": x.pending_trigger,
                }
                for x in units
            ],
        )

    async def delete(self, unit_id: str) -> None:
        await self.session.execute(sa.delete(u).where(u.c.unit_id == unit_id))

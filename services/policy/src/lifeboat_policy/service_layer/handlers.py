"""Use cases of the policy service. Each runs in one transaction with its outbox events."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from lifeboat_policy.adapters.repository import ProtectionGroupRepository
from lifeboat_policy.domain.model import ProtectionGroup
from lifeboat_shared.contracts.messages import RpoTickElapsed
from lifeboat_shared.persistence.database import Database
from lifeboat_shared.persistence.outbox import add_to_outbox
from lifeboat_shared.service.runtime import ServiceRuntime


class GroupNameTaken(Exception):
    pass


async def create_protection_group(
    db: Database, *, project_id: str, name: str, rpo_seconds: int, target_site: str
) -> ProtectionGroup:
    now = datetime.now(UTC)
    group = ProtectionGroup(
        id=str(uuid.uuid4()),
        project_id=project_id,
        name=name,
        rpo_seconds=rpo_seconds,
        target_site=target_site,
        created_at=now,
        # The first consistency point (the seed) is due at once.
        next_tick_at=now,
    )
    async with db.transaction() as session:
        repo = ProtectionGroupRepository(session)
        if await repo.find_by_name(project_id, name):
            raise GroupNameTaken(f"name: a protection group named {name!r} already exists")
        await repo.add(group)
    return group


async def emit_due_ticks(runtime: ServiceRuntime, now: datetime | None = None) -> int:
    """Advance every due group's schedule and stage its RPO tick, in one transaction.

    The tick's event id is derived from (group, sequence), so re-running after a crash can never
    publish two different ticks for the same interval.
    """
    now = now or datetime.now(UTC)
    async with runtime.db.transaction() as session:
        repo = ProtectionGroupRepository(session)
        envelopes = []
        for group in await repo.due(now):
            seq = group.take_due_tick(now)
            if seq is None:
                continue
            await repo.save_schedule(group)
            tick = RpoTickElapsed(
                group_id=group.id,
                project_id=group.project_id,
                tick_seq=seq,
                rpo_seconds=group.rpo_seconds,
                due_at=now,
            )
            envelopes.append(runtime.envelope(tick, event_id=f"rpo-tick-{group.id}-{seq}"))
        await add_to_outbox(session, envelopes)
    return len(envelopes)


async def list_groups(db: Database, project_id: str | None) -> Sequence[ProtectionGroup]:
    async with db.read() as session:
        return await ProtectionGroupRepository(session).list(project_id)

"""Read models: the status of a group (achieved RPO, schedule, suspension, last failure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from lifeboat_policy.adapters.catalog import CatalogRepository
from lifeboat_policy.adapters.repository import GroupRepository, TickUnitRepository
from lifeboat_policy.domain.model import ProtectionGroup, TickUnit
from lifeboat_policy.service_layer.errors import NotFound
from lifeboat_shared.persistence.database import Database


@dataclass
class GroupStatusView:
    group: ProtectionGroup
    unit: TickUnit | None
    achieved_rpo_seconds: float | None
    suspended_by: str | None


async def group_status(db: Database, group_id: str, now: datetime | None = None) -> GroupStatusView:
    now = now or datetime.now(UTC)
    async with db.read() as session:
        group = await GroupRepository(session).get(group_id)
        if group is None:
            raise NotFound("group_id", f"no protection group {group_id}")
        unit = await TickUnitRepository(session).get(group.app_set_id or group.id)
        catalog = CatalogRepository(session)
        suspended_by = None
        if group.suspended:
            # "group" (an operator), "failover" or "split-brain" (the DR lifecycle)
            reason = group.suspended_reason or "operator"
            suspended_by = "group" if reason == "operator" else reason
        elif await catalog.link_suspended(group.source_site, group.target_site):
            suspended_by = "site-link"
        elif group.app_set_id is not None:
            members = await GroupRepository(session).query(app_set_ids=[group.app_set_id])
            if any(m.suspended for m in members):
                suspended_by = "app-set-member"
    achieved = None
    if group.newest_cp is not None:
        achieved = max(0.0, (now - group.newest_cp.taken_at).total_seconds())
    return GroupStatusView(group, unit, achieved, suspended_by)

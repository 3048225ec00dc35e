"""What a recovery execution did to the protection (``ExecutionCompleted.protection``), applied
in the consumer's transaction (inbox: a redelivered event changes nothing twice).

The orchestrator owns the plan's lifecycle and says what changed; this service owns the groups
and their ticks and makes it so: suspend with the reason (failover, split brain), create or take
over the reverse group after reprotect (own RPO schedule, the forward group's policy), retire it
after failback, re-point the forward groups at the servers failback made (seeded from the DR
copy) and resume them at once.
"""

from __future__ import annotations

import logging
from datetime import datetime

from lifeboat_policy.adapters.catalog import CatalogRepository
from lifeboat_policy.adapters.repository import GroupRepository, TickUnitRepository
from lifeboat_policy.domain import schedule
from lifeboat_policy.domain.model import Members, ProtectionGroup, TickUnit
from lifeboat_policy.service_layer.control import with_legs
from lifeboat_policy.service_layer.units import refresh_units
from lifeboat_shared.bus.handlers import HandlerContext
from lifeboat_shared.contracts.messages import (
    ProtectionChange,
    ReplicationResumed,
    ReplicationSuspended,
)

log = logging.getLogger(__name__)


async def apply(
    changes: list[ProtectionChange], ctx: HandlerContext, *, by: str, now: datetime
) -> None:
    for change in changes:
        if change.action == "suspend":
            await _suspend(change, ctx, by=by, now=now)
        elif change.action == "resume":
            await _resume(change, ctx, by=by, now=now)
        elif change.action == "protect-reverse":
            await _protect_reverse(change, ctx, by=by, now=now)
        elif change.action == "retire":
            await _retire(change, ctx)


async def _suspend(
    change: ProtectionChange, ctx: HandlerContext, *, by: str, now: datetime
) -> None:
    groups = GroupRepository(ctx.session)
    group = await groups.get(change.group_id, for_update=True)
    if group is None:
        return
    was = group.suspended
    group.suspended, group.suspended_reason = True, change.reason
    await groups.set_suspended(group.id, True, change.reason)
    if was:
        return  # already suspended (by an operator): the reason is now the lifecycle's
    await refresh_units(ctx.session, [group.app_set_id or group.id, *group.legs], now)
    suspended = ReplicationSuspended(
        group_id=group.id,
        project_id=group.project_id,
        scope="failover",
        source_site=group.source_site,
        target_site=group.target_site,
        requested_by=by,
        at=now,
    )
    for event in with_legs(group, suspended):  # and its legs to extra target sites
        ctx.emit(event)


async def _resume(change: ProtectionChange, ctx: HandlerContext, *, by: str, now: datetime) -> None:
    groups = GroupRepository(ctx.session)
    group = await groups.get(change.group_id, for_update=True)
    if group is None:
        return
    if change.replace_servers or change.replace_volumes or change.seed_volumes:
        group.members = Members(
            servers=[change.replace_servers.get(s, s) for s in group.members.servers],
            volumes=[change.replace_volumes.get(v, v) for v in group.members.volumes],
            stateless=group.members.stateless,
        )
        group.seed_volumes = dict(change.seed_volumes)
        await groups.save_members(group)
    if not group.suspended:
        return
    group.suspended, group.suspended_reason = False, None
    await groups.set_suspended(group.id, False, None)
    await refresh_units(
        ctx.session, [group.app_set_id or group.id, *group.legs], now, due_now="resume"
    )
    resumed = ReplicationResumed(
        group_id=group.id, project_id=group.project_id, scope="failover", requested_by=by, at=now
    )
    for event in with_legs(group, resumed):
        ctx.emit(event)


async def _protect_reverse(
    change: ProtectionChange, ctx: HandlerContext, *, by: str, now: datetime
) -> None:
    groups = GroupRepository(ctx.session)
    forward = await groups.get(change.reverse_of or "")
    if forward is None or change.source_site is None or change.target_site is None:
        log.warning(
            "reverse group %s: forward group %s is gone", change.group_id, change.reverse_of
        )
        return
    policy = await CatalogRepository(ctx.session).get_policy(forward.policy_id)
    if policy is None:
        return
    units = TickUnitRepository(ctx.session)
    group = await groups.get(change.group_id, for_update=True)
    if group is None:
        name = f"{forward.name[:240]}-reverse"
        if await groups.find_by_name(forward.project_id, name):
            name = f"{forward.name[:200]}-reverse-{change.group_id[:8]}"
        group = ProtectionGroup(
            id=change.group_id,
            project_id=forward.project_id,
            name=name,
            source_site=change.source_site,
            target_site=change.target_site,
            policy_id=forward.policy_id,
            rpo_target_seconds=policy.rpo_target_seconds,
            members=Members(servers=list(change.servers)),
            created_at=now,
            reverse_of=forward.id,
        )
        await groups.add(group)
        # Its first CP is the reverse sync reprotect just took: the first tick may wait.
        due = schedule.first_due(group.id, policy.cadence, now)
        await units.add(TickUnit(group.id, "group", now, due))
        return
    was_suspended = group.suspended
    group.source_site, group.target_site = change.source_site, change.target_site
    group.policy_id, group.rpo_target_seconds = forward.policy_id, policy.rpo_target_seconds
    group.members = Members(servers=list(change.servers))
    group.seed_volumes = {}
    group.suspended, group.suspended_reason = False, None
    await groups.save_direction(group)
    if await units.get(group.id) is None:
        await units.add(TickUnit(group.id, "group", now, None, True))
    await refresh_units(ctx.session, [group.id], now, due_now="resume")
    if was_suspended:
        ctx.emit(
            ReplicationResumed(
                group_id=group.id,
                project_id=group.project_id,
                scope="failover",
                requested_by=by,
                at=now,
            )
        )


async def _retire(change: ProtectionChange, ctx: HandlerContext) -> None:
    groups = GroupRepository(ctx.session)
    group = await groups.get(change.group_id, for_update=True)
    if group is None or group.reverse_of is None or group.app_set_id is not None:
        return  # only reverse groups retire; a forward group is the operator's to delete
    await groups.delete(group.id)
    await TickUnitRepository(ctx.session).delete(group.id)

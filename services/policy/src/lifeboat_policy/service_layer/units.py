"""What the scheduler needs to know about tick units, loaded in a few queries per batch.

A unit is a group on its own, an application set, or a group's leg to one of its extra target
sites (``<group>:<site>``). Its context says whether it is paused (suspended group, suspended
site link, or a group that ticks as part of a set), whether it has anything to replicate (a unit
of stateless templates only never ticks: UC8), its cadence (a set runs at its strictest
policy's pace) and the ``ReplicationSpec`` its ticks carry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_policy.adapters.catalog import CatalogRepository
from lifeboat_policy.adapters.repository import GroupRepository, TickUnitRepository
from lifeboat_policy.domain import schedule
from lifeboat_policy.domain.model import (
    Policy,
    ProtectionGroup,
    Site,
    TickUnit,
    leg_of,
    spec_payload,
)
from lifeboat_policy.domain.model import strictest as strictest_policy
from lifeboat_shared.contracts.messages import ReplicationSpec


@dataclass
class UnitContext:
    unit_id: str
    kind: str
    project_id: str
    source: Site | None
    target: Site | None
    groups: list[ProtectionGroup]
    policies: list[Policy]
    paused: bool

    @property
    def replicates(self) -> bool:
        """Something to protect with CPs: a unit of stateless templates only never ticks (UC8)."""
        return any(g.members.replicates for g in self.groups)

    @property
    def ticks(self) -> bool:
        return self.replicates and not self.paused

    @property
    def cadence(self) -> schedule.Cadence:
        return strictest_policy(self.policies).cadence

    @property
    def rpo_target_seconds(self) -> int:
        return strictest_policy(self.policies).rpo_target_seconds

    def spec(self) -> ReplicationSpec:
        assert self.source is not None and self.target is not None
        return ReplicationSpec.model_validate(
            spec_payload(
                project_id=self.project_id,
                source=self.source,
                target=self.target,
                groups=self.groups,
                policies=self.policies,
                member_groups=[g.id for g in self.groups] if self.kind == "set" else (),
            )
        )


async def load_contexts(session: AsyncSession, units: Sequence[TickUnit]) -> dict[str, UnitContext]:
    """Contexts of the units that still have something to protect (deleted ones are left out)."""
    groups_repo = GroupRepository(session)
    catalog = CatalogRepository(session)
    group_ids = [u.unit_id for u in units if u.kind == "group"]
    set_ids = [u.unit_id for u in units if u.kind == "set"]
    legs = {u.unit_id: leg for u in units if u.kind == "leg" and (leg := leg_of(u.unit_id))}
    with_legs = await groups_repo.many(sorted({g for g, _site in legs.values()}))
    alone = await groups_repo.many(group_ids)
    in_sets = await groups_repo.query(app_set_ids=set_ids) if set_ids else []
    sets = {s.id: s for s in await catalog.app_sets(ids=set_ids)} if set_ids else {}
    policies = await catalog.policies(
        ids=sorted({g.policy_id for g in [*alone, *in_sets, *with_legs]})
    )
    sites = await catalog.sites()
    links = await catalog.suspended_links()
    found: dict[str, UnitContext] = {}
    for group in alone:
        paused = (
            group.app_set_id is not None
            or group.suspended
            or (group.source_site, group.target_site) in links
        )
        found[group.id] = UnitContext(
            unit_id=group.id,
            kind="group",
            project_id=group.project_id,
            source=sites.get(group.source_site),
            target=sites.get(group.target_site),
            groups=[group],
            policies=[policies[group.policy_id]],
            paused=paused or group.source_site not in sites or group.target_site not in sites,
        )
    by_id = {g.id: g for g in with_legs}
    for unit_id, (group_id, site) in legs.items():
        leg_group = by_id.get(group_id)
        if leg_group is None or site not in leg_group.extra_target_sites:
            continue  # the group is gone (or no longer replicates there)
        found[unit_id] = UnitContext(
            unit_id=unit_id,
            kind="leg",
            project_id=leg_group.project_id,
            source=sites.get(leg_group.source_site),
            target=sites.get(site),
            groups=[leg_group],
            policies=[policies[leg_group.policy_id]],
            paused=leg_group.app_set_id is not None
            or leg_group.suspended
            or (leg_group.source_site, site) in links
            or leg_group.source_site not in sites
            or site not in sites,
        )
    for set_id, app_set in sets.items():
        members = [g for g in in_sets if g.app_set_id == set_id]
        paused = (
            not members
            or any(g.suspended for g in members)
            or (app_set.source_site, app_set.target_site) in links
            or app_set.source_site not in sites
            or app_set.target_site not in sites
        )
        found[set_id] = UnitContext(
            unit_id=set_id,
            kind="set",
            project_id=app_set.project_id,
            source=sites.get(app_set.source_site),
            target=sites.get(app_set.target_site),
            groups=members,
            policies=[policies[g.policy_id] for g in members],
            paused=paused,
        )
    return found


async def refresh_units(
    session: AsyncSession, unit_ids: Sequence[str], now: datetime, *, due_now: str | None = None
) -> None:
    """Re-derive each unit's pause state after a change (suspend, resume, set membership).

    A unit that pauses, or has nothing to replicate, stops ticking (``next_due_at`` NULL). A
    unit that resumes ticks: at once
    when ``due_now`` says why (e.g. "resume"), else from its newest CP as usual.
    """
    repo = TickUnitRepository(session)
    units = await repo.many(sorted(set(unit_ids)), for_update=True)
    contexts = await load_contexts(session, units)
    for unit in units:
        context = contexts.get(unit.unit_id)
        if context is None or not context.ticks:
            unit.paused, unit.next_due_at = True, None
        else:
            was_paused = unit.paused or unit.next_due_at is None
            unit.paused = False
            if due_now is not None:
                unit.next_due_at, unit.pending_trigger = now, due_now
            elif was_paused:
                unit.next_due_at = resume_due(unit, context, now)
        await repo.save(unit)


def resume_due(unit: TickUnit, context: UnitContext, now: datetime) -> datetime:
    if unit.newest_cp_taken_at is None:
        return schedule.first_due(unit.unit_id, context.cadence, now)
    return schedule.due_after_cp(
        unit.unit_id, context.cadence, unit.newest_cp_taken_at, unit.lead_seconds or 0.0, now
    )

"""Use cases on the catalog: sites, policies, protection groups, application sets.

Each runs in one transaction with the events it causes (outbox). Referential checks live here,
not in the database, so every refusal names the field that caused it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from lifeboat_policy.adapters.catalog import CatalogRepository
from lifeboat_policy.adapters.repository import GroupRepository, TickUnitRepository
from lifeboat_policy.domain import schedule
from lifeboat_policy.domain.model import (
    LEG_SITE_MAX,
    AppSet,
    Members,
    Policy,
    ProtectionGroup,
    Site,
    SiteRole,
    TickUnit,
    leg_id,
)
from lifeboat_policy.service_layer.errors import Conflict, Invalid, NotFound
from lifeboat_policy.service_layer.ownership import check_members_project
from lifeboat_policy.service_layer.units import refresh_units
from lifeboat_shared.contracts.messages import SiteRef, SiteRegistered
from lifeboat_shared.persistence.outbox import add_to_outbox
from lifeboat_shared.service.runtime import ServiceRuntime

SET_MEMBERS_BUDGET = 160 * 1024
"""Characters of member ids an application set's groups may hold together: its tick lists them
all and must stay under the bus's 256 KiB ``max_record_bytes``."""


async def register_site(
    runtime: ServiceRuntime,
    *,
    site_id: str,
    cloud: str,
    role: SiteRole,
    data_endpoint: str | None,
    region: str | None,
    create_only: bool,
) -> tuple[Site, bool]:
    """Create (or, unless ``create_only``, update) a site and announce it (SiteRegistered)."""
    now = datetime.now(UTC)
    async with runtime.db.transaction() as session:
        repo = CatalogRepository(session)
        old = await repo.get_site(site_id)
        if old is not None and create_only:
            raise Conflict("site_id", f"site {site_id!r} is already registered")
        site = Site(site_id, cloud, role, data_endpoint, region, now, now)
        if old is not None:
            await _check_role_change(GroupRepository(session), site)
        if old is None:
            await repo.add_site(site)
        else:
            site.created_at = old.created_at
            await repo.update_site(site)
        event = SiteRegistered(
            site=SiteRef(site_id=site_id, cloud=cloud, data_endpoint=data_endpoint),
            role=role,
            region=region,
            at=now,
        )
        await add_to_outbox(session, [runtime.envelope(event)])
    return site, old is None


async def _check_role_change(groups: GroupRepository, site: Site) -> None:
    """A site cannot lose a role its groups rely on."""
    if not site.can_protect and (used := await groups.uses_site(site.site_id, as_source=True)):
        raise Conflict("role", f"{used} protection groups replicate from site {site.site_id!r}")
    if not site.can_recover and (used := await groups.uses_site(site.site_id, as_source=False)):
        raise Conflict("role", f"{used} protection groups replicate to site {site.site_id!r}")


async def create_policy(
    runtime: ServiceRuntime,
    *,
    name: str,
    rpo_seconds: int | None,
    cron: str | None,
    spec: dict[str, Any],
) -> Policy:
    now = datetime.now(UTC)
    target = rpo_seconds if rpo_seconds is not None else schedule.cron_period(str(cron), now)
    policy = Policy(str(uuid.uuid4()), name, rpo_seconds, cron, target, spec, now)
    async with runtime.db.transaction() as session:
        repo = CatalogRepository(session)
        if await repo.find_policy(name):
            raise Conflict("name", f"a policy named {name!r} already exists")
        await repo.add_policy(policy)
    return policy


async def delete_policy(runtime: ServiceRuntime, policy_id: str) -> None:
    async with runtime.db.transaction() as session:
        used = await GroupRepository(session).uses_policy(policy_id)
        if used:
            raise Conflict("policy_id", f"policy {policy_id} is used by {used} protection groups")
        if not await CatalogRepository(session).delete_policy(policy_id):
            raise NotFound("policy_id", f"no policy {policy_id}")


async def create_group(
    runtime: ServiceRuntime,
    *,
    project_id: str,
    name: str,
    source_site: str,
    target_site: str,
    policy_id: str,
    members: Members,
    seed_volumes: dict[str, str] | None = None,
    extra_target_sites: Sequence[str] = (),
) -> ProtectionGroup:
    now = datetime.now(UTC)
    await check_members_project(
        runtime, project_id=project_id, source_site=source_site, members=members
    )
    async with runtime.db.transaction() as session:
        catalog = CatalogRepository(session)
        groups = GroupRepository(session)
        await _check_link(catalog, source_site, target_site)
        if len({target_site, *extra_target_sites}) != 1 + len(extra_target_sites):
            raise Invalid("extra_target_sites", "lists target_site or a site twice")
        for extra in extra_target_sites:
            try:
                await _check_link(catalog, source_site, extra)
            except Invalid as exc:
                raise Invalid("extra_target_sites", str(exc)) from exc
            if len(extra) > LEG_SITE_MAX:  # the leg's id is a group id everywhere (64 chars)
                raise Invalid(
                    "extra_target_sites",
                    f"site id {extra!r} is longer than {LEG_SITE_MAX} characters: its "
                    "replication leg's id would not fit",
                )
        policy = await catalog.get_policy(policy_id)
        if policy is None:
            raise Invalid("policy_id", f"no policy {policy_id}")
        if await groups.find_by_name(project_id, name):
            raise Conflict("name", f"a protection group named {name!r} already exists")
        group = ProtectionGroup(
            id=str(uuid.uuid4()),
            project_id=project_id,
            name=name,
            source_site=source_site,
            target_site=target_site,
            policy_id=policy_id,
            rpo_target_seconds=policy.rpo_target_seconds,
            members=members,
            created_at=now,
            seed_volumes=dict(seed_volumes or {}),
            extra_target_sites=list(extra_target_sites),
        )
        await groups.add(group)
        units = TickUnitRepository(session)
        for unit_id, kind, target in [
            (group.id, "group", target_site),
            *((leg_id(group.id, s), "leg", s) for s in extra_target_sites),
        ]:
            # Stateless templates only (UC8): nothing to replicate, so no tick is ever due.
            paused = not members.replicates or await catalog.link_suspended(source_site, target)
            due = None if paused else schedule.first_due(unit_id, policy.cadence, now)
            await units.add(TickUnit(unit_id, kind, now, due, paused))  # type: ignore[arg-type]
    return group


async def update_members(
    runtime: ServiceRuntime, group_id: str, *, members: Members, seed_volumes: dict[str, str]
) -> ProtectionGroup:
    """An operator's verb: the group protects these servers, volumes and templates from now on
    (e.g. servers re-created by hand); the next tick carries them. Failback re-points the
    groups at the servers it made by itself (``lifecycle``)."""
    async with runtime.db.read() as session:
        current = await GroupRepository(session).get(group_id)
    if current is None:
        raise NotFound("group_id", f"no protection group {group_id}")
    await check_members_project(
        runtime, project_id=current.project_id, source_site=current.source_site, members=members
    )
    async with runtime.db.transaction() as session:
        groups = GroupRepository(session)
        group = await groups.get(group_id, for_update=True)
        if group is None:
            raise NotFound("group_id", f"no protection group {group_id}")
        group.members, group.seed_volumes = members, dict(seed_volumes)
        await groups.save_members(group)
    return group


async def _check_link(catalog: CatalogRepository, source_site: str, target_site: str) -> None:
    source = await catalog.get_site(source_site)
    if source is None:
        raise Invalid("source_site", f"no registered site {source_site!r}")
    if not source.can_protect:
        raise Invalid("source_site", f"site {source_site!r} has role {source.role}")
    if source_site == target_site:
        raise Invalid("target_site", "must differ from source_site")
    target = await catalog.get_site(target_site)
    if target is None:
        raise Invalid("target_site", f"no registered site {target_site!r}")
    if not target.can_recover:
        raise Invalid("target_site", f"site {target_site!r} has role {target.role}")


async def delete_group(runtime: ServiceRuntime, group_id: str) -> None:
    async with runtime.db.transaction() as session:
        groups = GroupRepository(session)
        group = await groups.get(group_id, for_update=True)
        if group is None:
            raise NotFound("group_id", f"no protection group {group_id}")
        if group.app_set_id is not None:
            raise Conflict(
                "group_id",
                f"group is in application set {group.app_set_id}; delete the set first",
            )
        await groups.delete(group_id)
        for unit_id in (group_id, *group.legs):
            await TickUnitRepository(session).delete(unit_id)


async def create_app_set(
    runtime: ServiceRuntime, *, project_id: str, name: str, group_ids: Sequence[str]
) -> tuple[AppSet, list[ProtectionGroup]]:
    now = datetime.now(UTC)
    async with runtime.db.transaction() as session:
        catalog = CatalogRepository(session)
        groups_repo = GroupRepository(session)
        # Another project's group is answered like a missing one: its id does not leak.
        groups = [
            g
            for g in await groups_repo.many(group_ids, for_update=True)
            if g.project_id == project_id
        ]
        missing = sorted(set(group_ids) - {g.id for g in groups})
        if missing:
            raise Invalid("group_ids", f"no protection group {', '.join(missing)}")
        for group in groups:
            if group.app_set_id is not None:
                raise Conflict(
                    "group_ids", f"group {group.id} is already in set {group.app_set_id}"
                )
            if group.extra_target_sites:
                raise Conflict(
                    "group_ids", f"group {group.id} replicates to extra target sites: not in sets"
                )
        links = {(g.source_site, g.target_site) for g in groups}
        if len(links) != 1:
            raise Conflict(
                "group_ids", "all groups of a set need the same source_site and target_site"
            )
        ids = {i for g in groups for i in (*g.members.servers, *g.members.volumes)}
        ids |= {f"{k}{v}" for g in groups for k, v in g.seed_volumes.items()}
        size = sum(len(i) + 3 for i in ids)
        if size > SET_MEMBERS_BUDGET:
            raise Invalid(
                "group_ids",
                f"{size} characters of member ids together, over the {SET_MEMBERS_BUDGET} a set "
                "may hold (its RPO tick must fit an event): make smaller sets",
            )
        if await catalog.find_app_set(project_id, name):
            raise Conflict("name", f"an application set named {name!r} already exists")
        source, target = links.pop()
        app_set = AppSet(str(uuid.uuid4()), project_id, name, source, target, now)
        await catalog.add_app_set(app_set)
        await groups_repo.set_app_set([g.id for g in groups], app_set.id)
        # The set ticks from now on, its groups no longer alone; the set's first tick is due
        # at once: its members' CPs so far were not taken together.
        await TickUnitRepository(session).add(TickUnit(app_set.id, "set", now, now))
        await refresh_units(session, [app_set.id, *[g.id for g in groups]], now)
        for group in groups:
            group.app_set_id = app_set.id
    return app_set, groups


async def delete_app_set(runtime: ServiceRuntime, set_id: str) -> None:
    """The groups tick alone again, each from its own newest CP."""
    now = datetime.now(UTC)
    async with runtime.db.transaction() as session:
        catalog = CatalogRepository(session)
        groups_repo = GroupRepository(session)
        if await catalog.get_app_set(set_id) is None:
            raise NotFound("set_id", f"no application set {set_id}")
        members = await groups_repo.query(app_set_ids=[set_id])
        await groups_repo.set_app_set([g.id for g in members], None)
        await catalog.delete_app_set(set_id)
        await TickUnitRepository(session).delete(set_id)
        await refresh_units(session, [g.id for g in members], now)

"""Operator and tenant actions on replication: suspend/resume (UC2e) and replicate-now (UC4).

Suspending stops ticks (the unit's ``next_due_at`` is cleared) and tells the replicator
(ReplicationSuspended), which tracks changes and keeps the DR site ready; resuming makes a tick
due at once and tells the replicator whether the operator asked for a full resync.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from lifeboat_policy.adapters.catalog import CatalogRepository
from lifeboat_policy.adapters.repository import GroupRepository, TickUnitRepository
from lifeboat_policy.domain.model import ProtectionGroup, leg_id
from lifeboat_policy.service_layer.errors import Conflict, Invalid, NotFound
from lifeboat_policy.service_layer.units import load_contexts, refresh_units
from lifeboat_shared.contracts.envelope import Envelope
from lifeboat_shared.contracts.messages import (
    ReplicateNow,
    ReplicationResumed,
    ReplicationSuspended,
)
from lifeboat_shared.contracts.messages.protection import Trigger
from lifeboat_shared.persistence.outbox import add_to_outbox
from lifeboat_shared.service.runtime import ServiceRuntime


def unit_of(group: ProtectionGroup) -> str:
    """A group in an application set is replicated with its set."""
    return group.app_set_id or group.id


async def set_group_suspended(
    runtime: ServiceRuntime,
    group_id: str,
    *,
    suspended: bool,
    by: str,
    full_resync: bool = False,
    force: bool = False,
) -> tuple[ProtectionGroup, bool]:
    """Suspend or resume one group; returns (group, changed). Repeating is a no-op. A group a
    failover (or split brain) suspended resumes with failback (or reconcile), not by hand:
    its source copy is stale; ``force`` is the operator's explicit word otherwise."""
    now = datetime.now(UTC)
    async with runtime.db.transaction() as session:
        groups = GroupRepository(session)
        group = await groups.get(group_id, for_update=True)
        if group is None:
            raise NotFound("group_id", f"no protection group {group_id}")
        if group.suspended == suspended:
            return group, False
        if not suspended and group.lifecycle_hold and not force:
            raise Conflict(
                "group_id",
                f"group {group_id} was suspended by a {group.suspended_reason}: its source copy "
                "is not the live data; fail back (or reconcile) to resume it, or resume with "
                '{"force": true}',
            )
        group.suspended = suspended
        group.suspended_reason = "operator" if suspended else None
        await groups.set_suspended(group_id, suspended, group.suspended_reason)
        link_down = await CatalogRepository(session).link_suspended(
            group.source_site, group.target_site
        )
        await refresh_units(
            session,
            [unit_of(group), *group.legs],
            now,
            due_now=None if suspended or link_down else "resume",
        )
        event = _event(group, "group", suspended=suspended, by=by, at=now, resync=full_resync)
        await add_to_outbox(session, [runtime.envelope(e) for e in with_legs(group, event)])
    return group, True


async def set_link_suspended(
    runtime: ServiceRuntime,
    source: str,
    target: str,
    *,
    suspended: bool,
    by: str,
    full_resync: bool = False,
) -> list[str]:
    """Suspend or resume every group on a site link; returns the groups it told the replicator
    about (a group suspended on its own stays suspended when its link resumes)."""
    now = datetime.now(UTC)
    async with runtime.db.transaction() as session:
        catalog = CatalogRepository(session)
        for field, site in (("source", source), ("target", target)):
            if await catalog.get_site(site) is None:
                raise NotFound(field, f"no registered site {site!r}")
        if source == target:
            raise Invalid("target", "must differ from source")
        if await catalog.link_suspended(source, target) == suspended:
            return []
        await catalog.set_link(source, target, suspended=suspended, by=by, at=now)
        groups = [g for g in await GroupRepository(session).query(link=(source, target))]
        affected = [g for g in groups if not g.suspended]
        leg_groups = [  # groups replicating to ``target`` as an extra target site
            g
            for g in await GroupRepository(session).query(source_site=source)
            if target in g.extra_target_sites
        ]
        legs = {leg_id(g.id, target) for g in leg_groups}
        await refresh_units(
            session,
            sorted({unit_of(g) for g in groups} | legs),
            now,
            due_now=None if suspended else "resume",
        )
        events: list[Envelope] = [
            runtime.envelope(
                _event(g, "site-link", suspended=suspended, by=by, at=now, resync=full_resync)
            )
            for g in affected
        ]
        for g in leg_groups:
            if g.suspended:
                continue
            event = _event(g, "site-link", suspended=suspended, by=by, at=now, resync=full_resync)
            [leg_event] = [e for e in with_legs(g, event)[1:] if e.group_id == leg_id(g.id, target)]
            events.append(runtime.envelope(leg_event))
        await add_to_outbox(session, events)
    return [g.id for g in affected]


def with_legs(
    group: ProtectionGroup, event: ReplicationSuspended | ReplicationResumed
) -> list[ReplicationSuspended | ReplicationResumed]:
    """The event, and the same for each of the group's legs to extra target sites (the
    replicator tracks suspension by the id it replicates under)."""
    out = [event]
    for site in group.extra_target_sites:
        update: dict[str, str] = {"group_id": leg_id(group.id, site)}
        if isinstance(event, ReplicationSuspended):
            update["target_site"] = site
        out.append(event.model_copy(update=update))
    return out


def _event(
    group: ProtectionGroup,
    scope: str,
    *,
    suspended: bool,
    by: str,
    at: datetime,
    resync: bool,
) -> ReplicationSuspended | ReplicationResumed:
    if suspended:
        return ReplicationSuspended(
            group_id=group.id,
            project_id=group.project_id,
            scope=scope,
            source_site=group.source_site,
            target_site=group.target_site,
            requested_by=by,
            at=at,
        )
    return ReplicationResumed(
        group_id=group.id,
        project_id=group.project_id,
        scope=scope,
        requested_by=by,
        full_resync=resync,
        at=at,
    )


async def replicate_now(
    runtime: ServiceRuntime,
    group_id: str,
    *,
    by: str,
    request_id: str | None,
    trigger: Trigger = "replicate-now",
    full_resync: bool = False,
    extra_volumes: Sequence[str] = (),
) -> tuple[str, str, bool]:
    """Ask the replicator for a CP now (UC4). Returns (request_id, unit_id, accepted_now).

    The same request id twice yields one command: the second call finds the first request and
    stages nothing. A group in an application set is replicated with its whole set.
    """
    now = datetime.now(UTC)
    request_id = request_id or str(uuid.uuid4())
    async with runtime.db.transaction() as session:
        catalog = CatalogRepository(session)
        group = await GroupRepository(session).get(group_id)
        if group is None:
            raise NotFound("group_id", f"no protection group {group_id}")
        earlier = await catalog.find_request(request_id)
        if earlier is not None:
            if earlier[0] != group_id:
                raise Conflict(
                    # not naming that group: it may be another project's (tenant isolation)
                    "Idempotency-Key",
                    f"key {request_id!r} was used for another group",
                )
            return request_id, earlier[1], False
        if trigger in ("detach", "shutdown"):
            policy = await catalog.get_policy(group.policy_id)
            assert policy is not None
            if not policy.spec["replicate_on"][trigger]:
                raise Conflict("trigger", f"policy {policy.name!r} does not replicate on {trigger}")
        unit_id = unit_of(group)
        unit = await TickUnitRepository(session).get(unit_id)
        contexts = await load_contexts(session, [unit] if unit else [])
        context = contexts.get(unit_id)
        if context is not None and not context.replicates:
            raise Conflict(
                "group_id",
                f"group {group_id} has only stateless templates: nothing to replicate (UC8)",
            )
        if context is None or context.paused:
            raise Conflict("group_id", f"group {group_id} is suspended; resume it first")
        spec = context.spec()
        if extra_volumes:  # e.g. a volume just detached from a protected server (UC4)
            volumes = [*spec.volumes, *(v for v in extra_volumes if v not in spec.volumes)]
            spec = spec.model_copy(update={"volumes": volumes})
        command = ReplicateNow(
            group_id=unit_id,
            request_id=request_id,
            requested_by=by,
            trigger=trigger,
            full_resync=full_resync,
            spec=spec,
        )
        await catalog.add_request(request_id, group_id, unit_id, trigger, now)
        await add_to_outbox(
            session, [runtime.envelope(command, event_id=f"replicate-now-{request_id}")]
        )
    return request_id, unit_id, True

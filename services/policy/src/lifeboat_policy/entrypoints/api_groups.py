"""REST: protection groups, their status, replicate-now and suspend/resume; site links."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, status

from lifeboat_policy.adapters.repository import GroupRepository, members_to_json
from lifeboat_policy.domain.model import (
    Members,
    ProtectionGroup,
    QuiesceReport,
    StatelessTemplate,
)
from lifeboat_policy.entrypoints.errors import CONFLICT, NOT_FOUND, raise_http
from lifeboat_policy.entrypoints.schemas import (
    FailureOut,
    GroupCreate,
    GroupOut,
    GroupStatus,
    LinkChange,
    MembersIn,
    MembersUpdate,
    QuiesceOut,
    ReplicateNowAccepted,
    ReplicateNowIn,
    ResumeIn,
    SuspendIn,
)
from lifeboat_policy.service_layer import catalog, control, views
from lifeboat_policy.service_layer.errors import NotFound, PolicyServiceError
from lifeboat_shared.service import CurrentPrincipal, Principal, RuntimeDep
from lifeboat_shared.service.tenancy import (
    FORBIDDEN_PROJECT,
    can_see,
    listed_project,
    owning_project,
)

router = APIRouter()

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.:\-]+$",
        description="The same key twice gives one command",
    ),
]


def group_out(g: ProtectionGroup) -> GroupOut:
    return GroupOut(
        id=g.id,
        name=g.name,
        project_id=g.project_id,
        source_site=g.source_site,
        target_site=g.target_site,
        extra_target_sites=g.extra_target_sites,
        policy_id=g.policy_id,
        rpo_target_seconds=g.rpo_target_seconds,
        members=members_to_json(g.members),
        seed_volumes=g.seed_volumes,
        replication=g.replication,
        app_set_id=g.app_set_id,
        suspended=g.suspended,
        suspended_reason=g.suspended_reason if g.suspended else None,
        reverse_of=g.reverse_of,
        created_at=g.created_at,
    )


@router.post(
    "/protection-groups",
    status_code=status.HTTP_201_CREATED,
    tags=["protection-groups"],
    summary="Create a protection group; its first tick is due within min(RPO/2, 5 min)",
    responses={**CONFLICT, **FORBIDDEN_PROJECT},
)
async def create_group(body: GroupCreate, runtime: RuntimeDep, who: CurrentPrincipal) -> GroupOut:
    members = _members(body.members)
    project_id = owning_project(who, body.project_id)
    try:
        group = await catalog.create_group(
            runtime,
            project_id=project_id,
            name=body.name,
            source_site=body.source_site,
            target_site=body.target_site,
            extra_target_sites=body.extra_target_sites,
            policy_id=body.policy_id,
            members=members,
            seed_volumes=body.seed_volumes,
        )
    except PolicyServiceError as exc:
        raise_http(exc)
    return group_out(group)


def _members(body: MembersIn) -> Members:
    return Members(
        servers=body.servers,
        volumes=body.volumes,
        stateless=[StatelessTemplate(**t.model_dump()) for t in body.stateless],
    )


@router.put(
    "/protection-groups/{group_id}/members",
    tags=["protection-groups"],
    summary="Replace a group's members (and seeds); the next tick replicates the new set",
    responses={**NOT_FOUND, **CONFLICT},
)
async def set_members(
    group_id: str, body: MembersUpdate, runtime: RuntimeDep, who: CurrentPrincipal
) -> GroupOut:
    await _visible(runtime, who, group_id)
    try:
        group = await catalog.update_members(
            runtime, group_id, members=_members(body.members), seed_volumes=body.seed_volumes
        )
    except PolicyServiceError as exc:
        raise_http(exc)
    return group_out(group)


async def _visible(runtime: RuntimeDep, who: Principal, group_id: str) -> ProtectionGroup:
    """The group, if the caller's project owns it (or the caller is an admin); else 404, the
    same answer as for a missing group, so another project's ids do not leak."""
    async with runtime.db.read() as session:
        group = await GroupRepository(session).get(group_id)
    if group is None or not can_see(who, group.project_id):
        raise_http(NotFound("group_id", f"no protection group {group_id}"))
    return group


@router.get(
    "/protection-groups",
    tags=["protection-groups"],
    summary="List the caller's project's protection groups (an admin: every project's, or "
    "project_id's)",
    responses=FORBIDDEN_PROJECT,
)
async def list_groups(
    runtime: RuntimeDep,
    who: CurrentPrincipal,
    project_id: Annotated[str | None, Query(max_length=128)] = None,
) -> list[GroupOut]:
    project = listed_project(who, project_id)
    async with runtime.db.read() as session:
        return [group_out(g) for g in await GroupRepository(session).query(project)]


@router.get(
    "/protection-groups/{group_id}",
    tags=["protection-groups"],
    summary="Show a protection group",
    responses=NOT_FOUND,
)
async def get_group(group_id: str, runtime: RuntimeDep, who: CurrentPrincipal) -> GroupOut:
    return group_out(await _visible(runtime, who, group_id))


@router.delete(
    "/protection-groups/{group_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    tags=["protection-groups"],
    summary="Delete a protection group (stops its ticks)",
    responses={**NOT_FOUND, **CONFLICT},
)
async def delete_group(group_id: str, runtime: RuntimeDep, who: CurrentPrincipal) -> None:
    await _visible(runtime, who, group_id)
    try:
        await catalog.delete_group(runtime, group_id)
    except PolicyServiceError as exc:
        raise_http(exc)


@router.get(
    "/protection-groups/{group_id}/status",
    tags=["protection-groups"],
    summary="Achieved RPO, newest CP, suspension, next due tick, last failure",
    responses=NOT_FOUND,
)
async def group_status(group_id: str, runtime: RuntimeDep, who: CurrentPrincipal) -> GroupStatus:
    await _visible(runtime, who, group_id)
    try:
        view = await views.group_status(runtime.db, group_id)
    except PolicyServiceError as exc:
        raise_http(exc)
    g, unit = view.group, view.unit
    return GroupStatus(
        group_id=g.id,
        replication=g.replication,
        rpo_target_seconds=g.rpo_target_seconds,
        achieved_rpo_seconds=view.achieved_rpo_seconds,
        newest_cp_id=g.newest_cp.id if g.newest_cp else None,
        newest_cp_taken_at=g.newest_cp.taken_at if g.newest_cp else None,
        breached=g.breach_open,
        suspended=view.suspended_by is not None,
        suspended_by=view.suspended_by,
        ticks_as=g.app_set_id or g.id,
        last_tick_seq=unit.last_tick_seq if unit else 0,
        next_due_at=unit.next_due_at if unit else None,
        last_failure=FailureOut(**vars(g.last_failure)) if g.last_failure else None,
        last_quiesce_failures=_quiesce(g.last_quiesce),
    )


def _quiesce(report: QuiesceReport | None) -> QuiesceOut | None:
    if report is None:
        return None
    return QuiesceOut.model_validate(
        {
            "cycle_id": report.cycle_id,
            "outcome": report.outcome,
            "at": report.at,
            "failures": [{"server_id": s, "reason": r} for s, r in report.failures],
        }
    )


@router.post(
    "/protection-groups/{group_id}/replicate-now",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["protection-groups"],
    summary="Ask for a CP now (ReplicateNow); an Idempotency-Key makes retries safe",
    responses={**NOT_FOUND, **CONFLICT},
)
async def replicate_now(
    group_id: str,
    runtime: RuntimeDep,
    who: CurrentPrincipal,
    idempotency_key: IdempotencyKey = None,
    body: ReplicateNowIn | None = None,
) -> ReplicateNowAccepted:
    body = body or ReplicateNowIn()
    await _visible(runtime, who, group_id)
    try:
        request_id, unit_id, fresh = await control.replicate_now(
            runtime,
            group_id,
            by=who.user_id,
            request_id=idempotency_key,
            trigger=body.trigger,
            full_resync=body.full_resync,
        )
    except PolicyServiceError as exc:
        raise_http(exc)
    return ReplicateNowAccepted(
        request_id=request_id, group_id=group_id, replicates=unit_id, duplicate=not fresh
    )


@router.post(
    "/protection-groups/{group_id}/suspend",
    tags=["protection-groups"],
    summary="Suspend a group's replication (no ticks; emits ReplicationSuspended)",
    responses=NOT_FOUND,
)
async def suspend_group(
    group_id: str, runtime: RuntimeDep, who: CurrentPrincipal, _body: SuspendIn | None = None
) -> GroupOut:
    await _visible(runtime, who, group_id)
    try:
        group, _ = await control.set_group_suspended(
            runtime, group_id, suspended=True, by=who.user_id
        )
    except PolicyServiceError as exc:
        raise_http(exc)
    return group_out(group)


@router.post(
    "/protection-groups/{group_id}/resume",
    tags=["protection-groups"],
    summary="Resume a group (a tick is due at once; emits ReplicationResumed)",
    responses=NOT_FOUND,
)
async def resume_group(
    group_id: str, runtime: RuntimeDep, who: CurrentPrincipal, body: ResumeIn | None = None
) -> GroupOut:
    body = body or ResumeIn()
    await _visible(runtime, who, group_id)
    try:
        group, _ = await control.set_group_suspended(
            runtime,
            group_id,
            suspended=False,
            by=who.user_id,
            full_resync=body.full_resync,
            force=body.force,
        )
    except PolicyServiceError as exc:
        raise_http(exc)
    return group_out(group)


@router.post(
    "/site-links/{source}/{target}/suspend",
    tags=["site-links"],
    summary="Suspend every group replicating from source to target (UC2e)",
    responses=NOT_FOUND,
)
async def suspend_link(
    source: str,
    target: str,
    runtime: RuntimeDep,
    who: CurrentPrincipal,
    _body: SuspendIn | None = None,
) -> LinkChange:
    try:
        notified = await control.set_link_suspended(
            runtime, source, target, suspended=True, by=who.user_id
        )
    except PolicyServiceError as exc:
        raise_http(exc)
    return LinkChange(source=source, target=target, suspended=True, groups_notified=notified)


@router.post(
    "/site-links/{source}/{target}/resume",
    tags=["site-links"],
    summary="Resume a site link (its groups tick at once, unless suspended on their own)",
    responses=NOT_FOUND,
)
async def resume_link(
    source: str,
    target: str,
    runtime: RuntimeDep,
    who: CurrentPrincipal,
    body: ResumeIn | None = None,
) -> LinkChange:
    body = body or ResumeIn()
    try:
        notified = await control.set_link_suspended(
            runtime, source, target, suspended=False, by=who.user_id, full_resync=body.full_resync
        )
    except PolicyServiceError as exc:
        raise_http(exc)
    return LinkChange(source=source, target=target, suspended=False, groups_notified=notified)

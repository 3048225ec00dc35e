"""Message handlers: site health declarations, the catalog (sites, group specs, consistency
points) learned from other services, ``StartExecution`` commands, and automatic failover."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from lifeboat_orchestrator.adapters.catalog import CatalogRepository
from lifeboat_orchestrator.adapters.plans import PlanRepository
from lifeboat_orchestrator.adapters.repository import SiteRepository
from lifeboat_orchestrator.domain.model import Site, SiteState
from lifeboat_orchestrator.service_layer.executions import ExecutionRejected, start_execution
from lifeboat_shared.bus.handlers import HandlerContext, Handlers
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.messages import (
    ConsistencyPointCreated,
    ConsistencyPointPruned,
    ExecutionCompleted,
    ReplicateNow,
    RpoTickElapsed,
    SiteDeclaredDown,
    SiteDeclaredUp,
    SiteRegistered,
    StartExecution,
)

log = logging.getLogger(__name__)


async def _declare(
    ctx: HandlerContext, site_id: str, state: SiteState, at: datetime, by: str, reason: str | None
) -> bool:
    repo = SiteRepository(ctx.session)
    site = await repo.get(site_id)
    if site is None:
        await repo.save(Site(site_id, state, at, by, reason), new=True)
        return True
    if site.declare(state, at, by, reason):
        await repo.save(site, new=False)
        return True
    return False


async def on_site_down(message: Message, ctx: HandlerContext) -> None:
    """Record the site down; plans running there with automatic failover fail over now (the
    others wait for an operator: UC4a)."""
    assert isinstance(message, SiteDeclaredDown)
    changed = await _declare(
        ctx,
        message.site_id,
        SiteState.DOWN,
        message.declared_at,
        message.declared_by,
        message.reason,
    )
    if not changed:
        return
    for plan in await PlanRepository(ctx.session).all():
        if plan.state.active_site != message.site_id or plan.spec.failover_mode != "automatic":
            continue
        if plan.state.status not in ("protected", "reprotected"):
            continue
        try:
            await start_execution(
                ctx.session,
                execution_id=f"auto-{plan.id[:60]}-{ctx.envelope.id[:36]}",
                plan_id=plan.id,
                kind="failover",
                requested_by=f"site-down:{message.declared_by}",
                params={"site_down_at": message.declared_at.isoformat(), "automatic": True},
            )
        except ExecutionRejected as exc:
            log.warning("automatic failover of plan %s not started: %s", plan.spec.name, exc)


async def on_site_up(message: Message, ctx: HandlerContext) -> None:
    assert isinstance(message, SiteDeclaredUp)
    await _declare(
        ctx, message.site_id, SiteState.UP, message.declared_at, message.declared_by, None
    )


async def on_site_registered(message: Message, ctx: HandlerContext) -> None:
    assert isinstance(message, SiteRegistered)
    await CatalogRepository(ctx.session).put_site(
        message.site, message.role, message.region, message.at
    )


async def on_tick(message: Message, ctx: HandlerContext) -> None:
    """Keep each group's current replication spec (a final sync needs it)."""
    assert isinstance(message, RpoTickElapsed)
    await CatalogRepository(ctx.session).put_spec(message.group_id, message.spec, message.due_at)


async def on_replicate_now(message: Message, ctx: HandlerContext) -> None:
    assert isinstance(message, ReplicateNow)
    if message.requested_by.startswith("orchestrator:"):
        return  # our own final/reverse syncs: not a group's standing spec
    await CatalogRepository(ctx.session).put_spec(message.group_id, message.spec, ctx.envelope.time)


async def on_cp(message: Message, ctx: HandlerContext) -> None:
    assert isinstance(message, ConsistencyPointCreated)
    await CatalogRepository(ctx.session).add_cp(message)


async def on_cp_pruned(message: Message, ctx: HandlerContext) -> None:
    assert isinstance(message, ConsistencyPointPruned)
    await CatalogRepository(ctx.session).prune_cp(message.consistency_point_id)


async def on_start_execution(message: Message, ctx: HandlerContext) -> None:
    """The verifier's (or automation's) way in. The command runs only on a plan of the project
    it names (another project's plan is rejected as if it did not exist); a rejected command is
    not retried: it ends in ``ExecutionCompleted`` (cancelled, ``error`` "rejected: ..."), so its
    sender learns why at once."""
    assert isinstance(message, StartExecution)
    plan = await PlanRepository(ctx.session).get(message.plan_id)
    try:
        if plan is not None and message.project_id not in (None, plan.spec.project_id):
            raise ExecutionRejected(
                f"plan {message.plan_id} not found", field="plan_id", conflict=False
            )
        await start_execution(
            ctx.session,
            execution_id=message.execution_id,
            plan_id=message.plan_id,
            kind=message.execution_kind,
            requested_by=message.requested_by,
            target_site=message.target_site,
            consistency_point_id=message.consistency_point_id,
            params={"test_id": message.test_id} if message.test_id else None,
        )
    except ExecutionRejected as exc:
        log.warning("StartExecution %s rejected: %s", message.execution_id, exc)
        owner = plan.spec if plan is not None else None
        ctx.emit(
            ExecutionCompleted(
                execution_id=message.execution_id,
                plan_id=message.plan_id,
                execution_kind=message.execution_kind,
                source_site=owner.source_site if owner else "unknown",
                target_site=message.target_site or (owner.target_sites[0] if owner else "unknown"),
                outcome="cancelled",
                recovery_point=None,
                error=f"rejected: {exc}"[:2000],
                completed_at=datetime.now(UTC),
                project_id=message.project_id,
            ),
            event_id=f"start-rejected-{message.execution_id}",
        )


HANDLERS: Handlers = {
    SiteDeclaredDown: on_site_down,
    SiteDeclaredUp: on_site_up,
    SiteRegistered: on_site_registered,
    RpoTickElapsed: on_tick,
    ReplicateNow: on_replicate_now,
    ConsistencyPointCreated: on_cp,
    ConsistencyPointPruned: on_cp_pruned,
    StartExecution: on_start_execution,
}

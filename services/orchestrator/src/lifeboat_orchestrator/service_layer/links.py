"""Site-to-site links (UC6): observations in, link states and partitions out.

The replicators report each cycle attempt's link as a ``SiteLinkObserved`` (reachable or not)
on ``lifeboat.sites.events.v1``; one handler runs them through the link hysteresis
(``domain.links``). A partition is never stored: it is derived when asked, from the link states
and the sites' declared health and newest healthy probe, so a site going down or a link coming
back ends it at once. Each detection is logged once (when the link is declared cut with both
sites up) and each link's state is the gauge ``lifeboat_site_link_up{source,target}``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Gauge
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_orchestrator.adapters.link_repository import LinkRepository
from lifeboat_orchestrator.adapters.plans import Plan
from lifeboat_orchestrator.domain.links import (
    LinkRules,
    LinkTransition,
    SiteLink,
    SiteSeen,
    partition_of,
)
from lifeboat_orchestrator.service_layer.executions import direction
from lifeboat_shared.bus.handlers import HandlerContext, Handlers
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.messages.links import SiteLinkObserved

log = logging.getLogger(__name__)

LINK_UP = Gauge(
    "lifeboat_site_link_up",
    "Site-to-site data link as its sending side sees it, after the hysteresis (1 reachable, "
    "0 cut); set by the replica that applied the newest observation",
    ["source", "target"],
)
DEGRADED_OFFER = "failover with degraded: true"


async def apply_link_observation(
    session: AsyncSession, message: SiteLinkObserved, rules: LinkRules
) -> LinkTransition | None:
    repo = LinkRepository(session)
    link = await repo.get(message.source_site, message.target_site, for_update=True)
    new = link is None
    if link is None:
        link = SiteLink(message.source_site, message.target_site)
    transition = link.observe(
        message.reachable, message.at, message.observer, message.detail, rules
    )
    await repo.save(link, new=new)
    LINK_UP.labels(link.source_site, link.target_site).set(1 if link.reachable else 0)
    if transition is not None:
        partitioned, why = partition_of(link, await repo.sites_seen(), datetime.now(UTC), rules)
        if transition.reachable:
            log.warning("link %s reachable again: %s", link.name, transition.reason)
        elif partitioned:
            log.warning("partition detected on link %s: %s (%s)", link.name, why, transition.reason)
        else:
            log.warning("link %s cut: %s (%s)", link.name, transition.reason, why)
    return transition


def make_link_handlers(rules: LinkRules) -> Handlers:
    async def on_link_observed(message: Message, ctx: HandlerContext) -> None:
        assert isinstance(message, SiteLinkObserved)
        await apply_link_observation(ctx.session, message, rules)

    return {SiteLinkObserved: on_link_observed}


@dataclass(frozen=True)
class LinkView:
    link: SiteLink
    partitioned: bool
    why: str


@dataclass(frozen=True)
class LinksNow:
    links: list[LinkView]
    sites: dict[str, SiteSeen]


async def links_now(session: AsyncSession, rules: LinkRules) -> LinksNow:
    repo = LinkRepository(session)
    links, sites = await repo.all(), await repo.sites_seen()
    now = datetime.now(UTC)
    views = []
    for link in links:
        partitioned, why = partition_of(link, sites, now, rules)
        views.append(LinkView(link, partitioned, why))
        LINK_UP.labels(link.source_site, link.target_site).set(1 if link.reachable else 0)
    return LinksNow(views, sites)


def plan_partition(plan: Plan, links: Sequence[LinkView]) -> dict[str, Any] | None:
    """The partition a plan replicates across, if any: its running site and any of its recovery
    sites, with the link between them cut (either direction) and both up."""
    active, targets, _groups = direction(plan)
    if not targets and plan.state.protected_to:
        targets = [plan.state.protected_to]
    pairs = {frozenset((active, t)) for t in targets if t != active}
    cut = [
        v
        for v in links
        if v.partitioned and frozenset((v.link.source_site, v.link.target_site)) in pairs
    ]
    if not cut:
        return None
    first = min(cut, key=lambda v: v.link.since or datetime.max.replace(tzinfo=UTC))
    both_online = plan.spec.split_brain.on_partition == "both-online"
    return {
        "since": first.link.since.isoformat() if first.link.since else None,
        "link": first.link.name,
        "links": sorted(v.link.name for v in cut),
        "detail": first.why,
        "on_partition": plan.spec.split_brain.on_partition,
        "offer": DEGRADED_OFFER if both_online else None,
        "note": (
            "split_brain.on_partition is both-online: the DR copy may come up beside the "
            "primary (POST /v1/plans/{id}/executions with kind failover and degraded: true)"
            if both_online
            else "split_brain.on_partition is primary-only: only the primary runs; "
            "the DR copy stays off until the link is back or the primary is declared down"
        ),
    }


def partitions_by_plan(
    plans: Sequence[Plan], links: Sequence[LinkView]
) -> Mapping[str, dict[str, Any] | None]:
    return {p.id: plan_partition(p, links) for p in plans}

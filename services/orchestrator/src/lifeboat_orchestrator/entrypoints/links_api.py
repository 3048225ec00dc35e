"""REST surface of site-to-site links (UC6): each link as its sending side sees it, the sites'
declared health, and whether a cut link is a partition."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from lifeboat_orchestrator.service_layer.links import links_now
from lifeboat_orchestrator.service_layer.wiring import link_rules_for
from lifeboat_shared.service import CurrentPrincipal, RuntimeDep

router = APIRouter(tags=["site links"])


class SiteLinkOut(BaseModel):
    source_site: str = Field(description="The sending side: this is its replicator's view")
    target_site: str
    state: Literal["reachable", "cut"]
    since: datetime | None = Field(description="When the current state began")
    last_observed_at: datetime | None
    observer: str = Field(description="Who reported the newest observation (replicator:<id>)")
    detail: str = Field(description="The newest observation's detail")
    consecutive_failures: int = Field(description="The current run of failed transfers")
    partition: bool = Field(
        description="Cut while both sites are declared up and recently probed healthy"
    )
    assessment: str = Field(description="Why this is or is not a partition")


class SiteSeenOut(BaseModel):
    site_id: str
    declared: str = Field(description="Declared health (up or down)")
    last_healthy_at: datetime | None = Field(description="The newest healthy probe")


class SiteLinksOut(BaseModel):
    links: list[SiteLinkOut]
    sites: list[SiteSeenOut]
    partitions: list[str] = Field(description="The links that are partitions now")


@router.get(
    "/site-links",
    summary="Site-to-site data links as each sending side's replicator sees them (A->B is A's "
    "view, B->A is B's), the sites' declared health, and partitions (UC6)",
)
async def site_links(runtime: RuntimeDep, _who: CurrentPrincipal) -> SiteLinksOut:
    async with runtime.db.read() as session:
        now = await links_now(session, link_rules_for(runtime))
    return SiteLinksOut(
        links=[
            SiteLinkOut(
                source_site=v.link.source_site,
                target_site=v.link.target_site,
                state="reachable" if v.link.reachable else "cut",
                since=v.link.since,
                last_observed_at=v.link.last_observed_at,
                observer=v.link.observer,
                detail=v.link.detail,
                consecutive_failures=v.link.consecutive_failures,
                partition=v.partitioned,
                assessment=v.why,
            )
            for v in now.links
        ],
        sites=[
            SiteSeenOut(site_id=s.site_id, declared=s.declared, last_healthy_at=s.last_healthy_at)
            for s in now.sites.values()
        ],
        partitions=[v.link.name for v in now.links if v.partitioned],
    )

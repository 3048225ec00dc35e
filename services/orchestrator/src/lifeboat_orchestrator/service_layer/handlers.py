"""Site health handlers: declarations from probes, operators or external monitoring."""

from __future__ import annotations

from datetime import datetime

from lifeboat_orchestrator.adapters.repository import SiteRepository
from lifeboat_orchestrator.domain.model import Site, SiteState
from lifeboat_shared.bus.handlers import HandlerContext, Handlers
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.messages import SiteDeclaredDown, SiteDeclaredUp


async def _declare(
    ctx: HandlerContext, site_id: str, state: SiteState, at: datetime, by: str, reason: str | None
) -> None:
    repo = SiteRepository(ctx.session)
    site = await repo.get(site_id)
    if site is None:
        await repo.save(Site(site_id, state, at, by, reason), new=True)
    elif site.declare(state, at, by, reason):
        await repo.save(site, new=False)


async def on_site_down(message: Message, ctx: HandlerContext) -> None:
    assert isinstance(message, SiteDeclaredDown)
    await _declare(
        ctx,
        message.site_id,
        SiteState.DOWN,
        message.declared_at,
        message.declared_by,
        message.reason,
    )


async def on_site_up(message: Message, ctx: HandlerContext) -> None:
    assert isinstance(message, SiteDeclaredUp)
    await _declare(
        ctx, message.site_id, SiteState.UP, message.declared_at, message.declared_by, None
    )


HANDLERS: Handlers = {SiteDeclaredDown: on_site_down, SiteDeclaredUp: on_site_up}

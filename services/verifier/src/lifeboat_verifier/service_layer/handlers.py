"""Verifier handlers."""

from __future__ import annotations

from lifeboat_shared.bus.handlers import HandlerContext, Handlers
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.messages import BubbleReady
from lifeboat_verifier.adapters.repository import TestRunRepository
from lifeboat_verifier.domain.model import TestRun


async def on_bubble_ready(message: Message, ctx: HandlerContext) -> None:
    """Open a test run for the bubble; a second BubbleReady for the same test changes nothing."""
    assert isinstance(message, BubbleReady)
    repo = TestRunRepository(ctx.session)
    if await repo.exists(message.test_id):
        return
    await repo.add(
        TestRun(
            test_id=message.test_id,
            plan_id=message.plan_id,
            site_id=message.site_id,
            network_id=message.network_id,
            server_ids=list(message.server_ids),
            ready_at=message.ready_at,
            project_id=message.project_id,
        )
    )


HANDLERS: Handlers = {BubbleReady: on_bubble_ready}

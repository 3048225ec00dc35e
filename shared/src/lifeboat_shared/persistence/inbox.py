"""Inbox: the ids of events a consumer group has handled, checked inside the handler's transaction.

Redelivery after a crash (offsets are committed only after the handler's commit) finds the id
here and skips the handler, so every event takes effect exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_shared.persistence.tables import inbox


async def already_handled(session: AsyncSession, group: str, event_ids: Iterable[str]) -> set[str]:
    ids = list(event_ids)
    if not ids:
        return set()
    rows = await session.execute(
        sa.select(inbox.c.event_id).where(
            inbox.c.consumer_group == group, inbox.c.event_id.in_(ids)
        )
    )
    return {r[0] for r in rows}


async def mark_handled(session: AsyncSession, group: str, event_ids: Iterable[str]) -> None:
    now = datetime.now(UTC)
    rows = [{"consumer_group": group, "event_id": i, "handled_at": now} for i in event_ids]
    if rows:
        await session.execute(sa.insert(inbox), rows)

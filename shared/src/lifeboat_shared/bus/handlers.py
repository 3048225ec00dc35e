"""What a message handler sees: its transaction, the envelope, and a way to emit follow-up events.

Events emitted through the context go to the outbox in the handler's own transaction, so a
handled event and the events it causes commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.envelope import Envelope, new_envelope
from lifeboat_shared.telemetry.tracing import current_traceparent


@dataclass
class HandlerContext:
    session: AsyncSession
    envelope: Envelope
    source: str
    staged: list[Envelope] = field(default_factory=list)

    def emit(self, message: Message, *, event_id: str | None = None) -> Envelope:
        """Stage a follow-up message; ``event_id`` makes it deterministic (idempotent retries)."""
        envelope = new_envelope(
            message, source=self.source, event_id=event_id, traceparent=current_traceparent()
        )
        self.staged.append(envelope)
        return envelope


Handler = Callable[[Message, HandlerContext], Awaitable[None]]
Handlers = Mapping[type[Message], Handler]

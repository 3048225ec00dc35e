"""Persistence: async SQLAlchemy per service, outbox, inbox, migrations."""

from lifeboat_shared.persistence.database import Database
from lifeboat_shared.persistence.inbox import already_handled, mark_handled
from lifeboat_shared.persistence.outbox import OutboxRelay, add_to_outbox

__all__ = ["Database", "OutboxRelay", "add_to_outbox", "already_handled", "mark_handled"]

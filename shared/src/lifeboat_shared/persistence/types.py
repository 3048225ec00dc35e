"""Small helpers for values read back from the database."""

from __future__ import annotations

from datetime import UTC, datetime


def aware(value: datetime) -> datetime:
    """SQLite returns naive datetimes for timezone-aware columns; Lifeboat stores UTC only."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)

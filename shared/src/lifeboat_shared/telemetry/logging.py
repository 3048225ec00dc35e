"""Structured JSON logs carrying trace ids, so a log line can be joined to its trace."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from pythonjsonlogger.json import JsonFormatter

from lifeboat_shared.telemetry.tracing import current_trace_ids


class _TraceIds(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ids = current_trace_ids()
        record.trace_id, record.span_id = ids if ids else ("", "")
        return True


def configure_logging(
    service: str, *, level: str = "INFO", json_logs: bool = True, file: Path | None = None
) -> None:
    """Log to stderr, or to ``file`` (``lifeboat up`` keeps the terminal for its own output)."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    for old in list(root.handlers):
        if getattr(old, "_lifeboat", False):
            root.removeHandler(old)
    handler: logging.Handler = (
        logging.FileHandler(file) if file else logging.StreamHandler(sys.stderr)
    )
    handler._lifeboat = True  # type: ignore[attr-defined]
    handler.addFilter(_TraceIds())
    if json_logs:
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(trace_id)s %(span_id)s",
                rename_fields={"levelname": "level", "asctime": "time"},
                static_fields={"service": service},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))

"""Structured JSON logs carrying trace ids, so a log line can be joined to its trace."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pythonjsonlogger.json import JsonFormatter

from lifeboat_shared.telemetry.tracing import current_trace_ids


class _TraceIds(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ids = current_trace_ids()
        record.trace_id, record.span_id = ids if ids else ("", "")
        return True


class _Redacting(logging.Formatter):
    """Defence in depth: the settings' secret values, should one ever reach a log line (a
    third-party message, an exception text), are replaced by ``***`` in the formatted output."""

    def __init__(self, inner: logging.Formatter, secrets: Sequence[str]) -> None:
        super().__init__()
        self._inner = inner
        self._secrets = [s for s in secrets if s]

    def format(self, record: logging.LogRecord) -> str:
        text = self._inner.format(record)
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def stop_file_logging(file: Path) -> None:
    """Detach and close the handler ``configure_logging`` made for ``file`` (a stack stopping in
    a process that goes on, e.g. a test: a closed FileHandler left on the root logger reopens
    its file at the next record, and fails once that directory is gone)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if (
            getattr(handler, "_lifeboat", False)
            and isinstance(handler, logging.FileHandler)
            and Path(handler.baseFilename) == file.absolute()
        ):
            root.removeHandler(handler)
            handler.close()


def configure_logging(
    service: str,
    *,
    level: str = "INFO",
    json_logs: bool = True,
    file: Path | None = None,
    redact: Sequence[str] = (),
) -> None:
    """Log to stderr, or to ``file`` (``lifeboat up`` keeps the terminal for its own output);
    the values in ``redact`` (the settings' secrets) never appear in the output."""
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
    formatter: logging.Formatter
    if json_logs:
        formatter = JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(trace_id)s %(span_id)s",
            rename_fields={"levelname": "level", "asctime": "time"},
            static_fields={"service": service},
        )
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(_Redacting(formatter, redact) if redact else formatter)
    root.addHandler(handler)
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))

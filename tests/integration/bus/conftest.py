"""The contract suite runs once per backend: embedded on SQLite, embedded on PostgreSQL, Kafka."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.integration.bus.harness import BackendConfig, prepare_service_db


@pytest.fixture(params=["embedded-sqlite", "embedded-postgres", "kafka"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> BackendConfig:
    kind = request.param
    schema = f"t_{uuid.uuid4().hex[:12]}"
    if kind == "embedded-sqlite":
        cfg = BackendConfig(
            kind="embedded",
            service_url=f"sqlite+aiosqlite:///{tmp_path / 'service.db'}",
            service_schema=None,
            bus_url=f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}",
        )
    elif kind == "embedded-postgres":
        url = request.getfixturevalue("postgres_url")
        cfg = BackendConfig(
            kind="embedded",
            service_url=url,
            service_schema=schema,
            bus_url=url,
            bus_schema=f"{schema}_bus",
        )
    else:
        cfg = BackendConfig(
            kind="kafka",
            service_url=request.getfixturevalue("postgres_url"),
            service_schema=schema,
            kafka_bootstrap=request.getfixturevalue("kafka_bootstrap"),
            session_timeout=6.0,
        )
    db = cfg.make_db()
    await prepare_service_db(db)
    await db.dispose()
    return cfg

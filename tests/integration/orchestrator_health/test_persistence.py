"""The hysteresis state lives in the database: a restarted orchestrator keeps counting where the
last one stopped. On SQLite and on the real PostgreSQL (row locks, the probe-pruning query)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager

from lifeboat_orchestrator.adapters.health_orm import site_health_probes
from lifeboat_orchestrator.bootstrap import build
from lifeboat_orchestrator.entrypoints import health_api
from lifeboat_orchestrator.service_layer.health import make_health_handlers
from lifeboat_orchestrator.settings import OrchestratorSettings
from lifeboat_shared.bus.handlers import HandlerContext
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.messages import SiteDeclaredDown, SiteDeclaredUp
from lifeboat_shared.contracts.messages.health import SiteHealthObserved
from lifeboat_shared.service.app import create_app
from lifeboat_shared.service.runtime import ServiceRuntime
from tests.integration.orchestrator_health.conftest import AUTH, RULES, TOKEN

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HANDLERS = make_health_handlers(RULES)


@dataclasses.dataclass
class Orchestrator:
    runtime: ServiceRuntime
    client: httpx.AsyncClient

    async def deliver(self, message: SiteHealthObserved) -> list[Message]:
        """Handle an event as the consumer does (one transaction); returns what it emitted."""
        async with self.runtime.db.transaction() as session:
            ctx = HandlerContext(
                session=session, envelope=self.runtime.envelope(message), source="/test"
            )
            await HANDLERS[SiteHealthObserved](message, ctx)
        return [e.message for e in ctx.staged]


@pytest.fixture(params=["sqlite", "postgres"])
def start(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Any]:
    settings: dict[str, Any] = {"data_dir": tmp_path, "api_token": TOKEN, "json_logs": False}
    if request.param == "postgres":
        settings["database_url"] = request.getfixturevalue("postgres_url")
        settings["bus_database_url"] = f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}"
    name = f"orch_{uuid.uuid4().hex[:10]}"  # a schema of its own on the shared PostgreSQL

    @asynccontextmanager
    async def running() -> AsyncIterator[Orchestrator]:
        base = build(OrchestratorSettings(**settings))
        spec = dataclasses.replace(
            base, name=name, routers=[health_api.router], handlers=HANDLERS, background=()
        )
        app = create_app(spec, configure_logs=False)
        transport = httpx.ASGITransport(app=app)
        async with (
            LifespanManager(app, startup_timeout=60),
            httpx.AsyncClient(transport=transport, base_url="http://o", headers=AUTH) as c,
        ):
            yield Orchestrator(app.state.runtime, c)

    return running


def probe(seconds: float, healthy: bool, site: str = "p-a") -> SiteHealthObserved:
    return SiteHealthObserved(
        site_id=site,
        source="probe",
        healthy=healthy,
        severity="info" if healthy else "critical",
        services={"keystone": True, "nova": healthy, "cinder": True, "neutron": True},
        detail="ok" if healthy else "nova: Service Unavailable (HTTP 503)",
        observed_at=T0 + timedelta(seconds=seconds),
    )


async def test_a_restart_keeps_the_counts(start: Callable[[], Any]) -> None:
    async with start() as orch:
        assert await orch.deliver(probe(0, True)) == []
        assert await orch.deliver(probe(1, False)) == []
        assert await orch.deliver(probe(2, False)) == []
    async with start() as orch:  # a new process on the same database
        (down,) = await orch.deliver(probe(3, False))
        assert isinstance(down, SiteDeclaredDown) and down.declared_by == "probe"
        for s in range(4, 40):  # failures while down: nothing more to declare
            assert await orch.deliver(probe(s, False)) == []
        async with orch.runtime.db.read() as session:
            kept = await session.scalar(
                sa.select(sa.func.count()).where(site_health_probes.c.site_id == "p-a")
            )
        assert kept == RULES.keep_probes
        assert await orch.deliver(probe(40, True)) == []
        assert await orch.deliver(probe(40.5, True)) == []
    async with start() as orch:
        (up,) = await orch.deliver(probe(41, True))  # 3 in a row over 1 s
        assert isinstance(up, SiteDeclaredUp) and up.declared_at == T0 + timedelta(seconds=41)
        view = (await orch.client.get("/v1/sites/p-a/health")).json()
        assert view["declared"] == "up" and view["consecutive_healthy_probes"] == 3
        assert len(view["recent_probes"]) == RULES.keep_probes
        assert view["recent_probes"][0]["observed_at"].startswith("2026-01-01T00:00:41")


async def test_a_firing_alert_survives_a_restart(start: Callable[[], Any]) -> None:
    firing = SiteHealthObserved(
        site_id="p-b",
        source="alertmanager",
        healthy=False,
        severity="critical",
        detail="SiteUnreachable",
        alert_id="fp-9",
        observed_at=T0,
    )
    async with start() as orch:
        assert await orch.deliver(firing) == []
        assert await orch.deliver(firing.model_copy(update={"observed_at": T0})) == []
    async with start() as orch:
        (down,) = await orch.deliver(probe(1, False, site="p-b"))
        assert isinstance(down, SiteDeclaredDown) and down.declared_by == "alertmanager"
        view = (await orch.client.get("/v1/sites/p-b/health")).json()
        assert [a["alert_id"] for a in view["firing_alerts"]] == ["fp-9"]

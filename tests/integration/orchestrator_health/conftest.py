"""An orchestrator with site health wired in (the way bootstrap will wire it), probing real
cloudsim sites over HTTP, on SQLite with the embedded bus: probes -> outbox -> bus -> consumer
-> hysteresis -> SiteDeclaredDown/Up -> outbox -> bus -> the lead's ``sites`` table."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager

from cloudsim.testing import SiteSet, running_sites
from lifeboat_orchestrator.bootstrap import build
from lifeboat_orchestrator.domain.health import HealthRules
from lifeboat_orchestrator.entrypoints import health_api
from lifeboat_orchestrator.service_layer.handlers import HANDLERS
from lifeboat_orchestrator.service_layer.health import (
    ProbeConfig,
    make_health_handlers,
    site_prober,
)
from lifeboat_orchestrator.settings import OrchestratorSettings
from lifeboat_shared.bus.records import Record
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.envelope import Envelope, decode_record
from lifeboat_shared.persistence.tables import outbox
from lifeboat_shared.service.app import create_app
from lifeboat_shared.service.runtime import ServiceRuntime

TOKEN = "test-token-" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SITES = ("hs-down", "hs-flap", "hs-alert", "hs-partial")
RULES = HealthRules(
    down_after_failures=3, down_window_seconds=5, up_after_successes=3, up_min_seconds=1.0
)
M = TypeVar("M", bound=Message)


@dataclass
class HealthEnv:
    sites: SiteSet
    runtime: ServiceRuntime
    client: httpx.AsyncClient
    probe: ProbeConfig

    async def envelopes(self) -> list[Envelope]:
        """Everything the orchestrator staged, in outbox order."""
        async with self.runtime.db.read() as session:
            rows = await session.execute(sa.select(outbox).order_by(outbox.c.id))
            return [
                decode_record(
                    Record(
                        topic=r.topic,
                        key=r.key,
                        value=r.value,
                        headers=tuple((k, v.encode()) for k, v in r.headers.items()),
                    )
                )
                for r in rows
            ]

    async def events(self, kind: type[M], site_id: str) -> list[M]:
        return [
            e.message
            for e in await self.envelopes()
            if isinstance(e.message, kind) and e.message.partition_key() == site_id
        ]

    def admin(self, site: str, action: str) -> None:
        with self.sites.sites[site].admin() as admin:
            body = {"mode": "503"} if action == "down" else {}
            admin.post(f"/{action}", json=body).raise_for_status()

    async def site_state(self, site_id: str) -> str | None:
        got = await self.client.get("/v1/sites")
        got.raise_for_status()
        return next((s["state"] for s in got.json() if s["id"] == site_id), None)

    async def health(self, site_id: str) -> dict[str, Any]:
        got = await self.client.get(f"/v1/sites/{site_id}/health")
        got.raise_for_status()
        data: dict[str, Any] = got.json()
        return data

    async def wait(
        self, what: str, check: Callable[[], Any], timeout: float = 20, every: float = 0.1
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = await check()
            if result:
                return result
            await asyncio.sleep(every)
        raise AssertionError(f"not reached in {timeout} s: {what}")


@pytest.fixture(scope="module")
async def health_env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[HealthEnv]:
    tmp: Path = tmp_path_factory.mktemp("orchestrator-health")
    with running_sites(list(SITES), tmp / "sites") as sites:
        probe = ProbeConfig(
            clouds_yaml=sites.clouds_yaml, interval_seconds=0.3, timeout_seconds=2.0
        )
        probe.check_against(RULES)
        known: Mapping[str, str] = {s: s for s in SITES}

        async def known_sites() -> Mapping[str, str]:
            return known

        async def prober(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
            await site_prober(runtime, stop, sites=known_sites, config=probe)

        (tmp / "lb").mkdir()
        settings = OrchestratorSettings(data_dir=tmp / "lb", api_token=TOKEN, json_logs=False)
        base = build(settings)
        spec = dataclasses.replace(
            base,
            routers=[*base.routers, health_api.router],
            handlers={**HANDLERS, **make_health_handlers(RULES)},
            background=[*base.background, prober],
        )
        app = create_app(spec, configure_logs=False)
        transport = httpx.ASGITransport(app=app)
        async with (
            LifespanManager(app, startup_timeout=60, shutdown_timeout=60),
            httpx.AsyncClient(transport=transport, base_url="http://o", headers=AUTH) as client,
        ):
            yield HealthEnv(sites, app.state.runtime, client, probe)

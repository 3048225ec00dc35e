"""A policy service per test, on SQLite and on the real PostgreSQL, with the scheduler driven by
hand (``scheduler_enabled=False``) so tests choose the clock."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from lifeboat_policy.bootstrap import build
from lifeboat_policy.service_layer.handlers import HANDLERS
from lifeboat_policy.settings import PolicySettings
from lifeboat_shared.bus.handlers import HandlerContext
from lifeboat_shared.bus.records import Record
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.envelope import Envelope, decode_record
from lifeboat_shared.persistence.tables import outbox
from lifeboat_shared.service.app import create_app
from lifeboat_shared.service.runtime import ServiceRuntime

TOKEN = "test-token-" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {TOKEN}"}
M = TypeVar("M", bound=Message)


@dataclass
class Policy:
    """One running policy service and what a test needs to drive and observe it."""

    app: FastAPI
    client: httpx.AsyncClient
    settings: dict[str, Any]
    name: str

    @property
    def runtime(self) -> ServiceRuntime:
        runtime: ServiceRuntime = self.app.state.runtime
        return runtime

    async def envelopes(self) -> list[Envelope]:
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

    async def events(self, kind: type[M]) -> list[M]:
        return [e.message for e in await self.envelopes() if isinstance(e.message, kind)]

    async def deliver(self, message: Message) -> None:
        """Handle an event the way the consumer does: in one transaction with its outbox."""
        async with self.runtime.db.transaction() as session:
            envelope = self.runtime.envelope(message)
            context = HandlerContext(session=session, envelope=envelope, source="/test")
            await HANDLERS[type(message)](message, context)

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(path, json=body)
        assert response.status_code in (200, 201, 202), response.text
        data: dict[str, Any] = response.json()
        return data


@pytest.fixture(params=["sqlite", "postgres"])
def policy_settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "data_dir": tmp_path,
        "api_token": TOKEN,
        "json_logs": False,
        "scheduler_enabled": False,
        "usage_pass_interval_seconds": 0,  # tests run usage passes by hand
    }
    if request.param == "postgres":
        settings["database_url"] = request.getfixturevalue("postgres_url")
        settings["bus_database_url"] = f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}"
    return settings


def start_policy(settings: dict[str, Any], name: str) -> FastAPI:
    # A schema of its own per test on the shared PostgreSQL (the spec's name is the schema).
    spec = dataclasses.replace(build(PolicySettings(**settings)), name=name)
    return create_app(spec, configure_logs=False)


@pytest.fixture
async def policy(policy_settings: dict[str, Any]) -> AsyncIterator[Policy]:
    name = f"policy_{uuid.uuid4().hex[:10]}"
    app = start_policy(policy_settings, name)
    async with LifespanManager(app, startup_timeout=60):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://p", headers=AUTH) as c:
            yield Policy(app, c, policy_settings, name)


async def seed(p: Policy, **policy: Any) -> dict[str, str]:
    """Two protected sites, two DR sites, one policy (RPO 60 s unless overridden)."""
    for site_id, role in (("a", "protected"), ("a2", "both"), ("b", "recovery"), ("c", "recovery")):
        await p.post(
            "/v1/sites",
            {
                "site_id": site_id,
                "cloud": f"cloud-{site_id}",
                "role": role,
                "data_endpoint": f"127.0.0.1:{9000 + len(site_id)}",
            },
        )
    body = {"name": f"pol-{uuid.uuid4().hex[:6]}", "rpo_seconds": 60, **policy}
    created = await p.post("/v1/policies", body)
    return {"policy_id": created["id"]}


async def make_group(
    p: Policy, policy_id: str, name: str, *, servers: list[str] | None = None, target: str = "b"
) -> dict[str, Any]:
    return await p.post(
        "/v1/protection-groups",
        {
            "name": name,
            "project_id": "p1",
            "source_site": "a",
            "target_site": target,
            "policy_id": policy_id,
            "members": {"servers": servers or [f"srv-{name}"], "volumes": [f"vol-{name}"]},
        },
    )


def at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))

"""Tenant isolation of what the replicator, billing and verifier expose (issue #14): each
service in-process on SQLite and on the real PostgreSQL, with data of two projects recorded the
way the service records it; two projects' members and the admin read it. 0 cross-project reads
(another project's cycle, CP or restore source: 404), query project_id spoofing 403, the admin
sees both projects or the one it names."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from lifeboat_billing.bootstrap import build as build_billing
from lifeboat_billing.service_layer.handlers import HANDLERS as BILLING
from lifeboat_billing.settings import BillingSettings
from lifeboat_replicator.adapters.repository import ConsistencyPointRepository, CycleRepository
from lifeboat_replicator.bootstrap import build as build_replicator
from lifeboat_replicator.domain.model import (
    Consistency,
    ConsistencyPoint,
    CycleStatus,
    ReplicationCycle,
)
from lifeboat_replicator.settings import ReplicatorSettings
from lifeboat_shared.bus.handlers import HandlerContext, Handlers
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.messages import BubbleReady, UsageRecorded
from lifeboat_shared.service.app import create_app
from lifeboat_shared.service.authz import Authorizer
from lifeboat_shared.service.runtime import ServiceRuntime
from lifeboat_shared.service.spec import ServiceSpec
from lifeboat_verifier.bootstrap import build as build_verifier
from lifeboat_verifier.service_layer.handlers import HANDLERS as VERIFIER
from lifeboat_verifier.settings import VerifierSettings
from tests.support.tenants import AS_A, AS_B, TENANT_A, TENANT_B, install_tenants

TOKEN = "test-token-" + uuid.uuid4().hex
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
NOW = datetime.now(UTC)


@pytest.fixture(params=["sqlite", "postgres"])
def common(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    settings: dict[str, Any] = {"data_dir": tmp_path, "api_token": TOKEN, "json_logs": False}
    if request.param == "postgres":
        settings["database_url"] = request.getfixturevalue("postgres_url")
        settings["bus_database_url"] = f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}"
    return settings


@asynccontextmanager
async def serving(
    spec: ServiceSpec,
) -> AsyncIterator[tuple[ServiceRuntime, httpx.AsyncClient]]:
    # A schema of its own per test on the shared PostgreSQL (the spec's name is the schema).
    service = spec.name
    spec = dataclasses.replace(spec, name=f"{spec.name}_{uuid.uuid4().hex[:8]}")
    app = create_app(spec, configure_logs=False)
    # The role rules are the service's own, whatever the schema is called.
    app.state.authorizer = Authorizer(service)
    async with LifespanManager(app, startup_timeout=60):
        install_tenants(app)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://s") as client:
            yield app.state.runtime, client


async def deliver(runtime: ServiceRuntime, handlers: Handlers, message: Message) -> None:
    async with runtime.db.transaction() as session:
        ctx = HandlerContext(session=session, envelope=runtime.envelope(message), source="/t")
        await handlers[type(message)](message, ctx)


async def ids(client: httpx.AsyncClient, path: str, who: dict[str, str], key: str) -> set[str]:
    r = await client.get(path, headers=who)
    assert r.status_code == 200, r.text
    return {item[key] for item in r.json()}


async def test_replicator_cycles_cps_and_restores(common: dict[str, Any]) -> None:
    spec = build_replicator(ReplicatorSettings(**common, runner_interval_seconds=60))
    async with serving(spec) as (runtime, c):
        made: dict[str, tuple[str, str]] = {}
        async with runtime.db.transaction() as s:
            for project in (TENANT_A, TENANT_B):
                group, cycle_id, cp_id = f"g-{project}", str(uuid.uuid4()), str(uuid.uuid4())
                await CycleRepository(s).add(
                    ReplicationCycle(
                        id=cycle_id,
                        group_id=group,
                        project_id=project,
                        trigger="rpo",
                        trigger_event_id=str(uuid.uuid4()),
                        requested_at=NOW,
                        spec={},
                        status=CycleStatus.SUCCEEDED,
                    )
                )
                await ConsistencyPointRepository(s).add(
                    ConsistencyPoint(
                        id=cp_id,
                        group_id=group,
                        project_id=project,
                        source_site="a",
                        target_site="b",
                        consistency=Consistency.CRASH,
                        taken_at=NOW,
                        created_at=NOW,
                        cycle_id=cycle_id,
                        members=(),
                    )
                )
                made[project] = (cycle_id, cp_id)
        (cycle_a, cp_a), (cycle_b, cp_b) = made[TENANT_A], made[TENANT_B]
        for path, key, a, b in (
            ("/v1/replication-cycles", "id", cycle_a, cycle_b),
            ("/v1/consistency-points", "id", cp_a, cp_b),
        ):
            assert await ids(c, path, AS_A, key) == {a}
            assert await ids(c, path, AS_B, key) == {b}
            assert await ids(c, path, ADMIN, key) == {a, b}
            assert await ids(c, f"{path}?project_id={TENANT_B}", ADMIN, key) == {b}
            assert await ids(c, f"{path}?group_id=g-{TENANT_A}", AS_B, key) == set()
            r = await c.get(path, params={"project_id": TENANT_A}, headers=AS_B)
            assert r.status_code == 403 and "project_id" in r.text
        for path in (f"/v1/replication-cycles/{cycle_a}", f"/v1/consistency-points/{cp_a}"):
            assert (await c.get(path, headers=AS_B)).status_code == 404
            assert (await c.get(path, headers=AS_A)).status_code == 200
        for body in (
            {"group_id": f"g-{TENANT_A}"},
            {"group_id": f"g-{TENANT_A}", "consistency_point_id": cp_a},
        ):
            r = await c.post("/v1/restores", json=body, headers=AS_B)
            assert r.status_code == 404, r.text


@pytest.mark.parametrize(
    ("build", "handlers", "path", "key"),
    [
        (lambda **kw: build_billing(BillingSettings(**kw)), BILLING, "/v1/usage", "usage_id"),
        (
            lambda **kw: build_verifier(VerifierSettings(**kw)),
            VERIFIER,
            "/v1/test-runs",
            "test_id",
        ),
    ],
    ids=["billing", "verifier"],
)
async def test_usage_and_test_runs(
    common: dict[str, Any],
    build: Callable[..., ServiceSpec],
    handlers: Handlers,
    path: str,
    key: str,
) -> None:
    async with serving(build(**common)) as (runtime, c):
        for project in (TENANT_A, TENANT_B):
            message: Message
            if path == "/v1/usage":
                message = UsageRecorded(
                    usage_id=f"u-{project}",
                    project_id=project,
                    group_id=f"g-{project}",
                    site_id="a",
                    metric="protected_vm_hours",
                    quantity=Decimal(2),
                    period_start=NOW - timedelta(hours=1),
                    period_end=NOW,
                )
            else:
                message = BubbleReady(
                    test_id=f"u-{project}",
                    plan_id=f"p-{project}",
                    project_id=project,
                    site_id="b",
                    network_id="n",
                    server_ids=["s"],
                    ready_at=NOW,
                )
            await deliver(runtime, handlers, message)
        if path == "/v1/usage":

            async def listed(who: dict[str, str], query: str = "") -> set[str]:
                r = await c.get(f"{path}{query}", headers=who)
                assert r.status_code == 200, r.text
                return {e[key] for e in r.json()["entries"]}
        else:

            async def listed(who: dict[str, str], query: str = "") -> set[str]:
                return await ids(c, f"{path}{query}", who, key)

        assert await listed(AS_A) == {f"u-{TENANT_A}"}
        assert await listed(AS_B) == {f"u-{TENANT_B}"}
        assert await listed(ADMIN) == {f"u-{TENANT_A}", f"u-{TENANT_B}"}
        assert await listed(ADMIN, f"?project_id={TENANT_A}") == {f"u-{TENANT_A}"}
        r = await c.get(path, params={"project_id": TENANT_A}, headers=AS_B)
        assert r.status_code == 403 and "project_id" in r.text
        if path == "/v1/usage":  # the totals are the caller's project's only
            r = await c.get(path, headers=AS_B)
            assert r.json()["project_id"] == TENANT_B
            totals = r.json()["totals"]
            assert {k: Decimal(v) for k, v in totals.items()} == {"protected_vm_hours": 2}

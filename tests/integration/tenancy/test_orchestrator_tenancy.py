"""Tenant isolation in the orchestrator (issue #14): an in-process orchestrator (SQLite, embedded
bus) over two cloudsim sites whose clouds.yaml account is tenant A's project (``demo``), with
two projects' members and the admin. Plans, executions and evacuations: 0 cross-project reads
or actions (404 like a missing id), body project_id spoofing 403, a plan refuses another
project's group and servers, the admin sees both; execution events carry the project."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager

from cloudsim.testing import running_sites
from lifeboat_orchestrator.adapters.plans import PlanRepository
from lifeboat_orchestrator.bootstrap import build
from lifeboat_orchestrator.service_layer.handlers import HANDLERS
from lifeboat_orchestrator.settings import OrchestratorSettings
from lifeboat_shared.bus.handlers import HandlerContext
from lifeboat_shared.bus.records import Record
from lifeboat_shared.cloud import CloudDriver, SiteConfig
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.envelope import decode_record
from lifeboat_shared.contracts.messages import (
    ExecutionStepProgressed,
    ReplicationSpec,
    RpoTickElapsed,
    SiteRef,
)
from lifeboat_shared.persistence.tables import outbox
from lifeboat_shared.service.app import create_app
from lifeboat_shared.service.runtime import ServiceRuntime
from tests.integration.orchestrator.harness import make_app, plan_body, replica_cp, site_events
from tests.support.tenants import AS_A, AS_B, TENANT_A, TENANT_B, install_tenants

TOKEN = "test-token-" + uuid.uuid4().hex
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


async def deliver(runtime: ServiceRuntime, message: Message) -> None:
    async with runtime.db.transaction() as session:
        envelope = runtime.envelope(message)
        ctx = HandlerContext(session=session, envelope=envelope, source="/test")
        await HANDLERS[type(message)](message, ctx)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[tuple[Any, ServiceRuntime, httpx.AsyncClient]]:
    # Failover and evacuations are the admin's by default; this deployment lets members run
    # them for their own project (an operator's oslo.policy override), so tenancy shows.
    rules = tmp_path / "policy.json"
    rules.write_text(
        json.dumps(
            {
                "orchestrator:execution:create:failover": "rule:member",
                "orchestrator:evacuation:create": "rule:member",
                "orchestrator:evacuation:list": "rule:member",
                "orchestrator:evacuation:get": "rule:member",
                "orchestrator:evacuation:approve": "rule:member",
            }
        )
    )
    with running_sites(["site-a", "site-b"], tmp_path / "sites") as sites:
        settings = OrchestratorSettings(
            data_dir=tmp_path,
            api_token=TOKEN,
            json_logs=False,
            clouds_yaml=sites.clouds_yaml,
            probe_enabled=False,
            runner_interval_seconds=0.1,
            step_backoff_seconds=0,
            max_step_attempts=1,
            policy_file=rules,
        )
        app = create_app(build(settings), configure_logs=False)
        async with LifespanManager(app, startup_timeout=60):
            install_tenants(app)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://o") as client:
                yield sites, app.state.runtime, client


async def test_plans_executions_evacuations_stay_in_their_project(
    world: tuple[Any, ServiceRuntime, httpx.AsyncClient],
) -> None:
    sites, runtime, c = world
    driver = CloudDriver(
        [SiteConfig(name=s, cloud=s, clouds_yaml=sites.clouds_yaml) for s in sites.sites]
    )
    try:
        app = await make_app(await driver.project("site-a"), {"web": 1}, prefix="ten")
        cp = await replica_cp(await driver.project("site-b"), app, "site-a", "site-b")
    finally:
        await driver.aclose()
    for message in site_events(sites):
        await deliver(runtime, message)
    await deliver(runtime, cp)
    # a group the orchestrator knows (from its tick) in project B
    spec_b = ReplicationSpec(
        project_id=TENANT_B,
        source=SiteRef(site_id="site-a", cloud="site-a"),
        target=SiteRef(site_id="site-b", cloud="site-b"),
        servers=["s-b"],
    )
    tick = RpoTickElapsed(
        group_id="g-of-b",
        project_id=TENANT_B,
        tick_seq=1,
        rpo_seconds=60,
        due_at=datetime.now(UTC),
        spec=spec_b,
    )
    await deliver(runtime, tick)

    body = plan_body(app, "site-a", ["site-b"], "plan-a")
    r = await c.post("/v1/plans", json={**body, "project_id": TENANT_A}, headers=AS_B)
    assert r.status_code == 403 and "project_id" in r.text, r.text
    r = await c.post(
        "/v1/plans", json={**body, "project_id": TENANT_B, "name": "steal"}, headers=AS_B
    )
    assert r.status_code == 422 and "servers not in project" in r.text, r.text
    r = await c.post("/v1/plans", json={**body, "groups": ["g-of-b"]}, headers=AS_A)
    assert r.status_code == 422 and "groups" in r.text, r.text
    r = await c.post("/v1/plans", json=body, headers=AS_A)
    assert r.status_code == 201, r.text
    plan_a = r.json()

    # project B's own plan (stored directly: its servers would have to live in B's project)
    async with runtime.db.transaction() as s:
        repo = PlanRepository(s)
        stored = await repo.get(plan_a["id"])
        assert stored is not None
        stored.id = str(uuid.uuid4())
        stored.spec = stored.spec.model_copy(
            update={"project_id": TENANT_B, "name": "plan-b", "groups": ["g-of-b"]}
        )
        await repo.add(stored)
    plan_b_id = stored.id

    # a tenant's evacuation takes only its project's plans, and only it sees it (before A's
    # failover below: once that finishes, plan-a no longer runs at site-a)
    r = await c.post(
        "/v1/evacuations", json={"source_site": "site-a", "plans": ["plan-a"]}, headers=AS_B
    )
    assert r.status_code == 422 and "plans" in r.text, r.text
    r = await c.post(
        "/v1/evacuations", json={"source_site": "site-a", "project_id": TENANT_A}, headers=AS_B
    )
    assert r.status_code == 403, r.text
    # B's evacuation weighs only B's plan (no CP anywhere: refused naming it, not plan-a)
    r = await c.post("/v1/evacuations", json={"source_site": "site-a"}, headers=AS_B)
    assert r.status_code == 409 and "plan-b" in r.text and "plan-a" not in r.text, r.text
    # A's takes only A's plan; B cannot see nor approve it; the admin sees it
    r = await c.post("/v1/evacuations", json={"source_site": "site-a"}, headers=AS_A)
    assert r.status_code == 201, r.text
    evac = r.json()
    planned = [p["plan_id"] for w in evac["waves"] for p in w["plans"]]
    assert planned == [plan_a["id"]] and plan_b_id not in planned
    assert (await c.get("/v1/evacuations", headers=AS_B)).json() == []
    assert (await c.get(f"/v1/evacuations/{evac['id']}", headers=AS_B)).status_code == 404
    assert (await c.post(f"/v1/evacuations/{evac['id']}/approve", headers=AS_B)).status_code == 404
    assert [e["id"] for e in (await c.get("/v1/evacuations", headers=ADMIN)).json()] == [evac["id"]]

    r = await c.post(
        f"/v1/plans/{plan_a['id']}/executions", json={"kind": "failover"}, headers=AS_A
    )
    assert r.status_code == 202, r.text
    execution_a = r.json()["id"]

    # lists: each tenant its own, the admin both
    assert [p["id"] for p in (await c.get("/v1/plans", headers=AS_A)).json()] == [plan_a["id"]]
    assert [p["id"] for p in (await c.get("/v1/plans", headers=AS_B)).json()] == [plan_b_id]
    assert {p["id"] for p in (await c.get("/v1/plans", headers=ADMIN)).json()} == {
        plan_a["id"],
        plan_b_id,
    }
    r = await c.get("/v1/plans", params={"project_id": TENANT_A}, headers=AS_B)
    assert r.status_code == 403
    assert (await c.get("/v1/executions", headers=AS_B)).json() == []
    assert [e["id"] for e in (await c.get("/v1/executions", headers=AS_A)).json()] == [execution_a]
    assert [e["id"] for e in (await c.get("/v1/executions", headers=ADMIN)).json()] == [execution_a]

    # B on A's plan (by id and by name) and execution: 404 everywhere, like a missing id
    missing = str(uuid.uuid4())
    for ref in (plan_a["id"], "plan-a", missing):
        base = f"/v1/plans/{ref}"
        answers = [
            await c.get(base, headers=AS_B),
            await c.post(f"{base}/refresh", headers=AS_B),
            await c.post(f"{base}/readiness", headers=AS_B),
            await c.post(f"{base}/executions", json={"kind": "test-failover"}, headers=AS_B),
            await c.delete(base, headers=AS_B),
        ]
        assert [a.status_code for a in answers] == [404] * 5, [a.text for a in answers]
    for ref in (execution_a, missing):
        assert (await c.get(f"/v1/executions/{ref}", headers=AS_B)).status_code == 404
    assert (await c.get(f"/v1/executions/{execution_a}", headers=AS_A)).status_code == 200
    assert (await c.get(f"/v1/plans/{plan_a['id']}", headers=AS_A)).status_code == 200

    # execution events carry the plan's project
    deadline = time.monotonic() + 30
    while True:
        async with runtime.db.read() as s:
            rows = list(await s.execute(sa.select(outbox)))
        progressed = [
            m
            for r in rows
            if isinstance(
                m := decode_record(
                    Record(
                        topic=r.topic,
                        key=r.key,
                        value=r.value,
                        headers=tuple((k, v.encode()) for k, v in r.headers.items()),
                    )
                ).message,
                ExecutionStepProgressed,
            )
        ]
        if progressed:
            break
        assert time.monotonic() < deadline, "no ExecutionStepProgressed"
        await asyncio.sleep(0.2)
    assert {m.project_id for m in progressed} == {TENANT_A}

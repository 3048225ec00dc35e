"""The five services through their public HTTP APIs."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager

from lifeboat_billing.bootstrap import build as build_billing
from lifeboat_billing.settings import BillingSettings
from lifeboat_orchestrator.bootstrap import build as build_orchestrator
from lifeboat_orchestrator.settings import OrchestratorSettings
from lifeboat_policy.bootstrap import build as build_policy
from lifeboat_policy.settings import PolicySettings
from lifeboat_replicator.bootstrap import build as build_replicator
from lifeboat_replicator.settings import ReplicatorSettings
from lifeboat_shared.persistence.database import Database
from lifeboat_shared.persistence.migrations import upgrade_to_head
from lifeboat_shared.service.app import create_app
from lifeboat_shared.service.spec import ServiceSpec
from lifeboat_verifier.bootstrap import build as build_verifier
from lifeboat_verifier.settings import VerifierSettings
from tests.support.services import ROOT

TOKEN = "test-token-" + uuid.uuid4().hex
AUTH = {"Authorization": f"Bearer {TOKEN}"}

BUILDERS: dict[str, Callable[..., ServiceSpec]] = {
    "policy": lambda **kw: build_policy(PolicySettings(**kw)),
    "replicator": lambda **kw: build_replicator(ReplicatorSettings(**kw)),
    "orchestrator": lambda **kw: build_orchestrator(OrchestratorSettings(**kw)),
    "verifier": lambda **kw: build_verifier(VerifierSettings(**kw)),
    "billing": lambda **kw: build_billing(BillingSettings(**kw)),
}


@pytest.mark.parametrize("name", list(BUILDERS))
async def test_service_skeleton(name: str, tmp_path: Path) -> None:
    spec = BUILDERS[name](data_dir=tmp_path, api_token=TOKEN, json_logs=False)
    app = create_app(spec, configure_logs=False)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            assert (await client.get("/healthz")).json()["status"] == "ok"
            ready = await client.get("/readyz")
            assert ready.status_code == 200, ready.text
            assert ready.json()["checks"] == {"database": "ok", "bus": "ok"}
            metrics = (await client.get("/metrics")).text
            assert "lifeboat_outbox_published" in metrics
            openapi = (await client.get("/v1/openapi.json")).json()
            v1_paths = [p for p in openapi["paths"] if p.startswith("/v1/")]
            assert v1_paths, "every service documents its /v1 endpoints"
            first = v1_paths[0]
            method = next(iter(openapi["paths"][first]))
            path = first.replace("{", "").replace("}", "")
            unauthenticated = await client.request(method, path)
            assert unauthenticated.status_code == 401
            assert "bearer token" in unauthenticated.json()["detail"]
            wrong = await client.request(method, path, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401


async def test_bad_input_gets_a_clear_error_naming_the_field(tmp_path: Path) -> None:
    app = create_app(
        build_policy(PolicySettings(data_dir=tmp_path, api_token=TOKEN)), configure_logs=False
    )
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://p", headers=AUTH) as c:
            good = await _group_body(c, "db", rpo_seconds=60)
            bad = await c.post("/v1/protection-groups", json={**good, "members": {"servers": [""]}})
            assert bad.status_code == 422
            assert bad.json()["detail"][0]["loc"][:3] == ["body", "members", "servers"]
            extra = await c.post("/v1/protection-groups", json={**good, "colour": "red"})
            assert extra.status_code == 422 and extra.json()["detail"][0]["loc"][-1] == "colour"
            assert (await c.post("/v1/protection-groups", json=good)).status_code == 201
            dup = await c.post("/v1/protection-groups", json=good)
            assert dup.status_code == 409 and dup.json()["detail"].startswith("name:")
            missing = await c.get(f"/v1/protection-groups/{uuid.uuid4()}")
            assert missing.status_code == 404 and missing.json()["detail"].startswith("group_id:")
            # nothing half-done: exactly one group exists
            assert len((await c.get("/v1/protection-groups")).json()) == 1


async def _group_body(c: httpx.AsyncClient, name: str, rpo_seconds: int) -> dict[str, object]:
    """Register the two sites (idempotent PUT) and a policy, then the body of a group using them."""
    for site_id, role in (("a", "protected"), ("b", "recovery")):
        site = {"cloud": f"cloud-{site_id}", "role": role}
        assert (await c.put(f"/v1/sites/{site_id}", json=site)).status_code in (200, 201)
    policy = await c.post("/v1/policies", json={"name": f"rpo-{name}", "rpo_seconds": rpo_seconds})
    assert policy.status_code == 201, policy.text
    return {
        "name": name,
        "project_id": "p1",
        "source_site": "a",
        "target_site": "b",
        "policy_id": policy.json()["id"],
        "members": {"servers": [f"server-{name}"]},
    }


async def test_migrations_give_each_service_its_own_postgres_schema(postgres_url: str) -> None:
    for name, build in BUILDERS.items():
        extra = {"link_psk_file": Path("/nonexistent/psk")} if name == "replicator" else {}
        spec = build(database_url=postgres_url, api_token=TOKEN, mode="production", **extra)
        db = Database(postgres_url, schema=name)
        await upgrade_to_head(db, spec.migrations)
        await upgrade_to_head(db, spec.migrations)  # idempotent
        await db.dispose()
    admin = Database(postgres_url)
    async with admin.read() as s:
        rows = await s.execute(
            sa.text(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_name IN ('lifeboat_outbox', 'lifeboat_inbox', 'alembic_version')"
            )
        )
        found = {(r[0], r[1]) for r in rows}
    await admin.dispose()
    for name in BUILDERS:
        for table in ("lifeboat_outbox", "lifeboat_inbox", "alembic_version"):
            assert (name, table) in found


async def test_rpo_tick_travels_from_policy_to_replicator_over_kafka_and_postgres(
    postgres_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    common = {
        "mode": "production",
        "bus": "kafka",
        "kafka_bootstrap": kafka_bootstrap,
        "database_url": postgres_url,
        "api_token": TOKEN,
        "auto_migrate": True,
        "topic_partitions": 3,
    }
    psk = tmp_path / "link.psk"
    psk.write_text(secrets.token_hex(32))  # production refuses a one-byte placeholder key
    policy_app = create_app(build_policy(PolicySettings(**common)), configure_logs=False)
    replicator_app = create_app(
        build_replicator(ReplicatorSettings(**common, link_psk_file=psk)), configure_logs=False
    )
    async with (
        LifespanManager(policy_app, startup_timeout=60),
        LifespanManager(replicator_app, startup_timeout=60),
    ):
        p = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=policy_app), base_url="http://p", headers=AUTH
        )
        r = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=replicator_app), base_url="http://r", headers=AUTH
        )
        async with p, r:
            body = await _group_body(p, f"app-{uuid.uuid4().hex[:6]}", rpo_seconds=1)
            created = await p.post("/v1/protection-groups", json=body)
            assert created.status_code == 201, created.text
            group_id = created.json()["id"]
            # Ticks 1 and 2 and a replicate-now command reach the replicator's inbox (each handled
            # once); the first becomes a cycle, later ones are coalesced while it is active.
            accepted = await p.post(f"/v1/protection-groups/{group_id}/replicate-now")
            assert accepted.status_code == 202, accepted.text
            wanted = {
                f"rpo-tick-{group_id}-1",
                f"rpo-tick-{group_id}-2",
                f"replicate-now-{accepted.json()['request_id']}",
            }
            inbox: set[str] = set()
            deadline = time.monotonic() + 45
            replicator_db = Database(postgres_url, schema="replicator")
            try:
                while time.monotonic() < deadline and not wanted <= inbox:
                    async with replicator_db.read() as s:
                        rows = await s.execute(sa.text("SELECT event_id FROM lifeboat_inbox"))
                        inbox = {r[0] for r in rows}
                    await asyncio.sleep(0.2)
            finally:
                await replicator_db.dispose()
            assert wanted <= inbox, f"not handled by the replicator: {wanted - inbox}"
            cycles = (await r.get("/v1/replication-cycles", params={"group_id": group_id})).json()
            # one cycle (the others were coalesced into it), from whichever arrived first
            assert len(cycles) == 1 and cycles[0]["trigger_event_id"] in wanted, cycles
            assert cycles[0]["project_id"] == "p1"


def test_lifeboat_up_protects_a_vm_with_verified_cps_and_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    """The README's demo: no servers, two cloudsim sites, a 3-volume VM with a workload gets
    application-consistent CPs at site-b that cloudsim's checker verifies."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFEBOAT_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lifeboat_cli.main",
            "up",
            "--port-base",
            "0",
            "--json",
            "--rpo",
            "2",
            "--data-dir",
            str(tmp_path / "lb"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    cps = []
    deadline = time.monotonic() + 90
    while len(cps) < 2 and time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        cps.append(json.loads(line))
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert len(cps) == 2, err[-2000:]
    for cp in cps:
        assert cp["event"] == "consistency-point"
        assert cp["consistency"] == "application" and len(cp["members"]) == 3
        check = cp["check"]
        assert check["crash_consistent"] and check["application_consistent"], check
        assert not check["violations"] and check["records_found"] > 0
    assert cps[1]["taken_at"] > cps[0]["taken_at"]
    assert cps[1]["check"]["records_found"] > cps[0]["check"]["records_found"]
    assert "stopped cleanly" in err
    assert (tmp_path / "lb" / "bus.db").exists() and (tmp_path / "lb" / "policy.db").exists()

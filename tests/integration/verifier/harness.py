"""A verifier process beside the orchestrator harness's (real Kafka, PostgreSQL, cloudsim)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from lifeboat_shared.cloud import CloudProject
from lifeboat_shared.service.tokens_file import token_digest
from tests.integration.orchestrator.harness import (
    AUTH,
    TOKEN,
    App,
    Orchestrated,
    make_app,
    orchestrator_env,
    replica_cp,
    wait_up,
)
from tests.integration.replication.harness import free_port
from tests.support.services import ROOT

A, B = "site-a", "site-b"
TOKEN_A, TOKEN_B = "verifier-tenant-a", "verifier-tenant-b"
AS_A = {"Authorization": f"Bearer {TOKEN_A}"}
AS_B = {"Authorization": f"Bearer {TOKEN_B}"}
GOOD = {"cloudsim:guest_services": "true", "cloudsim:console": "app-ready"}


def tokens_file(path: Path) -> Path:
    entries = [
        {"sha256": token_digest(TOKEN), "user": "operator", "roles": ["admin"]},
        {"sha256": token_digest(TOKEN_A), "user": "alice", "project_id": "demo",
         "roles": ["member"]},
        {"sha256": token_digest(TOKEN_B), "user": "bob", "project_id": "tenant-b",
         "roles": ["member"]},
    ]  # fmt: skip
    path.write_text(json.dumps({"tokens": entries}))
    return path


@dataclass
class Verifier:
    env: dict[str, str]
    log: Path
    base: str
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "lifeboat_verifier.entrypoints.cli", "serve"],
            cwd=ROOT,
            env=self.env,
            stdout=open(self.log, "ab"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    async def up(self) -> None:
        await wait_up(self.base, self.proc, timeout=180)

    async def call(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        async with httpx.AsyncClient(timeout=30) as c:
            return await c.request(method, f"{self.base}{path}", json=body, headers=headers or AUTH)

    async def run_done(self, test_id: str, timeout: float = 150) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            r = await self.call("GET", f"/v1/test-runs/{test_id}")
            if r.status_code == 200 and r.json()["phase"] == "done":
                return dict(r.json())
            assert time.monotonic() < deadline, f"run {test_id} not done: {r.text[:2000]}"
            await asyncio.sleep(0.3)

    async def runs_of(self, definition_id: str) -> list[dict[str, Any]]:
        r = await self.call("GET", f"/v1/test-runs?definition_id={definition_id}")
        assert r.status_code == 200, r.text
        return list(r.json())


@contextlib.asynccontextmanager
async def verifier(
    o: Orchestrated, tmp: Path, database: str, **extra: str
) -> AsyncIterator[Verifier]:
    port = free_port()
    probes = {
        name: {"admin_url": h.admin_url, "admin_token": h.admin_token}
        for name, h in o.sites.sites.items()
    }
    env = orchestrator_env(tmp, database, o.kafka, o.sites.clouds_yaml, free_port())
    env.update(
        LIFEBOAT_VERIFIER_HTTP_PORT=str(port),
        LIFEBOAT_VERIFIER_CLOUDS_YAML=str(o.sites.clouds_yaml),
        LIFEBOAT_VERIFIER_GUEST_PROBES=json.dumps(probes),
        LIFEBOAT_VERIFIER_RUNNER_INTERVAL_SECONDS="0.2",
        LIFEBOAT_VERIFIER_RUNNER_ID="verifier-under-test",
        LIFEBOAT_VERIFIER_LEASE_SECONDS="5",
        LIFEBOAT_VERIFIER_CLEANUP_WAIT_SECONDS="60",
        LIFEBOAT_TOKENS_FILE=str(tokens_file(tmp / "tokens.json")),
        **extra,
    )
    v = Verifier(env, tmp / "verifier.log", f"http://127.0.0.1:{port}")
    v.start()
    try:
        await v.up()
        yield v
    finally:
        v.kill()


async def protected_app(
    o: Orchestrated, tiers: dict[str, int], metadata: dict[str, dict[str, str]], name: str
) -> tuple[App, dict[str, Any]]:
    """An app at site-a (per tier: server metadata, e.g. guest services and console marker),
    a replica CP at site-b, and a plan ready to test."""
    from tests.integration.orchestrator.harness import plan_body

    prod = await o.project(A)
    app = await make_app(prod, tiers, prefix=name)
    for tier, servers in app.tiers.items():
        for sid in servers:
            if metadata.get(tier):
                await prod.compute.set_server_metadata(sid, metadata[tier])
    await o.publish([await replica_cp(await o.project(B), app, A, B)])
    plan = await o.plan(plan_body(app, A, [B], name))
    return app, plan


async def bubble_volumes(dr: CloudProject, test_id: str) -> list[str]:
    from lifeboat_shared.cloud.tags import META_OP

    return [
        v.id for v in await dr.block_storage.list_volumes() if v.metadata.get(META_OP) == test_id
    ]

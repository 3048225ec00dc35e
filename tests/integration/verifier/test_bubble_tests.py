"""Bubble tests end to end (UC1e): the verifier asks the orchestrator for a test failover, checks
the bubble, tears it down and confirms nothing is left; real Kafka, PostgreSQL and cloudsim."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from lifeboat_shared.contracts import topics
from lifeboat_verifier.adapters.signing import load_public_key, verify_document
from tests.integration.orchestrator.harness import inventory, orchestrated
from tests.integration.replication.harness import fresh_database
from tests.integration.verifier.harness import (
    AS_A,
    AS_B,
    GOOD,
    TOKEN_A,
    B,
    bubble_volumes,
    protected_app,
    verifier,
)
from tests.support.restartable import topic_events

pytestmark = pytest.mark.timeout(300)

ALL_CHECKS: list[dict[str, Any]] = [
    {"name": "boots", "kind": "boot", "marker": "app-ready", "timeout_seconds": 10, "retries": 1},
    {"name": "port", "kind": "tcp", "port": 8080, "timeout_seconds": 5, "retries": 1},
    {"name": "health", "kind": "http", "path": "/health", "status": 200, "body_regex": "ok"},
    {"name": "app-data", "kind": "command", "command": "check-consistency"},
    {"name": "replica-bytes", "kind": "data", "timeout_seconds": 60, "retries": 0},
]


async def test_weekly_schedule_passes_on_a_good_copy_and_tenants_see_their_own(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    async with orchestrated(tmp_path, postgres_url, kafka_bootstrap, ["site-a", B]) as o:
        _, plan = await protected_app(o, {"db": 1, "web": 1}, {"db": GOOD, "web": GOOD}, "good")
        before = await inventory(o.sites, B)
        database = await fresh_database(postgres_url)
        # a week of schedule time per 3 wall seconds: the weekly test fires within 3 s
        async with verifier(o, tmp_path, database, LIFEBOAT_VERIFIER_TIME_SCALE="201600") as v:
            bad = await v.call(
                "POST", "/v1/test-definitions",
                {"name": "x", "plan_id": plan["id"], "schedule": "every week"}, AS_A,
            )  # fmt: skip
            assert bad.status_code == 422 and "schedule" in bad.text
            bad = await v.call(
                "POST", "/v1/test-definitions",
                {"name": "x", "plan_id": plan["id"], "checks": [{"name": "p", "kind": "tcp"}]},
                AS_A,
            )  # fmt: skip
            assert bad.status_code == 422 and "port" in bad.text
            r = await v.call(
                "POST", "/v1/test-definitions",
                {"name": "weekly", "plan_id": plan["id"], "schedule": "0 3 * * 0",
                 "checks": ALL_CHECKS},
                AS_A,
            )  # fmt: skip
            assert r.status_code == 201, r.text
            d = r.json()
            assert d["project_id"] == "demo" and d["next_due_at"]
            # the tenant sees only its own definitions and runs
            assert (await v.call("GET", "/v1/test-definitions", headers=AS_B)).json() == []
            other = await v.call("GET", f"/v1/test-definitions/{d['definition_id']}", None, AS_B)
            assert other.status_code == 404
            deadline = time.monotonic() + 60
            while not (runs := await v.runs_of(d["definition_id"])):
                assert time.monotonic() < deadline, "the weekly schedule did not fire"
                await asyncio.sleep(0.3)
            # stop further fires: one run is enough here
            r = await v.call(
                "PATCH", f"/v1/test-definitions/{d['definition_id']}", {"enabled": False}, AS_A
            )
            assert r.status_code == 200 and r.json()["next_due_at"] is None
            run = await v.run_done(runs[0]["test_id"])
            assert run["status"] == "passed", json.dumps(run["checks"], indent=1)
            assert {c["name"] for c in run["checks"]} == {c["name"] for c in ALL_CHECKS}
            assert run["cleanup"] == "clean" and run["rto_seconds"] > 0
            assert run["rpo_seconds"] is not None
            ev = run["evidence"]
            assert ev["passed"] and ev["cleanup_ok"] and ev["started_by"] == "schedule:alice"
            assert set(ev["resources_created"]) == set(run["server_ids"])
            listed = (await v.call("GET", "/v1/test-runs", headers=AS_B)).json()
            assert listed == []
            assert await inventory(o.sites, B) == before, "the bubble left something behind"
            events = await topic_events(o.kafka, {topics.VERIFIER_EVENTS, topics.USAGE_EVENTS})
            kinds = [t for t, data in events.values() if run["test_id"].encode() in data]
            assert sum("BubbleTestCompleted" in k for k in kinds) == 1, kinds
            assert sum("UsageRecorded" in k for k in kinds) == 2, kinds
            # The run's evidence, signed with the deployment's key, verifies against its key.
            doc = (await v.call("GET", f"/v1/test-reports/{run['test_id']}")).json()
            assert doc["report"]["evidence"]["run_id"] == run["test_id"]
            assert doc["report"]["evidence"]["passed"] is True
            key = (await v.call("GET", "/v1/signing-key")).json()
            verify_document(doc, load_public_key(key["public_key_pem"]))
            # Another project naming this plan gets no bubble: the orchestrator refuses a
            # StartExecution whose project is not the plan's, and the run says why at once.
            r = await v.call(
                "POST", "/v1/test-definitions",
                {"name": "steal", "plan_id": plan["id"], "checks": []}, AS_B,
            )  # fmt: skip
            assert r.status_code == 201, r.text
            r = await v.call(
                "POST", f"/v1/test-definitions/{r.json()['definition_id']}/runs", None, AS_B
            )
            assert r.status_code == 202, r.text
            stolen = await v.run_done(r.json()["test_id"], timeout=60)
            assert stolen["status"] == "failed" and not stolen["server_ids"], stolen
            assert "rejected: plan" in (stolen["evidence"] or {}).get("failure", "") or (
                "rejected: plan" in json.dumps(stolen)
            ), stolen
            executions = await o.get(f"/v1/executions?plan_id={plan['id']}")
            assert [e["kind"] for e in executions].count("test-failover") == 1, executions


async def test_broken_copy_fails_naming_each_check_and_reason(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    async with orchestrated(tmp_path, postgres_url, kafka_bootstrap, ["site-a", B]) as o:
        # web: no guest services (its service stopped) and no console marker
        _, plan = await protected_app(o, {"db": 1, "web": 1}, {"db": GOOD}, "broken")
        before = await inventory(o.sites, B)
        database = await fresh_database(postgres_url)
        async with verifier(o, tmp_path, database) as v:
            checks = [
                {"name": "boots", "kind": "boot", "marker": "app-ready", "timeout_seconds": 5,
                 "retries": 1, "retry_delay_seconds": 0.5},
                {"name": "web-port", "kind": "tcp", "tier": "web", "port": 80, "retries": 1,
                 "retry_delay_seconds": 0.5},
                {"name": "db-bytes", "kind": "data", "tier": "db", "retries": 0},
            ]  # fmt: skip
            r = await v.call(
                "POST", "/v1/test-definitions",
                {"name": "on-demand", "plan_id": plan["id"], "checks": checks},
            )  # fmt: skip
            assert r.status_code == 403 or r.status_code == 422, r.text  # admin: name the project
            r = await v.call(
                "POST", "/v1/test-definitions",
                {"name": "on-demand", "plan_id": plan["id"], "checks": checks,
                 "project_id": "demo"},
            )  # fmt: skip
            assert r.status_code == 201, r.text
            d = r.json()
            assert d["next_due_at"] is None
            run = (await v.call("POST", f"/v1/test-definitions/{d['definition_id']}/runs")).json()
            # a replica block goes bad in the restored copy as soon as it exists
            dr = await o.project(B)
            corrupted: set[str] = set()
            deadline = time.monotonic() + 60
            while not corrupted:
                assert time.monotonic() < deadline, "no restored volume appeared"
                for vol in await bubble_volumes(dr, run["test_id"]):
                    with o.sites.sites[B].admin() as admin:
                        path = admin.get(f"/volumes/{vol}").json()["path"]
                    with open(path, "r+b") as f:
                        f.seek(4096)
                        f.write(b"bit rot" * 100)
                    corrupted.add(vol)
                await asyncio.sleep(0.05)
            done = await v.run_done(run["test_id"])
            assert done["status"] == "failed"
            failed = {c["name"]: c for c in done["checks"] if not c["passed"]}
            assert "app-ready" in failed["boots"]["reason"] and "web" in failed["boots"]["target"]
            assert "services are not running" in failed["web-port"]["reason"]
            assert "differs from the CP's replica snapshot" in failed["db-bytes"]["reason"]
            passed = [c for c in done["checks"] if c["passed"]]
            assert [c["name"] for c in passed] == ["boots"], passed  # the db server's boot
            assert done["cleanup"] == "clean" and done["rto_seconds"] is None
            assert await inventory(o.sites, B) == before
            events = await topic_events(o.kafka, {topics.VERIFIER_EVENTS})
            alerts = [
                json.loads(data)
                for t, data in events.values()
                if "BubbleTestAlertRaised" in t and run["test_id"].encode() in data
            ]
            assert [a.get("reason") for a in alerts] == ["run-failed"], alerts
            # the CLI shows the failed run and exits 1
            env = {**os.environ, "LIFEBOAT_VERIFIER_URL": v.base, "LIFEBOAT_TOKEN": TOKEN_A}
            show = await asyncio.to_thread(
                subprocess.run,
                [sys.executable, "-m", "lifeboat_cli.main", "test", "show", run["test_id"]],
                env=env, capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert show.returncode == 1, show.stderr
            assert "db-bytes" in show.stdout and "web-port" in show.stdout, show.stdout


async def test_verifier_killed_mid_run_leaves_no_bubble_and_one_run(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    async with orchestrated(tmp_path, postgres_url, kafka_bootstrap, ["site-a", B]) as o:
        _, plan = await protected_app(o, {"db": 1}, {"db": GOOD}, "killed")
        before = await inventory(o.sites, B)
        database = await fresh_database(postgres_url)
        async with verifier(o, tmp_path, database) as v:
            # retried for about 8 s: the kill lands while it runs
            slow = {"name": "slow-http", "kind": "http", "path": "/nowhere", "status": 200,
                    "timeout_seconds": 3, "retries": 4, "retry_delay_seconds": 2}  # fmt: skip
            r = await v.call(
                "POST", "/v1/test-definitions",
                {"name": "kill", "plan_id": plan["id"], "project_id": "demo",
                 "checks": [ALL_CHECKS[0], slow]},
            )  # fmt: skip
            d = r.json()
            run = (await v.call("POST", f"/v1/test-definitions/{d['definition_id']}/runs")).json()
            deadline = time.monotonic() + 90
            while (await v.call("GET", f"/v1/test-runs/{run['test_id']}")).json()[
                "phase"
            ] != "ready":
                assert time.monotonic() < deadline, "no bubble"
                await asyncio.sleep(0.1)
            await asyncio.sleep(1)  # checks under way
            mid = (await v.call("GET", f"/v1/test-runs/{run['test_id']}")).json()
            v.kill()  # SIGKILL
            assert mid["phase"] == "ready" and not mid["checks"], "the kill came too late"
            v.start()
            await v.up()
            done = await v.run_done(run["test_id"])
            assert done["status"] == "failed"  # /nowhere answers 404: named
            assert any("answered 404" in (c["reason"] or "") for c in done["checks"])
            assert done["cleanup"] == "clean"
            assert len(await v.runs_of(d["definition_id"])) == 1
            assert await inventory(o.sites, B) == before, "an orphaned bubble"
            executions = await o.get(f"/v1/executions?plan_id={plan['id']}")
            assert [e["kind"] for e in executions].count("test-failover") == 1
            events = await topic_events(o.kafka, {topics.VERIFIER_EVENTS})
            completed = [
                t for t, data in events.values()
                if "BubbleTestCompleted" in t and run["test_id"].encode() in data
            ]  # fmt: skip
            assert len(completed) == 1
            reports = (await v.call("GET", f"/v1/test-reports?plan_id={plan['id']}")).json()
            assert [r["run_id"] for r in reports] == [run["test_id"]], reports

"""The data-loss window of an unplanned failover ends when the source site stopped, not when the
failover started (issue 12, item 8): real Kafka, PostgreSQL, cloudsim sites over HTTP and the
orchestrator's own probes. The site goes down a few seconds after the CP, the probes see it and
declare it down, and the operator waits before failing over: the wait is decision time, not
lost data."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.orchestrator.harness import make_app, orchestrated, plan_body, replica_cp

pytestmark = pytest.mark.timeout(300)
A, B = "site-a", "site-b"
INTERVAL = 0.5
PROBES = {
    "LIFEBOAT_ORCHESTRATOR_PROBE_ENABLED": "true",
    "LIFEBOAT_ORCHESTRATOR_PROBE_INTERVAL_SECONDS": str(INTERVAL),
    "LIFEBOAT_ORCHESTRATOR_PROBE_TIMEOUT_SECONDS": "1",
    "LIFEBOAT_ORCHESTRATOR_DOWN_AFTER_FAILURES": "2",
    "LIFEBOAT_ORCHESTRATOR_DOWN_WINDOW_SECONDS": "10",
}


async def _health(get: Any, site: str, until: Any, what: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        try:
            health = dict(await get(f"/v1/sites/{site}/health"))
        except AssertionError:  # no observation of the site yet
            health = {}
        if health and until(health):
            return health
        assert time.monotonic() < deadline, f"{site}: never {what}: {health}"
        await asyncio.sleep(0.2)


async def test_failover_rpo_ends_when_the_site_stopped_not_when_the_failover_started(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    async with orchestrated(tmp_path, postgres_url, kafka_bootstrap, [A, B], **PROBES) as o:
        app = await make_app(await o.project(A), {"db": 1, "web": 1})
        cp = await replica_cp(await o.project(B), app, A, B)
        await o.publish([cp])
        plan = await o.plan(plan_body(app, A, [B], "rpo"))
        # The site lives on ~2 s after the CP, seen healthy by the probes
        await _health(
            o.get,
            A,
            lambda h: any(
                p["healthy"] and datetime.fromisoformat(p["observed_at"]) > cp.taken_at
                for p in h["recent_probes"]
            ),
            "probed healthy after the CP",
        )
        await asyncio.sleep(max(0.0, 2.0 - (datetime.now(UTC) - cp.taken_at).total_seconds()))
        with o.sites.sites[A].admin() as admin:
            admin.post("/down", json={"mode": "503"}).raise_for_status()
        down_at = datetime.now(UTC)
        await _health(o.get, A, lambda h: h["declared"] == "down", "declared down")
        await asyncio.sleep(4.0)  # the operator takes a while to decide
        started = datetime.now(UTC)
        e = await o.run(plan["id"], "failover")
    assert e["state"] == "succeeded", e["error"]
    lost = (down_at - cp.taken_at).total_seconds()
    old_figure = (started - cp.taken_at).total_seconds()
    print(
        f"lost {lost:.2f} s; rpo {e['rpo_seconds']:.2f} s ({e['rpo_basis']}); "
        f"decision {e['decision_seconds']:.2f} s; the old figure ~{old_figure:.2f} s"
    )
    assert e["rpo_basis"] == "last-healthy-probe"
    # The last healthy probe is at most one interval (plus one probe's time) before the cut.
    assert lost - (INTERVAL + 1.5) <= e["rpo_seconds"] <= lost + 0.1
    assert e["decision_seconds"] >= 4.0
    stopped = datetime.fromisoformat(e["source_stopped_at"])
    assert stopped <= down_at + timedelta(seconds=0.1)
    assert e["rpo_seconds"] + e["decision_seconds"] == pytest.approx(
        (datetime.fromisoformat(e["created_at"]) - cp.taken_at).total_seconds(), abs=0.01
    )

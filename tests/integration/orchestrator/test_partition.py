"""UC6 (issue 12, item 2): a partition is seen, not guessed. Real Kafka, PostgreSQL, cloudsim
sites over HTTP probed by the orchestrator itself (both up), and link observations published on
lifeboat.sites.events.v1 as the sites' replicators publish them. The link from site-a to
site-b is cut after 3 consecutive failed transfers; with both sites up that is a partition:
the plan replicating over it shows it and offers degraded mode (or says only the primary runs),
readiness fails on it, a site declared down ends it, and a successful transfer ends it."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from lifeboat_cli.main import app as cli
from lifeboat_shared.contracts.messages import SiteLinkObserved
from tests.integration.orchestrator.harness import (
    TOKEN,
    make_app,
    orchestrated,
    plan_body,
    replica_cp,
)

pytestmark = pytest.mark.timeout(240)
A, B = "site-a", "site-b"
ENV = {
    "LIFEBOAT_ORCHESTRATOR_PROBE_ENABLED": "true",
    "LIFEBOAT_ORCHESTRATOR_PROBE_INTERVAL_SECONDS": "0.5",
    "LIFEBOAT_ORCHESTRATOR_PROBE_TIMEOUT_SECONDS": "1",
    "LIFEBOAT_ORCHESTRATOR_LINK_CUT_AFTER_FAILURES": "3",
    "LIFEBOAT_ORCHESTRATOR_LINK_CUT_WINDOW_SECONDS": "60",
    "LIFEBOAT_ORCHESTRATOR_PARTITION_PROBE_MAX_AGE_SECONDS": "10",
}


def seen(source: str, target: str, reachable: bool, detail: str = "") -> SiteLinkObserved:
    return SiteLinkObserved(
        source_site=source,
        target_site=target,
        reachable=reachable,
        observer=f"replicator:{source}-host",
        detail=detail or ("2 volume(s) sent" if reachable else "connection refused"),
        at=datetime.now(UTC),
    )


async def until(what: str, check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = await check()
        if got:
            return got
        assert time.monotonic() < deadline, f"never {what}"
        await asyncio.sleep(0.2)


async def test_a_cut_link_between_two_up_sites_is_a_partition_with_degraded_mode_offered(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    async with orchestrated(tmp_path, postgres_url, kafka_bootstrap, [A, B], **ENV) as o:
        both = await make_app(await o.project(A), {"db": 1})
        solo = await make_app(await o.project(A), {"db": 1})
        await o.publish([await replica_cp(await o.project(B), app, A, B) for app in (both, solo)])
        degraded_plan = await o.plan(
            plan_body(both, A, [B], "uc6-both", split_brain={"on_partition": "both-online"})
        )
        primary_plan = await o.plan(plan_body(solo, A, [B], "uc6-solo"))

        async def links() -> dict[str, Any]:
            return dict(await o.get("/v1/site-links"))

        def link(view: dict[str, Any], name: str) -> dict[str, Any] | None:
            return next(
                (x for x in view["links"] if f"{x['source_site']}->{x['target_site']}" == name),
                None,
            )

        async def both_probed() -> bool:
            view = await links()
            ok = {s["site_id"] for s in view["sites"] if s["last_healthy_at"]}
            return {A, B} <= ok

        await until("both sites probed healthy", both_probed)

        # Two failures: not yet cut (one refused transfer never decides anything).
        await o.publish([seen(A, B, False), seen(A, B, False), seen(B, A, True)])

        async def failures(n: int) -> dict[str, Any] | None:
            view = await links()
            ab = link(view, f"{A}->{B}")
            done = ab and ab["consecutive_failures"] == n and link(view, f"{B}->{A}")
            return view if done else None

        view = await until("two failures counted", lambda: failures(2))
        assert link(view, f"{A}->{B}")["state"] == "reachable"  # type: ignore[index]
        assert view["partitions"] == []
        assert (await o.get(f"/v1/plans/{degraded_plan['id']}"))["partition"] is None

        # The third: cut, both sites up -> a partition.
        await o.publish([seen(A, B, False)])
        view = await until("a partition", lambda: _partitioned(links))
        ab = link(view, f"{A}->{B}")
        ba = link(view, f"{B}->{A}")
        assert ab is not None and ba is not None
        assert ab["state"] == "cut" and ab["partition"] and ab["observer"] == f"replicator:{A}-host"
        assert ab["detail"] == "connection refused" and ab["since"]
        assert ba["state"] == "reachable" and not ba["partition"]  # B's own view of its link
        assert {s["site_id"]: s["declared"] for s in view["sites"]} == {A: "up", B: "up"}
        assert view["partitions"] == [f"{A}->{B}"]

        shown = await o.get(f"/v1/plans/{degraded_plan['id']}")
        partition = shown["partition"]
        assert partition["link"] == f"{A}->{B}"
        assert datetime.fromisoformat(partition["since"]) == datetime.fromisoformat(ab["since"])
        assert partition["offer"] == "failover with degraded: true"
        solo_shown = (await o.get(f"/v1/plans/{primary_plan['id']}"))["partition"]
        assert solo_shown["offer"] is None and "only the primary runs" in solo_shown["note"]

        ready = (await o.post(f"/v1/plans/{degraded_plan['id']}/readiness"))["readiness"]
        assert not ready["ready"] and ready["partition"]["offer"] == partition["offer"]
        check = next(c for c in ready["checks"] if c["check"] == f"site link {A}->{B}")
        assert not check["ok"] and "failover with degraded: true" in check["detail"]

        async with httpx.AsyncClient() as c:
            metrics = (await c.get(f"{o.base}/metrics")).text
        assert f'lifeboat_site_link_up{{source="{A}",target="{B}"}} 0.0' in metrics

        # The operator's view: `lifeboat link status`, `lifeboat plan show`.
        env = {"LIFEBOAT_ORCHESTRATOR_URL": o.base, "LIFEBOAT_TOKEN": TOKEN, "COLUMNS": "250"}
        status = await asyncio.to_thread(CliRunner().invoke, cli, ["link", "status"], env=env)
        assert status.exit_code == 0, status.output
        assert f"partition: {A}->{B}" in status.output and "YES" in status.output
        shown_cli = await asyncio.to_thread(
            CliRunner().invoke, cli, ["plan", "show", "uc6-both"], env=env
        )
        assert shown_cli.exit_code == 0, shown_cli.output
        assert "offer: failover with degraded: true" in shown_cli.output

        # A site declared down: the cut link is its outage, not a partition; up again: back.
        await o.post(f"/v1/sites/{B}/declare-down", {"reason": "operator"})
        view = await until("no partition with site-b down", lambda: _not_partitioned(links))
        assert f"{B} is down" in link(view, f"{A}->{B}")["assessment"]  # type: ignore[index]
        await o.post(f"/v1/sites/{B}/declare-up")
        await until("the partition again", lambda: _partitioned(links))

        # A transfer gets through: the link is back, the partition over, nothing offered.
        await o.publish([seen(A, B, True)])
        view = await until("the link back", lambda: _not_partitioned(links))
        assert link(view, f"{A}->{B}")["state"] == "reachable"  # type: ignore[index]
        assert (await o.get(f"/v1/plans/{degraded_plan['id']}"))["partition"] is None
        async with httpx.AsyncClient() as c:
            metrics = (await c.get(f"{o.base}/metrics")).text
        assert f'lifeboat_site_link_up{{source="{A}",target="{B}"}} 1.0' in metrics
    logged = (tmp_path / "orchestrator.log").read_text()
    assert logged.count(f"partition detected on link {A}->{B}") == 1, "one log line per detection"


async def _partitioned(links: Any) -> dict[str, Any] | None:
    view: dict[str, Any] = await links()
    return view if view["partitions"] else None


async def _not_partitioned(links: Any) -> dict[str, Any] | None:
    view: dict[str, Any] = await links()
    return view if not view["partitions"] else None

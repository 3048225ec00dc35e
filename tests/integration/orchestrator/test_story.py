"""The README's story end to end on the embedded default (SQLite + embedded event log + cloudsim):
protect a 3-tier app, bubble test and teardown, site cut, failover, reprotect, failback."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from lifeboat_cli.demo import SOURCE, TARGET, demo_world
from lifeboat_cli.stack import Stack
from lifeboat_cli.story import INVOICE_METRICS, run_story, story_overrides

pytestmark = pytest.mark.timeout(600)


async def test_whole_story(tmp_path: Path) -> None:
    lines: list[tuple[str, dict[str, Any]]] = []

    def say(what: str, data: dict[str, Any]) -> None:
        lines.append((what, data))
        print(what, data)

    with demo_world(tmp_path) as world:
        overrides = story_overrides(world)
        overrides["orchestrator"]["step_backoff_seconds"] = 0.2
        stack = Stack(
            tmp_path,
            port_base=0,
            overrides=overrides,
        )
        await stack.start()
        try:
            urls = {s.name: s.url for s in stack.services}
            async with httpx.AsyncClient(
                headers={"Authorization": f"Bearer {stack.token}"}, timeout=60
            ) as client:
                result = await run_story(client, urls, world, say)
                ledger, report = await _settled_invoice(client, urls["billing"], result)
        finally:
            await stack.stop()
    events = result.events
    assert events["failover"]["target_site"] == TARGET
    assert events["failback"]["target_site"] == SOURCE
    assert 0 <= events["failover"]["rpo_seconds"] < 60
    signed = next(d for w, d in lines if w == "report")  # verified in the story itself
    assert signed["report_id"].startswith("rpt-") and signed["checks"] >= 2
    teardown = next(d for w, d in lines if w == "teardown")
    assert teardown["deleted"] > 0 and teardown["cleanup"] == "clean"
    bubble = events["bubble-test"]
    assert bubble["status"] == "passed" and bubble["rto_seconds"] > 0
    checks = [d for w, d in lines if w == "check"]
    assert {c["name"] for c in checks} == {"boots", "db-data"} and all(c["passed"] for c in checks)
    # The lifecycle closes: reprotect made a reverse group with its own schedule; after
    # failback the plan is protected again and the forward group's own RPO schedule (nobody
    # asked) brought a new CP of the servers failback made, within one RPO (5 s) plus a cycle.
    assert next(d for w, d in lines if w == "reverse-group")["from"] == TARGET
    home = next(d for w, d in lines if w == "home")
    assert home == {"site": SOURCE, "status": "protected"}
    again = next(d for w, d in lines if w == "protected-again")
    assert not again["suspended"]
    finished = datetime.fromisoformat(events["failback"]["finished_at"])
    assert datetime.fromisoformat(again["taken_at"]) > finished
    assert (datetime.fromisoformat(again["taken_at"]) - finished).total_seconds() < 5 + 30
    # Its first cycle started from the DR copy failback stopped: every volume seeded, and only
    # what differs travels (the DR copy is what the new volumes were restored from).
    assert again["seeded"] == again["volumes"] == 4
    assert again["sent"] < 0.05 * again["size"], again
    # The story's invoice, recomputed here from the raw ledger and the rate card: every line's
    # quantity is the sum of its usage entries, its amount that times the card's unit price
    # rounded half-even to cents, the total the sum of the lines.
    assert {line["metric"] for line in report["lines"]} >= INVOICE_METRICS
    assert all(line["kind"] == "usage" for line in report["lines"])
    prices = ledger["prices"]
    for line in report["lines"]:
        mine = [
            e
            for e in ledger["entries"]
            if e["metric"] == line["metric"]
            and e["group_id"] == line["group_id"]
            and (line["group_id"] is not None or e["plan_id"] == line["plan_id"])
        ]
        quantity = sum((Decimal(e["quantity"]) for e in mine), Decimal(0))
        assert len(mine) == line["usage_count"] > 0, line
        assert Decimal(line["quantity"]) == quantity, line
        price = prices[line["metric"]]
        expected = (quantity * price).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
        assert Decimal(line["amount"]) == expected, (line, price)
    assert Decimal(report["total"]) == sum(Decimal(x["amount"]) for x in report["lines"])
    assert Decimal(report["total"]) > 0


async def _settled_invoice(
    client: httpx.AsyncClient, billing: str, result: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The demo project's ledger and its invoice report read while no usage arrived in between
    (the services keep metering: read ledger, report, ledger until both ledgers agree)."""
    invoice = result.events["invoice"]
    params = {"start": invoice["start"], "end": invoice["end"]}
    card = (await client.get(f"{billing}/v1/rate-cards")).json()
    newest = max(card, key=lambda c: c["version"]) if isinstance(card, list) else card
    prices = {}
    for metric, rate in newest["prices"].items():
        tiers = rate.get("tiers") or []
        prices[metric] = Decimal(tiers[0]["unit_price"] if tiers else rate["unit_price"])
    for _ in range(20):
        before = (await client.get(f"{billing}/v1/usage", params={"project_id": "demo"})).json()
        report = (await client.get(f"{billing}/v1/invoice-reports/demo", params=params)).json()
        after = (await client.get(f"{billing}/v1/usage", params={"project_id": "demo"})).json()
        ids = {e["usage_id"] for e in before["entries"]}
        if ids == {e["usage_id"] for e in after["entries"]}:
            start, end = (datetime.fromisoformat(params[k]) for k in ("start", "end"))
            entries = [
                e
                for e in before["entries"]
                if start <= datetime.fromisoformat(e["period_start"]) < end
            ]
            return {"entries": entries, "prices": prices}, report
    raise AssertionError("usage kept arriving between reads of the ledger")

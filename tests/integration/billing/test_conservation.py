"""Conservation (issue #16), on real Kafka + PostgreSQL: a time-scaled month of usage of two
projects (every metric, three protection groups and plan-level usage, a rate card change in
mid-month, graduated tiers, a per-project discount and override price) goes through the real
usage topic to a running billing service. Checked:

- every invoice line and total equals an independent recomputation from the raw events and the
  cards (tests/integration/billing/recompute.py, written from the README's rules);
- replaying every event (new event ids, same usage ids) changes nothing;
- after the month is closed (``InvoiceIssued`` on the topic), late usage of it appears once, as
  adjustment lines of the next month, however often it is delivered; the closed invoice is frozen;
- a line's usage trace sums to the line; CSV export; /metrics parses and carries project_id.
"""

from __future__ import annotations

import asyncio
import csv
import dataclasses
import io
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from prometheus_client.parser import text_string_to_metric_families

from lifeboat_billing.bootstrap import build
from lifeboat_billing.settings import BillingSettings
from lifeboat_shared.contracts import topics
from lifeboat_shared.contracts.messages import UsageRecorded
from lifeboat_shared.contracts.messages.billing import METRIC_UNITS
from lifeboat_shared.service.app import create_app
from tests.integration.billing import recompute
from tests.integration.orchestrator.harness import publish_kafka
from tests.support.restartable import topic_events

TOKEN = "billing-test-" + uuid.uuid4().hex
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
MONTH = datetime(2025, 3, 1, tzinfo=UTC)  # a closed-able month in the past
APRIL = datetime(2025, 4, 1, tzinfo=UTC)
WINDOW = timedelta(hours=24)  # the month, time-scaled: one usage window a day
GROUPS = ("g-web", "g-db", "g-batch")


def card_body(prices: dict[str, Any], overrides: dict[str, Any], start: datetime) -> dict[str, Any]:
    return {
        "name": f"card-{start:%Y%m%d}",
        "currency": "EUR",
        "effective_from": start.isoformat(),
        "prices": prices,
        "overrides": overrides,
    }


def prices(scale: Decimal) -> dict[str, Any]:
    base = {
        "protected_vm_hours": "0.01",
        "protected_gb_hours": "0.00005",
        "dr_vm_hours": "0.05",
        "dr_vcpu_hours": "0.013",
        "bubble_vm_hours": "0.03",
    }
    out: dict[str, Any] = {
        m: {"unit_price": str(Decimal(base.get(m, "0.013")) * scale)} for m in METRIC_UNITS
    }
    out["replicated_bytes"] = {
        "tiers": [
            {"up_to": "60000000000", "unit_price": str(Decimal("0.00000000002") * scale)},
            {"up_to": None, "unit_price": str(Decimal("0.00000000001") * scale)},
        ]
    }
    out["stored_gb_hours"] = {
        "tiers": [
            {"up_to": "20000", "unit_price": str(Decimal("0.00014") * scale)},
            {"up_to": "50000", "unit_price": str(Decimal("0.0001") * scale)},
            {"up_to": None, "unit_price": str(Decimal("0.00007") * scale)},
        ]
    }
    out["test_runs"] = {"unit_price": str(Decimal("0.5") * scale)}
    return out


def month_of_usage(projects: tuple[str, str], run: str) -> list[UsageRecorded]:
    events: list[UsageRecorded] = []
    n = 0
    for p_index, project in enumerate(projects):
        at = MONTH
        while at < APRIL:
            for g_index, group in enumerate(GROUPS):
                k = (n % 7) + 1
                qty = {
                    "replicated_bytes": Decimal(1_234_567_891 * k + g_index),
                    "stored_gb_hours": Decimal("333.333333") * k,
                    "protected_vm_hours": Decimal(12 * (g_index + 1)),
                    "protected_gb_hours": Decimal("1200.5") * (g_index + 1),
                }
                for metric, quantity in qty.items():
                    n += 1
                    events.append(
                        UsageRecorded(
                            usage_id=f"{run}-{n}",
                            project_id=project,
                            group_id=group,
                            site_id="site-b",
                            metric=metric,  # type: ignore[arg-type]
                            quantity=quantity,
                            period_start=at,
                            period_end=at + WINDOW,
                            resource_id=f"vol-{g_index}",
                        )
                    )
            at += WINDOW
        # A bubble test, a failover and a failback (plan-level DR usage, no group).
        for day, metric, quantity in (
            (3, "test_runs", Decimal(1)),
            (3, "bubble_vm_hours", Decimal("2.75")),
            (12, "dr_vm_hours", Decimal(60 + p_index)),
            (12, "dr_vcpu_hours", Decimal(240)),
            (20, "test_runs", Decimal(1)),
            (20, "bubble_vm_hours", Decimal("3.5")),
        ):
            n += 1
            events.append(
                UsageRecorded(
                    usage_id=f"{run}-{n}",
                    project_id=project,
                    group_id=None,
                    plan_id="plan-erp",
                    site_id="site-b",
                    metric=metric,  # type: ignore[arg-type]
                    quantity=quantity,
                    period_start=MONTH + timedelta(days=day),
                    period_end=MONTH + timedelta(days=day, hours=5),
                )
            )
    return events


def raw(events: list[UsageRecorded]) -> list[recompute.Usage]:
    return [
        recompute.Usage(
            e.usage_id, e.project_id, e.group_id, e.plan_id, e.metric, e.quantity, e.period_start
        )
        for e in events
    ]


def sentinels(project: str, tag: str) -> list[UsageRecorded]:
    """One usage of another project per partition key the test uses (each group, the site): once
    they are all recorded, everything published before them in one call was handled (Kafka keeps a
    producer's order per partition), whatever else shares the topic."""
    return [
        UsageRecorded(
            usage_id=f"{project}-{tag}-{key or 'site'}",
            project_id=project,
            group_id=key,
            site_id="site-b",
            metric="test_runs",
            quantity=Decimal(1),
            period_start=MONTH,
            period_end=MONTH + WINDOW,
        )
        for key in (*GROUPS, None)
    ]


async def wait_for(what: str, check: Any, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.3)


@asynccontextmanager
async def billing(tmp: Path, postgres: str, kafka: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = BillingSettings(
        data_dir=tmp,
        api_token=TOKEN,
        json_logs=False,
        bus="kafka",
        kafka_bootstrap=kafka,
        database_url=postgres,
        auto_close_grace_hours=None,
        metrics_refresh_seconds=0.5,
    )
    spec = build(settings)
    spec = dataclasses.replace(spec, name=f"billing_{uuid.uuid4().hex[:8]}")
    app = create_app(spec, configure_logs=False)
    async with LifespanManager(app, startup_timeout=90, shutdown_timeout=60):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://b", timeout=60) as c:
            yield c


async def test_a_month_of_usage_is_conserved(
    tmp_path: Path, postgres_url: str, kafka_bootstrap: str
) -> None:
    started = time.monotonic()
    run = uuid.uuid4().hex[:8]
    projects = (f"acme-{run}", f"globex-{run}")
    mid = MONTH + timedelta(days=16)
    overrides = {
        projects[0]: {"discount_percent": "12.5"},
        projects[1]: {"prices": {"dr_vm_hours": "0.04"}},
    }
    bodies = [
        card_body(prices(Decimal(1)), overrides, MONTH),
        card_body(prices(Decimal("1.1")), overrides, mid),
    ]
    events = month_of_usage(projects, run)
    async with billing(tmp_path, postgres_url, kafka_bootstrap) as c:
        cards: list[recompute.Card] = []
        for body in bodies:
            r = await c.post("/v1/rate-cards", json=body, headers=ADMIN)
            assert r.status_code == 201, r.text
            out = r.json()
            cards.append(
                recompute.Card(
                    out["version"],
                    datetime.fromisoformat(out["effective_from"]),
                    out["prices"],
                    out["overrides"],
                )
            )
        r = await c.post("/v1/rate-cards", json={**bodies[0], "currency": "USD"}, headers=ADMIN)
        assert r.status_code == 422 and "currency" in r.text
        # The default card (version 1, 1970) is in force before ours.
        all_cards = (await c.get("/v1/rate-cards", headers=ADMIN)).json()
        default = all_cards[0]
        assert default["version"] == 1 and default["name"] == "default"
        cards.append(
            recompute.Card(
                1,
                datetime.fromisoformat(default["effective_from"]),
                default["prices"],
                default["overrides"],
            )
        )

        sentinel = f"sentinel-{run}"

        async def deliver(messages: list[UsageRecorded], tag: str) -> None:
            marks = sentinels(sentinel, tag)
            await publish_kafka(kafka_bootstrap, [*messages, *marks])

            async def marked() -> bool:
                r = await c.get("/v1/usage", params={"project_id": sentinel}, headers=ADMIN)
                seen = {e["usage_id"] for e in r.json()["entries"]}
                return {m.usage_id for m in marks} <= seen

            await wait_for(f"delivery {tag}", marked)

        await deliver(events, "month")
        got = (await c.get("/v1/usage", headers=ADMIN)).json()
        assert len([e for e in got["entries"] if e["project_id"] in projects]) == len(events)

        cost = recompute.amounts(raw(events), [], cards)
        expected: dict[str, dict[tuple[str, str], Decimal]] = {
            p: recompute.lines([u for u in raw(events) if u.project_id == p], cost)
            for p in projects
        }

        async def invoice(project: str, period: str) -> dict[str, Any]:
            r = await c.get(f"/v1/invoices/{project}/{period}", headers=ADMIN)
            assert r.status_code == 200, r.text
            return dict(r.json())

        def as_lines(inv: dict[str, Any], kind: str = "usage") -> dict[tuple[str, str], Decimal]:
            return {
                (x["metric"], x["group_id"] or f"plan {x['plan_id']}"): Decimal(x["amount"])
                for x in inv["lines"]
                if x["kind"] == kind
            }

        march: dict[str, dict[str, Any]] = {}
        for p in projects:
            inv = await invoice(p, "2025-03")
            assert inv["status"] == "draft"
            assert as_lines(inv) == expected[p]
            assert Decimal(inv["total"]) == recompute.total(expected[p]) > 0
            march[p] = inv
        assert {2, 3} <= {v for x in march[projects[0]]["lines"] for v in x["card_versions"]}

        # Replay everything: new event ids, the same usage ids.
        await deliver(events, "replay")
        for p in projects:
            assert await invoice(p, "2025-03") == march[p]

        # A line's usage adds up to the line; each usage names its event.
        line = march[projects[0]]["lines"][0]
        r = await c.get(
            f"/v1/invoices/{projects[0]}/2025-03/lines/{line['line_id']}/usage", headers=ADMIN
        )
        assert r.status_code == 200, r.text
        behind = r.json()
        assert len(behind) == line["usage_count"] and all(u["event_id"] for u in behind)
        assert sum(Decimal(u["quantity"]) for u in behind) == Decimal(line["quantity"])

        # Close March: frozen, InvoiceIssued on the topic.
        for p in projects:
            r = await c.post(f"/v1/invoices/{p}/2025-03/close", headers=ADMIN)
            assert r.status_code == 200, r.text
            assert r.json()["status"] == "closed" and r.json()["total"] == march[p]["total"]
        r = await c.post(f"/v1/invoices/{projects[0]}/2025-03/close", headers=ADMIN)
        assert r.status_code == 409 and "period" in r.text
        issued: list[dict[str, Any]] = []

        async def invoices_issued() -> bool:
            found = await topic_events(kafka_bootstrap, {topics.USAGE_EVENTS})
            issued[:] = [json.loads(d) for t, d in found.values() if "InvoiceIssued" in t]
            return {i.get("project_id") for i in issued} >= set(projects)

        await wait_for("InvoiceIssued", invoices_issued, timeout=60)
        mine = [i for i in issued if i["project_id"] in projects]
        assert len(mine) == 2
        assert {i["project_id"]: Decimal(str(i["total"])) for i in mine} == {
            p: Decimal(march[p]["total"]) for p in projects
        }

        # Late March usage (and its duplicates) after the close: April adjustments, once.
        late = [
            dataclasses.replace(e)
            if False
            else e.model_copy(update={"usage_id": f"{e.usage_id}-late"})
            for e in events
            if e.project_id == projects[0]
            and (
                e.metric == "test_runs" or (e.metric == "stored_gb_hours" and e.group_id == "g-db")
            )
        ][-6:]
        await deliver(late + late, "late")
        await deliver(late, "late-again")
        frozen = await invoice(projects[0], "2025-03")
        assert frozen["status"] == "closed"
        assert {k: v for k, v in frozen.items() if k not in ("closed_at", "status")} == {
            k: v for k, v in march[projects[0]].items() if k not in ("closed_at", "status")
        }
        april = await invoice(projects[0], "2025-04")
        assert april["status"] == "draft"
        late_cost = recompute.amounts(raw(events), raw(late), cards)
        expected_adjustments = recompute.lines(raw(late), late_cost)
        assert as_lines(april, "adjustment") == expected_adjustments
        assert {x["adjusts_period"] for x in april["lines"]} == {"2025-03"}
        assert sum(x["usage_count"] for x in april["lines"]) == len(late)
        assert Decimal(april["total"]) == recompute.total(expected_adjustments)

        # CSV export of the closed invoice: one row per line and a total row.
        r = await c.get(
            f"/v1/invoices/{projects[0]}/2025-03", params={"format": "csv"}, headers=ADMIN
        )
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert len(rows) == len(march[projects[0]]["lines"]) + 1
        assert Decimal(rows[-1]["amount"]) == Decimal(march[projects[0]]["total"])

        # The story's view: a report over any range (here: the month) equals the recomputation.
        r = await c.get(
            f"/v1/invoice-reports/{projects[1]}",
            params={"start": MONTH.isoformat(), "end": APRIL.isoformat()},
            headers=ADMIN,
        )
        assert r.status_code == 200, r.text
        assert Decimal(r.json()["total"]) == recompute.total(expected[projects[1]])

        # /metrics: the rated usage, with project_id labels, for CloudKitty's collector.
        async def exposed() -> bool:
            text = (await c.get("/metrics")).text
            families = {f.name: f for f in text_string_to_metric_families(text)}
            amount = families.get("lifeboat_billing_rated_amount")
            if amount is None:
                return False
            labels = [s.labels for s in amount.samples]
            return any(
                x.get("project_id") == projects[0] and x.get("group_id") in GROUPS for x in labels
            )

        await wait_for("rated usage on /metrics", exposed, timeout=30)
        print_sample(frozen, april)
    assert time.monotonic() - started < 600


def print_sample(march: dict[str, Any], april: dict[str, Any]) -> None:
    for inv in (march, april):
        print(f"\ninvoice {inv['project_id']} {inv['period']} ({inv['status']}) {inv['currency']}")
        for x in inv["lines"]:
            owner = x["group_id"] or f"plan {x['plan_id']}"
            adj = f" adjusts {x['adjusts_period']}" if x["adjusts_period"] else ""
            print(
                f"  {x['kind']:<10} {x['metric']:<19} {owner:<9} {x['quantity']:>22} "
                f"{x['unit']:<6} {x['amount']:>10}{adj}"
            )
        print(f"  total {inv['total']}")

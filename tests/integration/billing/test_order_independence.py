"""Property: whatever the delivery order (duplicates, reordering) and whatever rate cards are in
force (tiers, card changes within the month, project overrides), a project's invoice totals are
the same, and equal the independent recomputation. Drives the service layer's handler and
invoicing on a real SQLite database (no Kafka: this is about rating, not transport)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lifeboat_billing.adapters.repository import RateCardRepository, card_body
from lifeboat_billing.domain.rating import MetricPrice, ProjectOverride, RateCard, Tier
from lifeboat_billing.service_layer import invoicing
from lifeboat_billing.service_layer.handlers import on_usage_recorded
from lifeboat_shared.bus.handlers import HandlerContext
from lifeboat_shared.contracts.envelope import new_envelope
from lifeboat_shared.contracts.messages import UsageRecorded
from lifeboat_shared.persistence.database import Database
from lifeboat_shared.persistence.migrations import upgrade_to_head
from tests.integration.billing import recompute

MIGRATIONS = str(Path(__file__).parents[3] / "services/billing/src/lifeboat_billing/migrations")
METRICS = ["stored_gb_hours", "dr_vm_hours", "test_runs"]
MONTH = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="module")
def db(
    loop: asyncio.AbstractEventLoop, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    path = tmp_path_factory.mktemp("billing") / "billing.db"
    database = Database(f"sqlite+aiosqlite:///{path}")
    loop.run_until_complete(upgrade_to_head(database, MIGRATIONS))
    yield database
    loop.run_until_complete(database.dispose())


usage_st = st.tuples(
    st.sampled_from(METRICS),
    st.sampled_from(["g1", "g2", None]),
    st.integers(0, 28 * 24 - 1),  # hour of the month (every month has 28 days)
    st.decimals(Decimal("0"), Decimal("500"), places=3),
)
card_st = st.tuples(
    st.integers(0, 28 * 24 - 1),  # effective hour
    st.decimals(Decimal("0.001"), Decimal("2"), places=3),  # base price
    st.decimals(Decimal("1"), Decimal("800"), places=0),  # first tier bound
    st.decimals(Decimal("0"), Decimal("50"), places=1),  # discount
)


async def _deliver(db: Database, message: UsageRecorded) -> None:
    async with db.transaction() as session:
        envelope = new_envelope(message, source="/tests")
        ctx = HandlerContext(session=session, envelope=envelope, source="/tests")
        await on_usage_recorded(message, ctx)


def _card_prices(base: Decimal, bound: Decimal) -> dict[str, Any]:
    return {
        "stored_gb_hours": {
            "unit_price": str(base),
            "tiers": [
                {"up_to": str(bound), "unit_price": str(base)},
                {"up_to": None, "unit_price": str(base / 2)},
            ],
        },
        "dr_vm_hours": {"unit_price": str(base * 3)},
        "test_runs": {"unit_price": "0.5"},
    }


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    usages=st.lists(usage_st, min_size=1, max_size=25),
    cards=st.lists(card_st, min_size=1, max_size=3),
    order=st.randoms(use_true_random=False),
    duplicates=st.integers(0, 10),
)
def test_invoice_totals_do_not_depend_on_delivery_order(
    loop: asyncio.AbstractEventLoop,
    db: Database,
    usages: list[tuple[str, str | None, int, Decimal]],
    cards: list[tuple[int, Decimal, Decimal, Decimal]],
    order: Any,
    duplicates: int,
) -> None:
    run = uuid.uuid4().hex[:8]
    # The month of this example is its own (cards of earlier examples are all in other months).
    month = MONTH + timedelta(days=40 * (int(run, 16) % 1000))
    month = month.replace(day=1)
    projects = (f"p-{run}-a", f"p-{run}-b")
    test_cards: list[recompute.Card] = []

    async def scenario() -> None:
        async with db.transaction() as session:
            for hour, base, bound, discount in cards:
                prices = _card_prices(base, bound)
                overrides = {p: {"discount_percent": str(discount)} for p in projects}
                card = await invoicing.create_card(
                    session,
                    RateCard(
                        version=0,
                        name=f"c-{run}",
                        currency="EUR",
                        effective_from=month + timedelta(hours=hour),
                        prices={
                            m: MetricPrice(
                                Decimal(p["unit_price"]),
                                tuple(
                                    Tier(
                                        None if t["up_to"] is None else Decimal(t["up_to"]),
                                        Decimal(t["unit_price"]),
                                    )
                                    for t in p.get("tiers", [])
                                ),
                            )
                            for m, p in prices.items()
                        },
                        overrides={p: ProjectOverride(discount_percent=discount) for p in projects},
                    ),
                )
                test_cards.append(
                    recompute.Card(card.version, card.effective_from, prices, overrides)
                )
        per_project: dict[str, list[UsageRecorded]] = {}
        for project in projects:
            per_project[project] = [
                UsageRecorded(
                    usage_id=f"{project}-u{i}",
                    project_id=project,
                    group_id=group,
                    site_id="site-b",
                    metric=metric,  # type: ignore[arg-type]
                    quantity=qty,
                    period_start=month + timedelta(hours=hour),
                    period_end=month + timedelta(hours=hour + 1),
                )
                for i, (metric, group, hour, qty) in enumerate(usages)
            ]
        # Project a: in order, once. Project b: shuffled, with duplicates (also late ones).
        for message in per_project[projects[0]]:
            await _deliver(db, message)
        shuffled = list(per_project[projects[1]])
        shuffled += [order.choice(shuffled) for _ in range(duplicates)]
        order.shuffle(shuffled)
        for message in shuffled:
            await _deliver(db, message)

        period = f"{month:%Y-%m}"
        async with db.read() as session:
            a = await invoicing.draft(session, projects[0], period, "EUR")
            b = await invoicing.draft(session, projects[1], period, "EUR")
            all_cards = await RateCardRepository(session).list()
        assert a.total == b.total
        assert [(x.line_id.replace(projects[0], ""), x.amount) for x in a.lines] == [
            (x.line_id, x.amount) for x in b.lines
        ]
        # The independent recomputation, with every card in force (other examples' too).
        known = {c.version for c in test_cards}
        everything = test_cards + [
            recompute.Card(c.version, c.effective_from, **card_body(c))
            for c in all_cards
            if c.version not in known
        ]
        raw = [
            recompute.Usage(
                u.usage_id, u.project_id, u.group_id, None, u.metric, u.quantity, u.period_start
            )
            for u in per_project[projects[1]]
        ]
        expected = recompute.lines(raw, recompute.amounts(raw, [], everything))
        assert b.total == recompute.total(expected)

    loop.run_until_complete(scenario())

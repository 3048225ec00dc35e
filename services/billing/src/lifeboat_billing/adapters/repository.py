"""The usage ledger, rate cards and closed invoices in and out of the database."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_billing.adapters.orm import invoices as inv
from lifeboat_billing.adapters.orm import rate_cards as rc
from lifeboat_billing.adapters.orm import usage_ledger as t
from lifeboat_billing.domain.invoice import Invoice, InvoiceLine
from lifeboat_billing.domain.model import UsageEntry
from lifeboat_billing.domain.periods import period_of
from lifeboat_billing.domain.rating import MetricPrice, ProjectOverride, RateCard, Tier
from lifeboat_shared.persistence.types import aware


def _entry(r: Any) -> UsageEntry:
    start = aware(r.period_start)
    return UsageEntry(
        usage_id=r.usage_id,
        project_id=r.project_id,
        site_id=r.site_id,
        group_id=r.group_id,
        metric=r.metric,
        quantity=Decimal(r.quantity),
        period_start=start,
        period_end=aware(r.period_end),
        event_id=r.event_id,
        unit=r.unit,
        resource_id=r.resource_id,
        plan_id=r.plan_id,
        billed_period=r.billed_period or period_of(start),
        adjustment=bool(r.adjustment),
        recorded_at=aware(r.recorded_at) if r.recorded_at else None,
    )


class LedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_project(self, project_id: str) -> None:
        """Serialise a project's ledger writes and period closes (PostgreSQL; SQLite writes are
        serialised already)."""
        if self.session.bind.dialect.name == "postgresql":
            await self.session.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                {"k": f"lifeboat-billing:{project_id}"},
            )

    async def has(self, usage_id: str) -> bool:
        row = await self.session.execute(sa.select(t.c.usage_id).where(t.c.usage_id == usage_id))
        return row.first() is not None

    async def add(self, entry: UsageEntry) -> None:
        await self.session.execute(
            sa.insert(t).values(
                usage_id=entry.usage_id,
                project_id=entry.project_id,
                site_id=entry.site_id,
                group_id=entry.group_id,
                metric=entry.metric,
                quantity=entry.quantity,
                period_start=entry.period_start,
                period_end=entry.period_end,
                event_id=entry.event_id,
                unit=entry.unit,
                resource_id=entry.resource_id,
                plan_id=entry.plan_id,
                usage_period=period_of(entry.period_start),
                billed_period=entry.billed_period or period_of(entry.period_start),
                adjustment=entry.adjustment,
                recorded_at=entry.recorded_at,
            )
        )

    async def entries(self, project_id: str | None = None) -> Sequence[UsageEntry]:
        query = sa.select(t).order_by(t.c.period_start, t.c.usage_id)
        if project_id:
            query = query.where(t.c.project_id == project_id)
        return [_entry(r) for r in await self.session.execute(query)]

    async def of_periods(self, project_id: str, periods: Iterable[str]) -> Sequence[UsageEntry]:
        """Every entry of the project whose usage falls in one of these months."""
        wanted = sorted(set(periods))
        if not wanted:
            return []
        query = sa.select(t).where(t.c.project_id == project_id, t.c.usage_period.in_(wanted))
        return [_entry(r) for r in await self.session.execute(query)]

    async def billed_in(self, project_id: str, period: str) -> Sequence[UsageEntry]:
        query = sa.select(t).where(t.c.project_id == project_id, t.c.billed_period == period)
        return [_entry(r) for r in await self.session.execute(query)]

    async def billed_periods(self, project_id: str | None = None) -> Sequence[tuple[str, str]]:
        """(project, period) pairs with usage billed in them."""
        query = sa.select(t.c.project_id, t.c.billed_period).distinct()
        if project_id:
            query = query.where(t.c.project_id == project_id)
        return sorted((r[0], r[1]) for r in await self.session.execute(query) if r[1])


def card_body(card: RateCard) -> dict[str, Any]:
    return {
        "prices": {
            metric: {
                "unit_price": str(p.unit_price),
                "tiers": [
                    {
                        "up_to": None if x.up_to is None else str(x.up_to),
                        "unit_price": str(x.unit_price),
                    }
                    for x in p.tiers
                ],
            }
            for metric, p in card.prices.items()
        },
        "overrides": {
            project: {
                "discount_percent": str(o.discount_percent),
                "prices": {m: str(v) for m, v in o.prices.items()},
            }
            for project, o in card.overrides.items()
        },
    }


def card_from_row(r: Any) -> RateCard:
    body = r.body
    prices = {
        metric: MetricPrice(
            unit_price=Decimal(str(p.get("unit_price", "0"))),
            tiers=tuple(
                Tier(
                    up_to=None if x.get("up_to") is None else Decimal(str(x["up_to"])),
                    unit_price=Decimal(str(x["unit_price"])),
                )
                for x in p.get("tiers") or ()
            ),
        )
        for metric, p in body.get("prices", {}).items()
    }
    overrides = {
        project: ProjectOverride(
            discount_percent=Decimal(str(o.get("discount_percent", "0"))),
            prices={m: Decimal(str(v)) for m, v in (o.get("prices") or {}).items()},
        )
        for project, o in body.get("overrides", {}).items()
    }
    return RateCard(
        version=r.version,
        name=r.name,
        currency=r.currency,
        effective_from=aware(r.effective_from),
        prices=prices,
        overrides=overrides,
        created_at=aware(r.created_at),
    )


class RateCardRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def list(self) -> list[RateCard]:
        rows = await self.session.execute(sa.select(rc).order_by(rc.c.version))
        return [card_from_row(r) for r in rows]

    async def get(self, version: int) -> RateCard | None:
        row = (await self.session.execute(sa.select(rc).where(rc.c.version == version))).first()
        return card_from_row(row) if row else None

    async def next_version(self) -> int:
        top = (await self.session.execute(sa.select(sa.func.max(rc.c.version)))).scalar()
        return int(top or 0) + 1

    async def add(self, card: RateCard) -> None:
        await self.session.execute(
            sa.insert(rc).values(
                version=card.version,
                name=card.name,
                currency=card.currency,
                effective_from=card.effective_from,
                created_at=card.created_at,
                body=card_body(card),
            )
        )


def _line_json(line: InvoiceLine, usage_ids: Sequence[str]) -> dict[str, Any]:
    return {
        "line_id": line.line_id,
        "kind": line.kind,
        "metric": line.metric,
        "unit": line.unit,
        "group_id": line.group_id,
        "plan_id": line.plan_id,
        "adjusts_period": line.adjusts_period,
        "quantity": str(line.quantity),
        "amount": str(line.amount),
        "usage_count": line.usage_count,
        "card_versions": list(line.card_versions),
        "usage_ids": list(usage_ids),
    }


class InvoiceRepository:
    """Closed invoices: frozen lines, never updated."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, invoice: Invoice) -> None:
        await self.session.execute(
            sa.insert(inv).values(
                id=invoice.id,
                project_id=invoice.project_id,
                period=invoice.period,
                currency=invoice.currency,
                period_start=invoice.start,
                period_end=invoice.end,
                closed_at=invoice.closed_at,
                total=invoice.total,
                lines=[_line_json(x, invoice.usage_ids.get(x.line_id, ())) for x in invoice.lines],
            )
        )

    async def closed_periods(self, project_id: str) -> set[str]:
        rows = await self.session.execute(
            sa.select(inv.c.period).where(inv.c.project_id == project_id)
        )
        return {r[0] for r in rows}

    async def get(self, project_id: str, period: str) -> Invoice | None:
        row = (
            await self.session.execute(
                sa.select(inv).where(inv.c.project_id == project_id, inv.c.period == period)
            )
        ).first()
        return _invoice(row) if row else None

    async def by_id(self, invoice_id: str) -> Invoice | None:
        row = (await self.session.execute(sa.select(inv).where(inv.c.id == invoice_id))).first()
        return _invoice(row) if row else None

    async def list(self, project_id: str | None = None) -> list[Invoice]:
        query = sa.select(inv).order_by(inv.c.project_id, inv.c.period)
        if project_id:
            query = query.where(inv.c.project_id == project_id)
        return [_invoice(r) for r in await self.session.execute(query)]


def _invoice(r: Any) -> Invoice:
    lines = tuple(
        InvoiceLine(
            line_id=x["line_id"],
            kind=x["kind"],
            metric=x["metric"],
            unit=x["unit"],
            group_id=x["group_id"],
            plan_id=x["plan_id"],
            adjusts_period=x["adjusts_period"],
            quantity=Decimal(x["quantity"]),
            amount=Decimal(x["amount"]),
            usage_count=int(x["usage_count"]),
            card_versions=tuple(x["card_versions"]),
        )
        for x in r.lines
    )
    return Invoice(
        id=r.id,
        project_id=r.project_id,
        period=r.period,
        start=aware(r.period_start),
        end=aware(r.period_end),
        currency=r.currency,
        status="closed",
        lines=lines,
        total=sum((x.amount for x in lines), Decimal(0)),
        closed_at=aware(r.closed_at),
        usage_ids={x["line_id"]: tuple(x["usage_ids"]) for x in r.lines},
    )

"""Invoices and rate cards: drafts of open periods, closing a period, reports over any range,
the usage behind a line, new rate cards. Each use case runs in the session it is given."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_billing.adapters.repository import (
    InvoiceRepository,
    LedgerRepository,
    RateCardRepository,
)
from lifeboat_billing.domain.invoice import Invoice, build_lines, invoice_id, total_of
from lifeboat_billing.domain.model import UsageEntry
from lifeboat_billing.domain.periods import bounds, period_of, periods_between
from lifeboat_billing.domain.rating import RateCard, rate
from lifeboat_shared.contracts.messages import InvoiceIssued


class PeriodClosed(Exception):
    """The period is closed already (its invoice is frozen)."""


class NothingToClose(Exception):
    """The period has not ended yet."""


async def draft(session: AsyncSession, project_id: str, period: str, currency: str) -> Invoice:
    """The invoice of a period as it stands: usage billed in it, rated now."""
    ledger = LedgerRepository(session)
    billed = await ledger.billed_in(project_id, period)
    months = {period_of(e.period_start) for e in billed}
    context = await ledger.of_periods(project_id, months)
    rated = rate(context, await RateCardRepository(session).list())
    mine = [rated[e.usage_id] for e in billed]
    lines, usage = build_lines(mine, currency)
    start, end = bounds(period)
    return Invoice(
        id=invoice_id(project_id, period),
        project_id=project_id,
        period=period,
        start=start,
        end=end,
        currency=currency,
        status="draft",
        lines=lines,
        total=total_of(lines),
        usage_ids=usage,
    )


async def invoice(session: AsyncSession, project_id: str, period: str, currency: str) -> Invoice:
    """The closed (frozen) invoice of the period, else its draft."""
    closed = await InvoiceRepository(session).get(project_id, period)
    return closed or await draft(session, project_id, period, currency)


async def invoices(session: AsyncSession, project_id: str | None, currency: str) -> list[Invoice]:
    """Every period with usage billed in it (closed ones frozen, open ones as drafts)."""
    closed = {
        (i.project_id, i.period): i for i in await InvoiceRepository(session).list(project_id)
    }
    pairs = set(closed) | set(await LedgerRepository(session).billed_periods(project_id))
    out = []
    for project, period in sorted(pairs):
        out.append(closed.get((project, period)) or await draft(session, project, period, currency))
    return out


async def close(
    session: AsyncSession,
    project_id: str,
    period: str,
    currency: str,
    now: datetime | None = None,
) -> tuple[Invoice, InvoiceIssued]:
    """Freeze the period's invoice; the caller stages the returned event in the same transaction."""
    now = now or datetime.now(UTC)
    if bounds(period)[1] > now:
        raise NothingToClose(f"period: {period} ends at {bounds(period)[1].isoformat()}")
    ledger, store = LedgerRepository(session), InvoiceRepository(session)
    await ledger.lock_project(project_id)
    if await store.get(project_id, period) is not None:
        raise PeriodClosed(f"period: {period} of project {project_id} is closed already")
    frozen = replace(
        await draft(session, project_id, period, currency), status="closed", closed_at=now
    )
    await store.add(frozen)
    event = InvoiceIssued(
        invoice_id=frozen.id,
        project_id=project_id,
        period=period,
        period_start=frozen.start,
        period_end=frozen.end,
        currency=currency,
        total=frozen.total,
        line_count=len(frozen.lines),
        adjustment_total=sum(
            (x.amount for x in frozen.lines if x.kind == "adjustment"), Decimal(0)
        ),
        closed_at=now,
    )
    return frozen, event


async def due_for_closing(
    session: AsyncSession, grace: timedelta, now: datetime | None = None
) -> list[tuple[str, str]]:
    """(project, period) pairs with usage whose period ended more than ``grace`` ago, not closed,
    oldest first."""
    now = now or datetime.now(UTC)
    store = InvoiceRepository(session)
    due = []
    for project, period in await LedgerRepository(session).billed_periods():
        if bounds(period)[1] + grace <= now and period not in await store.closed_periods(project):
            due.append((project, period))
    return sorted(due, key=lambda p: (p[1], p[0]))


async def report(
    session: AsyncSession, project_id: str, start: datetime, end: datetime, currency: str
) -> Invoice:
    """Usage starting in ``[start, end)`` rated as it is billed (tiers counted per month), in
    lines per metric and group; not an invoice (closed periods' adjustments are not separated)."""
    ledger = LedgerRepository(session)
    context = await ledger.of_periods(project_id, periods_between(start, end))
    rated = rate(context, await RateCardRepository(session).list())
    mine = [r for r in rated.values() if start <= r.entry.period_start < end]
    lines, usage = build_lines(mine, currency, report=True)
    return Invoice(
        id=invoice_id(project_id, f"{start.isoformat()}/{end.isoformat()}"),
        project_id=project_id,
        period=f"{start.isoformat()}/{end.isoformat()}",
        start=start,
        end=end,
        currency=currency,
        status="report",
        lines=lines,
        total=total_of(lines),
        usage_ids=usage,
    )


async def line_usage(
    session: AsyncSession, found: Invoice, line_id: str
) -> Sequence[UsageEntry] | None:
    """The usage events behind one line (None: no such line)."""
    ids = found.usage_ids.get(line_id)
    if ids is None:
        return None
    wanted = set(ids)
    entries = await LedgerRepository(session).entries(found.project_id)
    return [e for e in entries if e.usage_id in wanted]


async def create_card(session: AsyncSession, card: RateCard) -> RateCard:
    """Store a new card under the next version (cards are never edited)."""
    repo = RateCardRepository(session)
    stored = replace(card, version=await repo.next_version(), created_at=datetime.now(UTC))
    await repo.add(stored)
    return stored

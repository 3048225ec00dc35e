"""Background tasks: close ended months after the grace period; refresh the rated usage that
/metrics exposes (for CloudKitty's Prometheus collector)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from lifeboat_billing.adapters import exposition
from lifeboat_billing.adapters.repository import LedgerRepository, RateCardRepository
from lifeboat_billing.service_layer import invoicing
from lifeboat_billing.settings import BillingSettings
from lifeboat_shared.persistence.outbox import add_to_outbox
from lifeboat_shared.service.runtime import ServiceRuntime

log = logging.getLogger(__name__)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def close_due_periods(runtime: ServiceRuntime) -> int:
    settings = runtime.settings
    assert isinstance(settings, BillingSettings)
    if settings.auto_close_grace_hours is None:
        return 0
    grace = timedelta(hours=settings.auto_close_grace_hours)
    async with runtime.db.read() as session:
        due = await invoicing.due_for_closing(session, grace)
    closed = 0
    for project, period in due:
        try:
            async with runtime.db.transaction() as session:
                _, event = await invoicing.close(session, project, period, settings.currency)
                await add_to_outbox(session, [runtime.envelope(event)])
            closed += 1
            log.info("billing: closed %s of project %s", period, project)
        except invoicing.PeriodClosed:
            continue
    return closed


async def period_closer(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    settings = runtime.settings
    assert isinstance(settings, BillingSettings)
    while not stop.is_set():
        await close_due_periods(runtime)
        await _pause(stop, settings.close_check_interval_seconds)


async def refresh_exposition(runtime: ServiceRuntime) -> None:
    settings = runtime.settings
    assert isinstance(settings, BillingSettings)
    async with runtime.db.read() as session:
        entries = await LedgerRepository(session).entries()
        cards = await RateCardRepository(session).list()
    exposition.RATED.update(entries, cards, settings.currency)


async def metrics_refresher(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    settings = runtime.settings
    assert isinstance(settings, BillingSettings)
    while not stop.is_set():
        await refresh_exposition(runtime)
        await _pause(stop, settings.metrics_refresh_seconds)

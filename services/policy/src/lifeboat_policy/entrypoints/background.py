"""The policy service's background loops: the RPO scheduler (ticks, breaches, the achieved-RPO
gauge), the member watch (UC4) and the usage meter. ``bootstrap`` wires them into the service;
any number of replicas may run them (the service layer's claims keep each tick single)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta

from lifeboat_policy import metrics
from lifeboat_policy.adapters.due_times import DUE_TIMES
from lifeboat_policy.adapters.repository import GroupRepository, TickUnitRepository
from lifeboat_policy.service_layer.scheduler import emit_breaches, emit_due_ticks
from lifeboat_policy.service_layer.usage import emit_usage
from lifeboat_policy.service_layer.watcher import MemberWatcher
from lifeboat_policy.settings import PolicySettings
from lifeboat_shared.service import ServiceRuntime
from lifeboat_shared.service.wakeups import first_of, setter

log = logging.getLogger(__name__)


MIN_PASS_GAP_SECONDS = 0.25
"""Passes start at least this far apart (also when woken): ticks due within it of each other go
out in one pass (one transaction), at most four passes a second, each tick at most this late."""


async def scheduler_pass(runtime: ServiceRuntime, budget: int) -> int:
    """Emit due ticks in batches until none is due or ``budget`` ticks went out."""
    sent = 0
    while sent < budget:
        want = min(500, budget - sent)
        batch = await emit_due_ticks(runtime, limit=want)
        for tick in batch:
            metrics.TICK_LATENESS.observe((tick.emitted_at - tick.due_at).total_seconds())
        metrics.TICKS_EMITTED.inc(len(batch))
        sent += len(batch)
        if len(batch) < want:
            break
    return sent


async def seconds_to_next_due(runtime: ServiceRuntime, longest: float) -> float:
    """How long the scheduler may sleep: until the soonest unit is due, within
    [MIN_PASS_GAP_SECONDS, ``longest``] (a unit made due sooner meanwhile, by a CP or an API
    call, waits at most ``longest``)."""
    async with runtime.db.read() as session:
        soonest = await TickUnitRepository(session).next_due_at()
    if soonest is None:
        return longest
    wait = (soonest - datetime.now(UTC)).total_seconds()
    return min(longest, max(MIN_PASS_GAP_SECONDS, wait))


async def rpo_scheduler(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    """Emit RPO ticks for due units, check breaches and refresh the RPO gauge, until stopped.

    A pass runs when the soonest unit is due, at once when this process writes a sooner due time
    (``due_times``), and at least every ``scheduler_interval_seconds``: a tick goes out on time
    rather than up to an interval late, which the achieved RPO would pay for.
    ``max_ticks_per_second`` is kept by a token bucket, however often passes run."""
    settings = runtime.settings
    assert isinstance(settings, PolicySettings)
    if not settings.scheduler_enabled:
        return
    interval = settings.scheduler_interval_seconds
    rate = settings.max_ticks_per_second
    burst = max(1.0, rate * interval)
    tokens, refilled = burst, time.monotonic()
    last_check = 0.0
    wake = asyncio.Event()
    wake_up = setter(wake)
    planned = datetime.max.replace(tzinfo=UTC)  # when this loop means to pass next
    posted: list[datetime] = []  # due times this process committed since the pass began

    def sooner(due_at: datetime) -> None:
        posted.append(due_at)
        if due_at < planned:
            wake_up()

    unsubscribe = DUE_TIMES.subscribe(sooner)
    last_pass = float("-inf")
    try:
        while not stop.is_set():
            gap = last_pass + MIN_PASS_GAP_SECONDS - time.monotonic()
            if gap > 0:  # a woken pass keeps the minimum gap too
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=gap)
                continue
            wake.clear()
            posted.clear()
            last_pass = time.monotonic()
            sleep = interval
            try:
                tokens, refilled = min(burst, tokens + (last_pass - refilled) * rate), last_pass
                if tokens >= 1:
                    budget = int(tokens)
                    tokens -= budget  # charged up front: a pass that fails half way sent some
                    tokens += budget - await scheduler_pass(runtime, budget)
                if time.monotonic() - last_check >= settings.breach_check_interval_seconds:
                    last_check = time.monotonic()
                    metrics.BREACHES.inc(len(await emit_breaches(runtime, datetime.now(UTC))))
                    await refresh_gauge(runtime)
                sleep = await seconds_to_next_due(runtime, interval)
                if tokens < 1:  # the budget is spent: wait for the next token
                    sleep = max(sleep, (1 - tokens) / rate)
            except Exception:
                log.exception("RPO scheduler pass failed; retrying")
            planned = datetime.now(UTC) + timedelta(seconds=sleep)
            if any(due_at < planned for due_at in posted):
                continue  # committed after this pass read the due times: pass again
            await first_of(stop, wake, timeout=sleep)
    finally:
        unsubscribe()


async def member_watch(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    """UC4: CPs on VM shutdown / volume detach for policies that ask for them."""
    settings = runtime.settings
    assert isinstance(settings, PolicySettings)
    if settings.member_watch_interval_seconds <= 0:
        return
    watcher = MemberWatcher(runtime, settings.clouds_yaml)
    try:
        while not stop.is_set():
            try:
                await watcher.pass_once()
            except Exception:
                log.exception("member watch pass failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=settings.member_watch_interval_seconds)
    finally:
        await watcher.aclose()


async def usage_meter(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    """Protected VM-hours and GB-hours per group and window (``service_layer.usage``)."""
    settings = runtime.settings
    assert isinstance(settings, PolicySettings)
    if settings.usage_pass_interval_seconds <= 0:
        return
    while not stop.is_set():
        try:
            await emit_usage(runtime, settings.usage_window_seconds)
        except Exception:
            log.exception("usage pass failed; retrying")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=settings.usage_pass_interval_seconds)


async def refresh_gauge(runtime: ServiceRuntime) -> None:
    async with runtime.db.read() as session:
        metrics.ACHIEVED_RPO.update(await GroupRepository(session).rpo_snapshot())

"""A running service: database, migrations, bus, outbox relay, consumer loop, background tasks.

Shutdown (SIGTERM through uvicorn's lifespan, or ``stop()``): stop consuming, finish the batch in
hand, commit its offsets, drain the outbox, exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence

from lifeboat_shared.bus.consumer import ConsumerLoop
from lifeboat_shared.bus.factory import make_bus
from lifeboat_shared.bus.interface import EventBus
from lifeboat_shared.contracts import topics
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.envelope import Envelope, new_envelope
from lifeboat_shared.persistence.database import Database
from lifeboat_shared.persistence.migrations import upgrade_to_head
from lifeboat_shared.persistence.outbox import OutboxRelay
from lifeboat_shared.service.spec import ServiceSpec
from lifeboat_shared.telemetry.tracing import current_traceparent

log = logging.getLogger(__name__)


class ServiceRuntime:
    def __init__(self, spec: ServiceSpec, *, bus: EventBus | None = None) -> None:
        self.spec = spec
        self.settings = spec.settings
        self.db = Database(
            self.settings.service_database_url(spec.name),
            schema=spec.name,
            pool=self.settings.db_pool(),
        )
        self._owns_bus = bus is None
        self.bus: EventBus = bus or make_bus(self.settings, client_id=f"lifeboat-{spec.name}")
        self.stop_event = asyncio.Event()
        self._relay_stop = asyncio.Event()
        self._relay_task: asyncio.Task[None] | None = None
        self.consumer: ConsumerLoop | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.restarts: dict[str, int] = {}
        """Crashes per task since start (each one restarted)."""
        self.started = False

    @property
    def group(self) -> str:
        return f"lifeboat-{self.spec.name}"

    def envelope(self, message: Message, *, event_id: str | None = None) -> Envelope:
        return new_envelope(
            message, source=self.spec.source, event_id=event_id, traceparent=current_traceparent()
        )

    async def start(self) -> None:
        if self.settings.migrate_on_start:
            await upgrade_to_head(self.db, self.spec.migrations)
        if self._owns_bus:
            await self.bus.start()
        await self.bus.ensure_topics(topics.ALL_TOPICS)
        relay = OutboxRelay(
            self.db,
            self.bus,
            leader_key=f"outbox-{self.spec.name}",
            publish_twice=self.settings.chaos_publish_twice,
        )
        if self.settings.chaos_publish_twice:
            log.warning("%s: chaos_publish_twice: every event is published twice", self.spec.name)
        self._relay_task = self._spawn(
            lambda: relay.run(self._relay_stop, self.db.outbox_committed), "outbox-relay"
        )
        if self.spec.consumes and self.spec.handlers:
            self.consumer = ConsumerLoop(
                bus=self.bus,
                db=self.db,
                group=self.group,
                topics=self.spec.consumes,
                handlers=self.spec.handlers,
                source=self.spec.source,
                batch_size=self.settings.consumer_batch_size,
                max_attempts=self.settings.handler_max_attempts,
                max_record_bytes=self.settings.max_record_bytes,
            )
            consumer = self.consumer
            self._spawn(lambda: consumer.run(self.stop_event), "consumer")
        for task in self.spec.background:
            self._spawn(
                functools.partial(task, self, self.stop_event),
                getattr(task, "__name__", "background"),
            )
        self.started = True
        log.info("service %s started (bus=%s)", self.spec.name, self.bus.name)

    def _spawn(self, run: Callable[[], Awaitable[None]], name: str) -> asyncio.Task[None]:
        """Run ``run()`` until it returns; if it crashes, log it and run it again with backoff
        (0.5 s doubling to 30 s) until the service stops: one failure (a database or Kafka
        hiccup that escaped a loop's own handling) never ends a service's loop for good."""

        async def supervised() -> None:
            failures = 0
            while True:
                try:
                    await run()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:
                    failures += 1
                    delay = min(30.0, 0.5 * 2 ** min(failures - 1, 10))
                    self.restarts[name] = failures
                    log.exception(
                        "%s task %s crashed (%d in a row); restarting it in %.1f s",
                        self.spec.name,
                        name,
                        failures,
                        delay,
                    )
                    stopping = self._relay_stop if name == "outbox-relay" else self.stop_event
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stopping.wait(), timeout=delay)
                    if stopping.is_set():
                        return

        task = asyncio.create_task(supervised(), name=f"{self.spec.name}:{name}")
        self._tasks.append(task)
        return task

    async def stop(self, timeout: float = 20.0) -> None:
        # Consumer and background tasks first (their last transactions may stage events), then
        # the relay, which drains the outbox before it returns.
        self.stop_event.set()
        others = [t for t in self._tasks if t is not self._relay_task]
        if others:
            await asyncio.wait(others, timeout=timeout)
        self._relay_stop.set()
        if self._tasks:
            _done, pending = await asyncio.wait(self._tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.gather(*pending, return_exceptions=True)
        if self._owns_bus:
            await self.bus.stop()
        await self.db.dispose()
        self.started = False

    async def readiness(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        for name, probe in (("database", self.db.ping), ("bus", self.bus.ping)):
            try:
                await asyncio.wait_for(probe(), timeout=5)
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"failed: {type(exc).__name__}: {exc}"
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                checks[task.get_name()] = f"crashed: {task.exception()}"
        # /readyz needs no token: a driver's error text must not carry a secret out
        for secret in self.settings.secret_values():
            checks = {k: v.replace(secret, "***") for k, v in checks.items()}
        return checks

    def background_tasks(self) -> Sequence[asyncio.Task[None]]:
        return tuple(self._tasks)

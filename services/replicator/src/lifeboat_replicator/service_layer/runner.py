"""The cycle runner: claims runnable cycles under a lease and drives them through their stages.

A lease (owner + expiry, renewed while the runner lives) makes a cycle run in one place at a time;
a runner killed mid-cycle leaves its lease to expire, and the next runner continues the cycle from
its last checkpoint. Several replicators share the work safely: claims are one
``UPDATE ... SKIP LOCKED ... RETURNING``, every stage first re-takes its lease by compare-and-set
(``hold``), and every checkpoint is written only while the lease is this runner's. A runner whose
lease was taken over (it stalled past the expiry) stops at once: senders stop at the next chunk
and it touches neither the cycle's row nor its cloud resources again.
Link faults put a cycle back to pending with backoff (it resumes by itself);
other failures are retried a few times, then the cycle fails with ConsistencyPointFailed.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from prometheus_client import Counter, Histogram

from lifeboat_replicator.adapters.repository import (
    ConsistencyPointRepository,
    CycleRepository,
    GroupStateRepository,
)
from lifeboat_replicator.domain.model import (
    ConsistencyPoint,
    CycleStatus,
    ReplicationCycle,
    Stage,
    next_backoff,
)
from lifeboat_replicator.domain.retention import points_to_prune
from lifeboat_replicator.service_layer import events, wakeups
from lifeboat_replicator.service_layer.backup import backup_stage
from lifeboat_replicator.service_layer.cycle import (
    CycleDeps,
    CycleFailed,
    CyclePaused,
    TransientFault,
    discard_snapshots,
    prune,
    replica_snapshot_stage,
    snapshot_stage,
    transfer_stage,
)
from lifeboat_shared.cloud.errors import CloudError, Conflict, NotFound, RateLimited, Unavailable
from lifeboat_shared.contracts.messages import ReplicationSpec
from lifeboat_shared.persistence.outbox import add_to_outbox
from lifeboat_shared.service.runtime import ServiceRuntime
from lifeboat_shared.service.wakeups import first_of, setter

log = logging.getLogger(__name__)

CYCLES = Counter("lifeboat_replication_cycles", "Replication cycles ended", ["outcome"])
CYCLE_SECONDS = Histogram(
    "lifeboat_replication_cycle_seconds",
    "Request to consistency point",
    buckets=(1, 2, 5, 10, 30, 60, 120, 300, 900, 3600),
)
REPLICATED_BYTES = Counter("lifeboat_replicated_bytes", "Bytes sent to DR sites")
QUIESCE_FAILURES = Counter(
    "lifeboat_quiesce_failures",
    "VMs (or a group's hook) that could not be quiesced, counted once per cycle; which ones and "
    "why: the QuiesceFailed alert, the cycle and the consistency point",
    ["group_id"],
)
HOLDS = Counter(
    "lifeboat_replication_lease_holds",
    "Lease checks before a side effect: a compare-and-set, or none while the lease this runner "
    "set (claim, renewal or hold) still has more than half its length to run",
    ["kind"],
)
LINK_OBSERVATION_EVERY_SECONDS = 10.0
"""A link that keeps working is reported at most this often (per link, by this runner); a
failure always is, and so is every success for LINK_RECOVERY_SECONDS after one (UC6's
hysteresis counts consecutive failures, and may want several successes to call a link up)."""
LINK_RECOVERY_SECONDS = 60.0
LEASES_LOST = Counter(
    "lifeboat_replication_leases_lost", "Cycles another replicator took over from this one"
)


@dataclass(frozen=True)
class _Clocks:
    wall: datetime
    boot: float  # CLOCK_BOOTTIME: goes on while the host is suspended

    @staticmethod
    def now() -> _Clocks:
        return _Clocks(datetime.now(UTC), _boot_clock())

    def within(self, earlier: _Clocks, span: timedelta) -> bool:
        """Less than ``span`` since ``earlier`` by both clocks (a clock set back counts as not)."""
        wall = self.wall - earlier.wall
        boot = self.boot - earlier.boot
        return timedelta(0) <= wall < span and 0 <= boot < span.total_seconds()


def _boot_clock() -> float:
    """CLOCK_BOOTTIME where the OS has it (Linux), else the monotonic clock."""
    clock = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(clock) if clock is not None else time.monotonic()


async def _commit_follows(cycle: ReplicationCycle) -> None:
    return None


class LeaseLost(Exception):
    """Another runner holds this cycle's lease now: stop driving it, touch nothing."""


class CycleRunner:
    def __init__(
        self,
        runtime: ServiceRuntime,
        deps: CycleDeps,
        *,
        max_attempts: int,
        lease_seconds: float,
        max_concurrent_cycles: int = 8,
    ) -> None:
        self.runtime = runtime
        self.max_concurrent_cycles = max_concurrent_cycles
        self.db = runtime.db
        self.deps = deps
        self.max_attempts = max_attempts
        self.lease = timedelta(seconds=lease_seconds)
        self.owner = f"runner-{uuid.uuid4()}"
        self.observer = f"replicator:{socket.gethostname()}"[:160]
        self.suspended: set[str] = set()
        self._lost: set[str] = set()  # cycles whose lease another runner took (last pass's read)
        self.stopping = False
        self._running: dict[str, asyncio.Task[None]] = {}
        # cycle id -> group id, from its claim until this runner releases its lease
        self._groups: dict[str, str] = {}
        # cycle id -> (clocks) just before the newest CAS that set this runner's lease: the lease
        # runs at least until then + its length (only the owner writes a running cycle)
        self._leased_at: dict[str, _Clocks] = {}
        self._renewed_at: _Clocks | None = None  # the last renewal of every lease it holds
        self._wake: Callable[[], None] = lambda: None
        # (source, target) site ids -> when (monotonic) this runner last reported the link, and
        # last reported it failing
        self._link_reported: dict[tuple[str, str], tuple[float, float | None]] = {}
        deps.is_suspended = self._is_suspended
        deps.previous_cp = self._previous_cp

    def _is_suspended(self, group_id: str) -> bool:
        return (
            self.stopping
            or group_id in self.suspended
            or any(self._groups.get(cycle_id) == group_id for cycle_id in self._lost)
        )

    async def _previous_cp(self, group_id: str) -> ConsistencyPoint | None:
        async with self.db.read() as s:
            return await ConsistencyPointRepository(s).newest(group_id)

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        """A pass every ``interval``, and at once when this process added a cycle or a slot
        freed up (``wakeups``)."""
        wake = asyncio.Event()
        wake_up = setter(wake)  # a notify may come from another loop or thread
        self._wake = wake.set
        unsubscribe = wakeups.RUNNABLE.subscribe(lambda _: wake_up())
        try:
            while not stop.is_set():
                wake.clear()
                try:
                    await self.pass_once()
                except Exception:
                    log.exception("cycle runner pass failed; retrying")
                await first_of(stop, wake, timeout=interval)
        finally:
            unsubscribe()
        self.stopping = True
        if self._running:
            await asyncio.wait(list(self._running.values()), timeout=30)
        for task in self._running.values():
            task.cancel()

    async def pass_once(self) -> None:
        """Renew this runner's leases when a quarter of their length has gone by since the last
        renewal, and claim what it has room for; a pass with neither to do only reads (on SQLite
        an idle pass must not take the write turn that checkpoints and commits wait for)."""
        since = _Clocks.now()
        now = since.wall
        room = self.max_concurrent_cycles - len(self._running)
        async with self.db.read() as s:
            self.suspended = await GroupStateRepository(s).suspended_groups()
            # A lease another runner took is seen within a pass (senders stop at once), by a
            # read: the renewal that would say so too is written only every quarter lease.
            self._lost = set(self._groups) - await CycleRepository(s).held(self.owner)
            claimable = room > 0 and await CycleRepository(s).any_claimable(self.owner, now)
        renew = bool(self._running) and (
            self._renewed_at is None or not since.within(self._renewed_at, self.lease / 4)
        )
        if not (renew or claimable):
            return
        async with self.db.transaction() as s:
            held = await CycleRepository(s).renew(self.owner, now + self.lease) if renew else set()
            claimed = (
                await CycleRepository(s).claim(self.owner, now, now + self.lease, limit=room)
                if claimable
                else []
            )
        if renew:
            self._renewed_at = since
            self._lost = set(self._groups) - held
        for cycle_id in claimed:
            if cycle_id not in self._running:
                task = asyncio.create_task(self._execute(cycle_id), name=f"cycle-{cycle_id}")
                self._running[cycle_id] = task
                task.add_done_callback(self._forget)
        for cycle_id in (*held, *claimed):
            if cycle_id in self._running:
                self._leased_at[cycle_id] = since

    def _forget(self, task: asyncio.Task[None]) -> None:
        full = len(self._running) >= self.max_concurrent_cycles
        self._running = {k: t for k, t in self._running.items() if t is not task}
        if full:  # cycles may be waiting for the slot this one frees
            self._wake()
        self._leased_at = {k: v for k, v in self._leased_at.items() if k in self._running}

    async def _checkpoint(self, cycle: ReplicationCycle) -> None:
        async with self.db.transaction() as s:
            if not await CycleRepository(s).save(cycle, self.owner):
                raise LeaseLost(cycle.id)

    async def _hold(self, cycle: ReplicationCycle) -> None:
        """Before a side effect: re-take the lease by compare-and-set, or stop.

        No statement while the lease this runner set most recently still has more than half its
        length to run: a running cycle's row is written only by its lease owner, and a claim
        takes only an expired lease, so nobody can have taken it (the runner's pass renews every
        lease it holds; a runner that stalls past half the lease does the compare-and-set).
        "Still runs" by both this host's wall clock (what other replicators compare the lease
        with: their clocks must agree with it within half the lease, NTP) and its boot-time
        clock (which, unlike the monotonic one, counts a suspended host's time)."""
        since = _Clocks.now()
        leased_at = self._leased_at.get(cycle.id)
        if (
            leased_at is not None
            and cycle.id not in self._lost
            and since.within(leased_at, self.lease / 2)
        ):
            HOLDS.labels("lease_fresh").inc()
            return
        async with self.db.transaction() as s:
            if not await CycleRepository(s).hold(
                cycle.id, self.owner, datetime.now(UTC) + self.lease
            ):
                raise LeaseLost(cycle.id)
        self._leased_at[cycle.id] = since
        HOLDS.labels("compare_and_set").inc()

    async def _execute(self, cycle_id: str) -> None:
        async with self.db.read() as s:
            cycle = await CycleRepository(s).get(cycle_id)
        if cycle is None or cycle.status != CycleStatus.RUNNING:
            return
        self._groups[cycle.id] = cycle.group_id
        try:
            await self._drive(cycle)
        except LeaseLost:
            LEASES_LOST.inc()
            log.warning(
                "cycle %s of group %s: another replicator holds its lease now; this one stops",
                cycle.id,
                cycle.group_id,
            )
        finally:
            self._groups.pop(cycle.id, None)

    async def _drive(self, cycle: ReplicationCycle) -> None:
        try:
            await self._stages(cycle)
        except CyclePaused:
            cycle.status = CycleStatus.PENDING if self.stopping else CycleStatus.PAUSED
            await self._release(cycle)
        except TransientFault as exc:  # the link to the target's receiver was down
            await self._observe_link(cycle, reachable=False, detail=str(exc))
            await self._retry_later(cycle, str(exc), count=False)
        except (Unavailable, RateLimited) as exc:
            await self._retry_later(cycle, str(exc), count=False)
        except (CycleFailed, CloudError) as exc:
            await self._failed_attempt(cycle, exc)
        except (asyncio.CancelledError, LeaseLost):
            raise
        except Exception as exc:  # a bug or an unforeseen fault: count it, keep the reason
            log.exception("cycle %s: unexpected error", cycle.id)
            await self._failed_attempt(cycle, exc)

    async def _stages(self, cycle: ReplicationCycle) -> None:
        started = datetime.now(UTC)
        if cycle.stage == Stage.SNAPSHOT:
            await self._hold(cycle)
            outcome = await snapshot_stage(cycle, self.deps, self._checkpoint)
            if outcome.alert is not None:
                async with self.db.transaction() as s:
                    await add_to_outbox(
                        s, [events.quiesce_failed(self.runtime, cycle, outcome.alert)]
                    )
                QUIESCE_FAILURES.labels(cycle.group_id).inc(len(outcome.alert.failures))
            if outcome.skipped:
                cycle.status = CycleStatus.SKIPPED
                cycle.error = outcome.alert.reason if outcome.alert else "quiesce failed"
                await self._finish(cycle, failed_stage="quiesce")
                return
        if cycle.stage == Stage.TRANSFER:
            await self._hold(cycle)
            to_send = sum(1 for v in cycle.volumes if not v.transferred)
            if ReplicationSpec.model_validate(cycle.spec).strategy == "backup":
                await backup_stage(cycle, self.deps, self._checkpoint)
            else:
                await transfer_stage(cycle, self.deps, self._checkpoint)
                if to_send:
                    await self._observe_link(
                        cycle, reachable=True, detail=f"cycle {cycle.id}: {to_send} volume(s) sent"
                    )
        if cycle.stage == Stage.REPLICA_SNAPSHOT:
            await self._hold(cycle)
            # no checkpoint of its own: the commit right after saves the cycle with its replica
            # snapshots (a runner that dies in between redoes the stage: they are found by tag)
            await replica_snapshot_stage(cycle, self.deps, _commit_follows)
        if cycle.stage == Stage.COMMIT:
            points = await self._commit(cycle)
            CYCLE_SECONDS.observe((datetime.now(UTC) - cycle.requested_at).total_seconds())
            log.info(
                "group %s: consistency point from cycle %s in %.1f s",
                cycle.group_id,
                cycle.id,
                (datetime.now(UTC) - started).total_seconds(),
            )
            await self._retention(cycle, points)

    async def _observe_link(self, cycle: ReplicationCycle, *, reachable: bool, detail: str) -> None:
        """A SiteLinkObserved for a cycle attempt that tried the link (UC6: partitions): every
        failure, every success in the LINK_RECOVERY_SECONDS after this runner saw one (the
        orchestrator may want several in a row to call the link up again), and otherwise a
        working link at most every LINK_OBSERVATION_EVERY_SECONDS per link (a hundred groups
        need not say so each cycle); never fails the cycle."""
        try:
            spec = ReplicationSpec.model_validate(cycle.spec)
            link = (spec.source.site_id, spec.target.site_id)
            now = time.monotonic()
            reported, failed = self._link_reported.get(link, (None, None))
            if (
                reachable
                and reported is not None
                and now - reported < LINK_OBSERVATION_EVERY_SECONDS
                and (failed is None or now - failed >= LINK_RECOVERY_SECONDS)
            ):
                return
            async with self.db.transaction() as s:
                await add_to_outbox(
                    s,
                    [
                        events.link_observed(
                            self.runtime,
                            cycle,
                            reachable=reachable,
                            observer=self.observer,
                            detail=detail,
                        )
                    ],
                )
            self._link_reported[link] = (now, failed if reachable else now)
        except Exception:
            log.exception("cycle %s: could not record the link observation", cycle.id)

    async def _commit(self, cycle: ReplicationCycle) -> list[ConsistencyPoint]:
        """The consistency point, in one transaction with the cycle's end and its event; returns
        the group's live CPs, the new one first (what retention looks at)."""
        spec = ReplicationSpec.model_validate(cycle.spec)
        now = datetime.now(UTC)
        assert cycle.consistency is not None and cycle.taken_at is not None
        cp = ConsistencyPoint(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"lifeboat:cp:{cycle.id}")),
            group_id=cycle.group_id,
            project_id=cycle.project_id,
            source_site=spec.source.site_id,
            target_site=spec.target.site_id,
            consistency=cycle.consistency,
            taken_at=cycle.taken_at,
            created_at=now,
            cycle_id=cycle.id,
            members=tuple(cycle.volumes),
            member_groups=tuple(spec.member_groups),
            consistency_reason=cycle.consistency_reason,
            quiesce_failures=tuple(cycle.quiesce_failures),
        )
        async with self.db.transaction() as s:
            # the lease first: its row stays locked until commit, so no other runner commits too
            if not await CycleRepository(s).hold(cycle.id, self.owner, now + self.lease):
                raise LeaseLost(cycle.id)
            retained = await ConsistencyPointRepository(s).list(cycle.group_id)
            previous = retained[0] if retained else None
            await ConsistencyPointRepository(s).add(cp)
            cycle.status = CycleStatus.SUCCEEDED
            cycle.stage = Stage.DONE
            cycle.finished_at = now
            cycle.error = None
            await CycleRepository(s).save(cycle, self.owner)
            await CycleRepository(s).release(cycle.id, self.owner)
            await add_to_outbox(
                s,
                events.cp_created(
                    self.runtime, cycle, cp, spec, previous=previous, retained=retained
                ),
            )
        self._released(cycle)
        CYCLES.labels("succeeded").inc()
        REPLICATED_BYTES.inc(cp.bytes_sent)
        return [cp, *retained]

    async def _retention(self, cycle: ReplicationCycle, points: list[ConsistencyPoint]) -> None:
        spec = ReplicationSpec.model_validate(cycle.spec)
        doomed = points_to_prune(points, **spec.retention.model_dump())
        try:
            await prune(spec, self.deps, doomed)
        except (CloudError, OSError) as exc:  # the next cycle's retention tries again
            log.warning("group %s: retention failed: %s", cycle.group_id, exc)
            return
        if doomed:
            async with self.db.transaction() as s:
                for cp in doomed:
                    await ConsistencyPointRepository(s).mark_pruned(cp.id)
                await add_to_outbox(s, [events.cp_pruned(self.runtime, cp) for cp in doomed])

    def _released(self, cycle: ReplicationCycle) -> None:
        """This runner gave the cycle's lease up (committed): from now on its lease not being
        held is no sign of a takeover (retention may still run for it)."""
        self._groups.pop(cycle.id, None)

    async def _release(self, cycle: ReplicationCycle) -> None:
        async with self.db.transaction() as s:
            if not await CycleRepository(s).save(cycle, self.owner):
                raise LeaseLost(cycle.id)
            await CycleRepository(s).release(cycle.id, self.owner)
        self._released(cycle)

    async def _retry_later(self, cycle: ReplicationCycle, reason: str, *, count: bool) -> None:
        if count:
            cycle.attempts += 1
        cycle.status = CycleStatus.PENDING
        cycle.error = reason[:2000]
        cycle.not_before = datetime.now(UTC) + next_backoff(max(1, cycle.attempts))
        log.warning("cycle %s of group %s waits: %s", cycle.id, cycle.group_id, reason)
        await self._release(cycle)

    async def _failed_attempt(self, cycle: ReplicationCycle, exc: BaseException) -> None:
        stage = exc.stage if isinstance(exc, CycleFailed) else cycle.stage.value
        reason = exc.reason if isinstance(exc, CycleFailed) else f"{type(exc).__name__}: {exc}"
        permanent = (isinstance(exc, NotFound | Conflict) and cycle.stage == Stage.SNAPSHOT) or (
            isinstance(exc, CycleFailed) and exc.permanent
        )
        if cycle.attempts + 1 < self.max_attempts and not permanent:
            await self._retry_later(cycle, reason, count=True)
            return
        cycle.attempts += 1
        cycle.status = CycleStatus.FAILED
        cycle.error = reason[:2000]
        await self._finish(cycle, failed_stage=stage)

    async def _finish(self, cycle: ReplicationCycle, *, failed_stage: str) -> None:
        cycle.finished_at = datetime.now(UTC)
        await self._hold(cycle)
        try:  # a failed cycle's snapshots belong to no CP: nothing should keep them
            await discard_snapshots(cycle, self.deps)
        except (CloudError, OSError) as exc:
            log.warning("cycle %s: could not delete its snapshots: %s", cycle.id, exc)
        async with self.db.transaction() as s:
            if not await CycleRepository(s).save(cycle, self.owner):
                raise LeaseLost(cycle.id)
            await CycleRepository(s).release(cycle.id, self.owner)
            await add_to_outbox(s, [events.cp_failed(self.runtime, cycle, failed_stage)])
        self._released(cycle)
        CYCLES.labels(cycle.status.value).inc()
        log.warning(
            "cycle %s of group %s %s: %s", cycle.id, cycle.group_id, cycle.status, cycle.error
        )

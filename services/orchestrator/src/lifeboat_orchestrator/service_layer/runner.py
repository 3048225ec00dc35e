"""The execution runner: leases running executions and drives their step graphs.

A step's outcome is committed (with its progress event, and for ``commit`` the plan's new state)
before any step that depends on it starts. Steps of one tier run in parallel; the heavy ones
(``recover``, ``stateless``) are bounded per site by that site's API concurrency. A runner killed
at any point leaves its lease to expire (or reclaims it at once when restarted with the same
``runner_id``); steps that were in flight run again and find what they had made by its tags.

Several runners (replicas) share the executions table: a claim takes only leases that are free
when its UPDATE runs, and every transaction that records a step or stages an event first checks,
with one conditional UPDATE, that this runner still owns the lease (``_fence``). A runner that
lost its lease (it stalled past the lease, another took over) learns it there or at its next
renewal, and stops driving that execution before its next side effect: a cloud call of a step
that creates something, an event, a step's commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_orchestrator.adapters.catalog import CatalogRepository, KnownCp
from lifeboat_orchestrator.adapters.executions import ExecutionRepository
from lifeboat_orchestrator.adapters.plans import PlanRepository
from lifeboat_orchestrator.domain.execution import Execution, ExecutionState, Step, StepState
from lifeboat_orchestrator.domain.plan import PlanState
from lifeboat_orchestrator.domain.rpo import loss_window
from lifeboat_orchestrator.service_layer import housekeeping
from lifeboat_orchestrator.service_layer.steps import (
    bubble,
    finish,
    hooks,
    link,
    network,
    recover,
    sync,
)
from lifeboat_orchestrator.service_layer.steps.context import Action, StepEnv, StepFailed
from lifeboat_shared.cloud.errors import CloudError
from lifeboat_shared.cloud.sites import SiteClouds
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.messages import ExecutionCompleted, ExecutionStepProgressed
from lifeboat_shared.hooks import HookHost
from lifeboat_shared.persistence.outbox import add_to_outbox
from lifeboat_shared.persistence.tables import outbox
from lifeboat_shared.service.runtime import ServiceRuntime

log = logging.getLogger(__name__)

ACTIONS: dict[str, Action] = {
    "network": network.prepare_network,
    "bubble-network": network.prepare_bubble,
    "hooks": hooks.run_hooks,
    "recover": recover.recover,
    "stateless": recover.stateless,
    "restore-volume": recover.restore_volume,
    "dns": finish.dns,
    "commit": finish.commit,
    "resolve": finish.resolve,
    "stop-source": sync.stop_source,
    "final-sync": sync.final_sync,
    "reverse-sync": sync.reverse_sync,
    "keep-divergent": sync.keep_divergent,
    "stop-losing": sync.stop_losing,
    "release-old": sync.release_old,
    "link-bubbles": link.link_bubbles,
    "bubble-ready": bubble.bubble_ready,
    "teardown": bubble.teardown,
}
HEAVY = {"recover", "stateless", "restore-volume"}
# Steps that create nothing in a cloud: no need to persist "started" (its attempt count is what
# tells a creating step's re-run to look for what it made); they simply run again.
LIGHT = {"hooks", "dns", "commit", "resolve"}

STEPS = Counter("lifeboat_execution_steps", "Execution steps ended", ["action", "outcome"])
STEP_SECONDS = Histogram(
    "lifeboat_execution_step_seconds",
    "Duration of execution steps",
    ["action"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
)
EXECUTIONS = Counter("lifeboat_executions", "Executions ended", ["kind", "outcome"])


@dataclass(frozen=True)
class RunnerConfig:
    runner_id: str
    lease_seconds: float = 15.0
    interval_seconds: float = 0.5
    site_concurrency: int = 16
    max_step_attempts: int = 5
    step_backoff_seconds: float = 1.0
    sync_timeout_seconds: float = 900.0
    max_executions: int = 64
    chaos_kill_after_step: bool = False
    """Test hook: SIGKILL this process right after each step commit (every step boundary)."""
    chaos_kill_at_step: int = 0
    hooks: HookHost = field(default_factory=HookHost)
    """Installed command hooks, webhook egress policy, secrets to mask (tier hooks)."""
    """Test hook: SIGKILL this process right after its Nth step commit (one chosen boundary)."""


class LeaseLost(Exception):
    """This runner no longer owns the execution's lease: stop driving it and touch nothing."""


class ExecutionRunner:
    def __init__(self, runtime: ServiceRuntime, clouds: SiteClouds, config: RunnerConfig) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.clouds = clouds
        self.config = config
        self.lease = timedelta(seconds=config.lease_seconds)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._sems: dict[str, asyncio.Semaphore] = {}
        self._committed_steps = 0
        # The project of each driven execution's plan (loaded once per drive): its progress
        # events name it without reading the plan again in every step's transaction.
        self._projects: dict[str, str | None] = {}
        self.kick = asyncio.Event()

    def _sem(self, site: str) -> asyncio.Semaphore:
        sem = self._sems.get(site)
        if sem is None:
            sem = self._sems[site] = asyncio.Semaphore(self.config.site_concurrency)
        return sem

    # --- loop --------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        last_renew = 0.0
        last_expiry = 0.0
        while not stop.is_set():
            try:
                await self._claim()
                now = time.monotonic()
                if now - last_renew > self.config.lease_seconds / 3:
                    await self._renew()
                    last_renew = now
                if now - last_expiry > 2.0:
                    await housekeeping.expire_tests(self.db)
                    last_expiry = now
                if await housekeeping.advance_evacuations(self.db):
                    await self._claim()
            except Exception:
                log.exception("execution runner pass failed")
            self.kick.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait(stop), self.config.interval_seconds)
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)

    async def _wait(self, stop: asyncio.Event) -> None:
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.kick.wait())]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

    async def _claim(self) -> None:
        room = self.config.max_executions - len(self._tasks)
        if room <= 0:
            return
        now = datetime.now(UTC)
        async with self.db.transaction() as s:
            ids = await ExecutionRepository(s).claim(
                self.config.runner_id, now, now + self.lease, room, exclude=list(self._tasks)
            )
        for eid in ids:
            if eid not in self._tasks:
                task = asyncio.create_task(self._drive(eid), name=f"execution-{eid}")
                self._tasks[eid] = task
                task.add_done_callback(self._forget)

    def _forget(self, task: asyncio.Task[None]) -> None:
        for eid, t in list(self._tasks.items()):
            if t is task:
                del self._tasks[eid]

    async def _renew(self) -> None:
        ids = list(self._tasks)
        if not ids:
            return
        async with self.db.transaction() as s:
            mine: set[str] = set(
                await ExecutionRepository(s).renew(
                    self.config.runner_id, ids, datetime.now(UTC) + self.lease
                )
            )
        for eid in ids:
            if eid not in mine and eid in self._tasks:
                log.warning("lost the lease of execution %s; stopping here", eid)
                self._tasks[eid].cancel()

    # --- one execution --------------------------------------------------------------------------
    async def _drive(self, execution_id: str) -> None:
        try:
            await self._drive_inner(execution_id)
        except asyncio.CancelledError:
            raise
        except LeaseLost:
            log.warning("lost the lease of execution %s; another runner drives it", execution_id)
        except Exception:
            log.exception("execution %s: runner error", execution_id)
            await asyncio.sleep(self.config.step_backoff_seconds)
        finally:
            self._projects.pop(execution_id, None)

    async def _load(
        self, execution_id: str
    ) -> tuple[Execution, Any, dict[str, Any], dict[str, KnownCp]]:
        async with self.db.read() as s:
            execution = await ExecutionRepository(s).get(execution_id)
            assert execution is not None
            plan = await PlanRepository(s).get(execution.plan_id)
            catalog = CatalogRepository(s)
            sites = await catalog.sites()
            cps: dict[str, KnownCp] = {}
            for group, cp_id in dict(execution.params.get("cps", {})).items():
                cp = await catalog.cp(cp_id)
                if cp is not None:
                    cps[group] = cp
            final = next((st for st in execution.steps if st.id == "final-sync"), None)
            if final is not None and final.state.done:
                for group, cp_id in final.result.get("cps", {}).items():
                    cp = await catalog.cp(cp_id)
                    if cp is not None:
                        cps[group] = cp
        return execution, plan, sites, cps

    async def _drive_inner(self, execution_id: str) -> None:
        execution, plan, sites, cps = await self._load(execution_id)
        if plan is None:
            await self._finish(execution, None, "plan was deleted")
            return
        self._projects[execution.id] = plan.spec.project_id
        results = {s.id: s.result for s in execution.steps if s.state.done}
        for s in execution.steps:
            if s.state is StepState.RUNNING:  # in flight when the last runner died
                s.state = StepState.PENDING
        in_flight: dict[str, asyncio.Task[None]] = {}
        flavors: dict[tuple[str, str], str] = {}

        async def emit(message: Message, event_id: str) -> None:
            await self._emit(execution.id, message, event_id)

        try:
            while True:
                for step in execution.runnable():
                    if step.id in in_flight:
                        continue
                    env = StepEnv(
                        execution=execution,
                        plan=plan,
                        step=step,
                        clouds=self.clouds,
                        sites=sites,
                        results=results,
                        emit=emit,
                        wait_cp=self._wait_cp,
                        cps=cps,
                        sync_timeout=self.config.sync_timeout_seconds,
                        flavors=flavors,
                        hooks=self.config.hooks,
                    )
                    in_flight[step.id] = asyncio.create_task(self._run_step(env))
                if not in_flight:
                    break
                done, _ = await asyncio.wait(
                    in_flight.values(), return_when=asyncio.FIRST_COMPLETED
                )
                for sid in [k for k, t in in_flight.items() if t in done]:
                    task = in_flight.pop(sid)
                    task.result()
                if any(s.state is StepState.FAILED for s in execution.steps):
                    for task in in_flight.values():
                        task.cancel()
                    await asyncio.gather(*in_flight.values(), return_exceptions=True)
                    in_flight.clear()
                    break
        finally:  # a lost lease (or a cancel) stops every step of this execution still running
            pending = [task for task in in_flight.values() if not task.done()]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        failed = next((s for s in execution.steps if s.state is StepState.FAILED), None)
        await self._finish(execution, plan, f"{failed.id}: {failed.error}" if failed else None)

    async def _run_step(self, env: StepEnv) -> None:
        step, execution = env.step, env.execution
        action = ACTIONS[step.action]
        sem = self._sem(step.site or "-") if step.action in HEAVY else None
        async with sem if sem is not None else contextlib.nullcontext():
            step.state = StepState.RUNNING
            step.attempts += 1
            step.started_at = step.started_at or datetime.now(UTC)
            if step.action not in LIGHT:
                await self._save_step(execution, step, "started")
            else:
                await self._check_lease(execution.id)
            begun = time.monotonic()
            try:
                result = await action(env)
            except LeaseLost:
                raise
            except StepFailed as exc:
                await self._fail_step(execution, step, str(exc))
                return
            except (CloudError, RuntimeError, OSError, TimeoutError) as exc:
                STEPS.labels(step.action, "retried").inc()
                if step.attempts >= self.config.max_step_attempts:
                    await self._fail_step(execution, step, f"{type(exc).__name__}: {exc}")
                    return
                log.warning("step %s of %s: %s; retrying", step.id, execution.id, exc)
                step.state = StepState.PENDING
                step.error = f"{type(exc).__name__}: {exc}"[:2000]
                await self._save_step(execution, step, None)
                await asyncio.sleep(self.config.step_backoff_seconds * step.attempts)
                return
            except Exception as exc:  # a bug or unexpected data: fail the step, never loop on it
                log.exception("step %s of %s failed unexpectedly", step.id, execution.id)
                await self._fail_step(execution, step, f"unexpected {type(exc).__name__}: {exc}")
                return
            STEP_SECONDS.labels(step.action).observe(time.monotonic() - begun)
        # Committed first, then visible: until the commit, the in-memory step stays RUNNING, so
        # the loop cannot start a step that depends on it (a SIGKILL between the two would leave
        # a dependent's side effects behind an uncommitted prerequisite).
        finished = dataclasses.replace(
            step,
            state=StepState.SUCCEEDED,
            result=result,
            error=None,
            finished_at=datetime.now(UTC),
        )
        plan_state = result.get("plan_state") if step.action == "commit" else None
        if step.action == "final-sync":
            taken = [cp.taken_at for cp in env.cps.values()]
            if taken:
                execution.recovery_point = min(taken)
        await self._save_step(execution, finished, "succeeded", plan_state=plan_state)
        step.state, step.result = finished.state, finished.result
        step.error, step.finished_at = None, finished.finished_at
        env.results[step.id] = result
        if plan_state is not None:
            env.plan.state = PlanState.model_validate(plan_state)
        STEPS.labels(step.action, "succeeded").inc()
        self._committed_steps += 1
        if self.config.chaos_kill_after_step or (
            self._committed_steps == self.config.chaos_kill_at_step
        ):
            os.kill(os.getpid(), signal.SIGKILL)

    async def _fail_step(self, execution: Execution, step: Step, error: str) -> None:
        STEPS.labels(step.action, "failed").inc()
        step.state = StepState.FAILED
        step.error = error[:2000]
        step.finished_at = datetime.now(UTC)
        await self._save_step(execution, step, "failed")

    async def _save_step(
        self,
        execution: Execution,
        step: Step,
        status: Literal["started", "succeeded", "failed"] | None,
        *,
        plan_state: dict[str, Any] | None = None,
    ) -> None:
        async with self.db.transaction() as s:
            await self._fence(s, execution.id)
            repo = ExecutionRepository(s)
            await repo.save_step(execution.id, step)
            if step.id == "final-sync":
                await repo.save(execution)
            if plan_state is not None:
                plans = PlanRepository(s)
                plan = await plans.get(execution.plan_id, for_update=True)
                if plan is not None:
                    plan.state = PlanState.model_validate(plan_state)
                    plan.updated_at = datetime.now(UTC)
                    await plans.save(plan)
            if status is not None:
                # ``step`` may be the committed copy of a step still RUNNING in ``execution``
                done = sum(
                    1
                    for other in execution.steps
                    if (step.state.done if other.id == step.id else other.state.done)
                )
                total = len(execution.steps)
                if execution.id in self._projects:
                    project_id = self._projects[execution.id]
                else:
                    owner = await PlanRepository(s).get(execution.plan_id)
                    project_id = owner.spec.project_id if owner else None
                await add_to_outbox(
                    s,
                    [
                        self.runtime.envelope(
                            ExecutionStepProgressed(
                                execution_id=execution.id,
                                plan_id=execution.plan_id,
                                project_id=project_id,
                                execution_kind=execution.kind,
                                step=step.id[:255],
                                status=status,
                                done=done,
                                total=total,
                                at=datetime.now(UTC),
                            )
                        )
                    ],
                )

    async def _finish(self, execution: Execution, plan: Any, error: str | None) -> None:
        now = datetime.now(UTC)
        execution.state = ExecutionState.FAILED if error else ExecutionState.SUCCEEDED
        execution.error = error
        execution.finished_at = now
        began = execution.params.get("site_down_at")
        start = datetime.fromisoformat(began) if began else execution.created_at
        rto = (now - start).total_seconds()
        window = loss_window(execution, now)
        rpo = window.rpo_seconds
        execution.params["rto_seconds"] = rto
        execution.params["rpo_seconds"] = rpo
        execution.params["decision_seconds"] = window.decision_seconds
        execution.params["rpo_basis"] = window.basis
        if window.source_stopped_at is not None:
            execution.params["source_stopped_at"] = window.source_stopped_at.isoformat()
        if execution.kind == "test-failover" and not error:
            ready = next((s for s in execution.steps if s.id == "bubble-ready"), None)
            if ready is not None:
                execution.params["expires_at"] = ready.result.get("expires_at")
        async with self.db.transaction() as s:
            await self._fence(s, execution.id)
            repo = ExecutionRepository(s)
            await repo.save(execution)
            await repo.release(execution.id)
            if execution.kind == "test-cleanup" and not error:
                test = await repo.get(str(execution.params["test_id"]), steps=False)
                if test is not None:
                    test.params["torn_down"] = now.isoformat()
                    await repo.save(test)
            await add_to_outbox(
                s,
                [
                    self.runtime.envelope(
                        ExecutionCompleted(
                            execution_id=execution.id,
                            plan_id=execution.plan_id,
                            project_id=plan.spec.project_id if plan is not None else None,
                            execution_kind=execution.kind,
                            source_site=execution.source_site,
                            target_site=execution.target_site,
                            outcome="failed" if error else "succeeded",
                            groups=list(plan.spec.groups) if plan is not None else [],
                            recovery_point=execution.recovery_point,
                            rpo_seconds=rpo,
                            decision_seconds=window.decision_seconds,
                            source_stopped_at=window.source_stopped_at,
                            rto_seconds=rto,
                            error=error[:2000] if error else None,
                            completed_at=now,
                            protection=[] if error else finish.protection_of(execution),
                        ),
                        event_id=f"{execution.id[:100]}.completed",
                    )
                ],
            )
        EXECUTIONS.labels(execution.kind, execution.state.value).inc()
        self.kick.set()  # an evacuation waiting on this one moves on now
        log.info(
            "execution %s (%s) %s in %.1f s", execution.id, execution.kind, execution.state, rto
        )

    # --- the lease fence ----------------------------------------------------------------------
    async def _fence(self, session: AsyncSession, execution_id: str) -> None:
        """First statement of every transaction that records progress or stages an event: the
        lease must still be ours (then it is extended, and on PostgreSQL the row stays locked to
        our commit). Otherwise ``LeaseLost`` rolls the transaction back."""
        until = datetime.now(UTC) + self.lease
        if not await ExecutionRepository(session).hold(execution_id, self.config.runner_id, until):
            raise LeaseLost(execution_id)

    async def _check_lease(self, execution_id: str) -> None:
        """The fence alone, before a step whose side effect records nothing first."""
        async with self.db.transaction() as s:
            await self._fence(s, execution_id)

    # --- helpers the steps use ------------------------------------------------------------------
    async def _emit(self, execution_id: str, message: Message, event_id: str) -> None:
        async with self.db.transaction() as s:
            await self._fence(s, execution_id)
            seen = (
                await s.execute(sa.select(outbox.c.id).where(outbox.c.event_id == event_id))
            ).first()
            if seen is None:
                await add_to_outbox(s, [self.runtime.envelope(message, event_id=event_id)])

    async def _wait_cp(self, group: str, target: str, after: datetime, timeout: float) -> KnownCp:
        deadline = time.monotonic() + timeout
        while True:
            async with self.db.read() as s:
                cp = await CatalogRepository(s).newest_cp(group, target, after=after)
            if cp is not None:
                return cp
            if time.monotonic() > deadline:
                raise StepFailed(
                    f"no consistency point of {group} at {target} within {timeout:.0f} s"
                )
            await asyncio.sleep(0.25)


WaitCp = Callable[[str, str, datetime, float], Awaitable[KnownCp]]

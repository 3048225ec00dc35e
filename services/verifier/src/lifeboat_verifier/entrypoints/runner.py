"""The verifier's background loop: fire due schedules, drive runs (checks, teardown, verdict).

Each pass takes a run's lease (compare-and-set in the database) before working on it, so any
number of replicas can run this loop; a replica killed mid-run leaves a lease that expires and
another pass (its own after a restart, or another replica's) resumes the run from its phase.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_shared.cloud.settings import CloudDriverSettings
from lifeboat_shared.cloud.sites import SiteClouds
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.messages import SiteRef
from lifeboat_shared.persistence.outbox import add_to_outbox
from lifeboat_shared.service import ServiceRuntime
from lifeboat_verifier.adapters.guest import probe_for
from lifeboat_verifier.adapters.repository import TestRunRepository
from lifeboat_verifier.domain.model import CheckResult, CleanupStatus, RunPhase, TestRun
from lifeboat_verifier.domain.schedule import ScheduleClock
from lifeboat_verifier.service_layer import runs
from lifeboat_verifier.service_layer.checks import CheckEnv, run_checks
from lifeboat_verifier.service_layer.closing import close_run
from lifeboat_verifier.service_layer.starting import fire_due
from lifeboat_verifier.settings import VerifierSettings

log = logging.getLogger(__name__)


async def stage(
    runtime: ServiceRuntime, session: AsyncSession, run: TestRun, msgs: Sequence[Message], tag: str
) -> None:
    envelopes = [
        runtime.envelope(m, event_id=f"verifier.{run.test_id}.{tag}.{i}")
        for i, m in enumerate(msgs)
    ]
    if envelopes:
        await add_to_outbox(session, envelopes)


class RunDriver:
    def __init__(self, runtime: ServiceRuntime) -> None:
        settings = runtime.settings
        assert isinstance(settings, VerifierSettings)
        self.runtime = runtime
        self.s = settings
        self.owner = settings.resolved_runner_id()
        self.clock = ScheduleClock(settings.time_scale)
        self.clouds = SiteClouds(settings.clouds_yaml, CloudDriverSettings(poll_max_interval=0.5))
        self.busy: set[str] = set()

    async def pass_once(self) -> None:
        now = datetime.now(UTC)
        async with self.runtime.db.transaction() as s:
            for run, msgs in await fire_due(s, now, self.clock, self.s.failover_wait_seconds):
                await stage(self.runtime, s, run, msgs, "start")
                log.info("schedule fired run %s of %s", run.test_id, run.definition_id)
        async with self.runtime.db.read() as s:
            due = [i for i in await TestRunRepository(s).due_ids(now) if i not in self.busy]
        for test_id in due:
            async with self.runtime.db.transaction() as s:
                until = now + timedelta(seconds=self.s.lease_seconds)
                if not await TestRunRepository(s).lease(test_id, self.owner, now, until):
                    continue
            self.busy.add(test_id)
            asyncio.get_running_loop().create_task(self._drive(test_id))

    async def _drive(self, test_id: str) -> None:
        try:
            await self.drive(test_id)
        except Exception:
            log.exception("run %s: pass failed (retried next pass)", test_id)
        finally:
            self.busy.discard(test_id)

    async def drive(self, test_id: str) -> None:
        async with self.runtime.db.read() as s:
            run = await TestRunRepository(s).get(test_id)
        if run is None:
            return
        if run.phase is RunPhase.READY:
            specs = runs.check_specs(run)
            budget = sum(c.timeout_seconds * (c.retries + 1) + c.retry_delay_seconds * c.retries
                         for c in specs)  # fmt: skip
            now = datetime.now(UTC)
            async with self.runtime.db.transaction() as s:
                until = now + timedelta(seconds=self.s.lease_seconds + budget)
                await TestRunRepository(s).lease(test_id, self.owner, now, until)
            results = await self._check(run)
            async with self.runtime.db.transaction() as s:
                repo = TestRunRepository(s)
                current = await repo.get(test_id, for_update=True)
                if current is None or current.phase is not RunPhase.READY:
                    return
                runs.checks_done(current, results, datetime.now(UTC))
                await self._teardown_or_finish(s, repo, current)
            return
        async with self.runtime.db.transaction() as s:
            repo = TestRunRepository(s)
            current = await repo.get(test_id, for_update=True)
            if current is None:
                return
            if current.phase is RunPhase.REQUESTED:  # no bubble in time
                current.failover_error = "no BubbleReady within failover_wait_seconds"
                current.phase = RunPhase.CLEANING
            if current.phase is RunPhase.CLEANING:
                await self._teardown_or_finish(s, repo, current)

    async def _teardown_or_finish(
        self, s: AsyncSession, repo: TestRunRepository, run: TestRun
    ) -> None:
        now = datetime.now(UTC)
        if run.cleanup is CleanupStatus.CLEAN:
            await stage(self.runtime, s, run, await close_run(self.runtime, s, run, now), "done")
            await repo.save(run)
            await repo.due_now(run.test_id)
            return
        wait = runs.operator_grace(run, now)
        if wait is not None:
            # a bubble started by hand: its operator tears it down (or the orchestrator at its
            # timeout); the verifier asks for the teardown itself only once that has passed
            await repo.save(run)
            await repo.hold_until(run.test_id, wait)
            return
        if run.ready_at is None and run.cleanup_attempts >= runs.MAX_BLIND_CLEANUPS:
            # never a bubble, and the orchestrator answers no teardown: nothing to remove
            await stage(self.runtime, s, run, await close_run(self.runtime, s, run, now), "done")
            await repo.save(run)
            return
        msgs = runs.request_cleanup(run)
        await stage(self.runtime, s, run, msgs, f"cleanup-{run.cleanup_attempts}")
        await repo.save(run)
        await repo.hold_until(run.test_id, now + timedelta(seconds=self.s.cleanup_wait_seconds))

    async def _check(self, run: TestRun) -> list[CheckResult]:
        assert run.site_id is not None
        sites = {run.site_id} | {e["site_id"] for e in run.endpoints if e.get("site_id")}
        envs = {site: await self._env(run, site) for site in sorted(sites)}
        return await run_checks(runs.check_specs(run), run.endpoints, envs[run.site_id], envs)

    async def _env(self, run: TestRun, site_id: str) -> CheckEnv:
        """How checks reach one site of the bubble: its cloud and (cloudsim) guest probe."""
        cloud = self.s.site_clouds.get(site_id, site_id)
        return CheckEnv(
            project=await self.clouds.project(SiteRef(site_id=site_id, cloud=cloud)),
            probe=probe_for(self.s.guest_probes, site_id),
            hooks=dict(self.s.hooks),
            secrets=self.s.secrets(),
            run_id=run.test_id,
            plan_id=run.plan_id,
            site_id=site_id,
        )


async def verifier_runner(runtime: ServiceRuntime, stop: asyncio.Event) -> None:
    driver = RunDriver(runtime)
    try:
        while not stop.is_set():
            try:
                await driver.pass_once()
            except Exception:
                log.exception("verifier pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), driver.s.runner_interval_seconds)
    finally:
        await driver.clouds.aclose()

"""Verifier handlers: a bubble is ready; a test failover or a teardown completed."""

from __future__ import annotations

from lifeboat_shared.bus.handlers import HandlerContext, Handlers
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.contracts.messages import BubbleReady, ExecutionCompleted
from lifeboat_verifier.adapters.repository import TestRunRepository
from lifeboat_verifier.domain.model import CleanupStatus, RunPhase, TestRun
from lifeboat_verifier.service_layer import runs


def _emit(ctx: HandlerContext, run: TestRun, messages: list[Message], tag: str) -> None:
    for i, m in enumerate(messages):
        ctx.emit(m, event_id=f"verifier.{run.test_id}.{tag}.{i}")


async def on_bubble_ready(message: Message, ctx: HandlerContext) -> None:
    """The bubble of a run we asked for, or of one an operator started (a run without a
    definition); a second BubbleReady for the same test changes nothing."""
    assert isinstance(message, BubbleReady)
    repo = TestRunRepository(ctx.session)
    run = await repo.get(message.test_id, for_update=True)
    if run is None:
        run = TestRun(
            test_id=message.test_id,
            plan_id=message.plan_id,
            project_id=message.project_id,
            started_at=message.ready_at,
            started_by="orchestrator",
        )
        await repo.add(run)
    elif run.ready_at is not None:
        return
    run.site_id = message.site_id
    run.network_id = message.network_id
    run.server_ids = list(message.server_ids)
    run.endpoints = [e.model_dump() for e in message.endpoints] or [
        {"server_id": s, "name": ""} for s in message.server_ids
    ]
    run.ready_at = message.ready_at
    run.expires_at = message.expires_at
    if run.phase is RunPhase.DONE:
        # the bubble came after its run gave up waiting: nobody checks it; tear it down now
        # rather than leave it to the orchestrator's expiry
        _emit(ctx, run, runs.request_cleanup(run), f"late-cleanup-{run.cleanup_attempts}")
        await repo.save(run)
        return
    if run.phase is RunPhase.REQUESTED:
        run.phase = RunPhase.READY
    await repo.save(run)
    await repo.due_now(run.test_id)


async def on_execution_completed(message: Message, ctx: HandlerContext) -> None:
    assert isinstance(message, ExecutionCompleted)
    repo = TestRunRepository(ctx.session)
    if message.execution_kind == "test-failover":
        run = await repo.get(message.execution_id, for_update=True)
        if run is None:
            return
        if message.recovery_point is not None:
            run.cp_taken_at = message.recovery_point
        run.site_id = run.site_id or message.target_site
        if message.outcome != "succeeded":
            run.failover_error = (message.error or f"test failover {message.outcome}")[:2000]
            if run.phase is RunPhase.REQUESTED:
                run.phase = RunPhase.CLEANING  # a partial bubble may exist: tear it down
                if (message.error or "").startswith("rejected:"):
                    # the orchestrator refused to start it: nothing was made, nothing to remove
                    run.cleanup = CleanupStatus.CLEAN
                await repo.due_now(run.test_id)
        await repo.save(run)
        return
    if message.execution_kind != "test-cleanup":
        return
    test_id = runs.test_id_of_cleanup(message.execution_id)
    run = await repo.get(test_id, for_update=True) if test_id else None
    if run is None or run.cleanup is CleanupStatus.CLEAN:
        return
    if message.outcome == "succeeded":
        run.cleanup = CleanupStatus.CLEAN
        run.removed_at = message.completed_at
        if run.phase is RunPhase.CLEANING:
            # the run driver finishes it (verdict, events and the signed report, which needs
            # the deployment's key) at once
            await repo.due_now(run.test_id)
    else:
        _emit(
            ctx,
            run,
            runs.cleanup_failed(run, message.error, message.completed_at),
            f"cleanup-{run.cleanup_attempts}",
        )
        await repo.due_now(run.test_id)
    await repo.save(run)


HANDLERS: Handlers = {BubbleReady: on_bubble_ready, ExecutionCompleted: on_execution_completed}

"""What an execution lost: the data-loss window (RPO) and the decision time, kept apart.

The window of an unplanned failover runs from the recovery point (the CP's ``taken_at``) to when
the source site stopped, not to when somebody started the failover: the minutes an operator takes
to decide lose no data (the site is down), and counting them overstated the loss (7.2 s reported
where 0.69 s of writes were lost). The time from the site stopping to the failover's start is the
decision time, reported beside it.

When the source stopped is known only from the outside: the last healthy probe is the last
moment it was seen alive (a probe interval before the first failed one); without one, the
declaration. A planned move (migration, failback) stops the servers first and recovers from a CP
taken after: its window is measured from the stops to that CP, and is 0 only if the final sync's
verified CP really came after every stop. Pure Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from lifeboat_orchestrator.domain.execution import Execution, StepState

StoppedBasis = Literal["last-healthy-probe", "declared-down", "failover-start"]


@dataclass(frozen=True)
class SourceStopped:
    at: datetime
    basis: StoppedBasis


def source_stopped(
    *,
    declared_down_at: datetime | None,
    last_healthy_at: datetime | None,
    recovery_point: datetime | None,
    start: datetime,
) -> SourceStopped:
    """When the source site stopped, as seen at the failover's ``start`` (never later).

    Not declared down: it may still be running, so the failover's start (the old figure). A last
    healthy probe older than the recovery point says nothing (the site took the CP's snapshot
    after it: the probes had stopped, not the site), so the declaration is used instead."""
    if declared_down_at is None:
        return SourceStopped(start, "failover-start")
    if last_healthy_at is not None and (
        recovery_point is None or last_healthy_at >= recovery_point
    ):
        return SourceStopped(min(last_healthy_at, start), "last-healthy-probe")
    return SourceStopped(min(declared_down_at, start), "declared-down")


@dataclass(frozen=True)
class LossWindow:
    rpo_seconds: float | None
    """From the recovery point to the source stopping (None without a recovery point)."""
    decision_seconds: float | None
    """From the source stopping to the execution's start (unplanned failover only)."""
    source_stopped_at: datetime | None
    basis: str | None
    """How the end of the window was known."""


def loss_window(execution: Execution, now: datetime) -> LossWindow:
    """The figures of a finishing execution (``params['source_stopped_*']`` recorded at start)."""
    rp = execution.recovery_point
    if rp is None and execution.params.get("stateless"):
        # UC8: a plan of stateless members only; nothing replicates, so no data can be lost.
        return LossWindow(0.0, None, None, "stateless")
    if rp is None:
        return LossWindow(None, None, None, None)
    if execution.kind in ("planned-migration", "failback"):
        return _planned(execution, rp, now)
    start = execution.created_at
    stopped, basis = start, "failover-start"
    recorded = execution.params.get("source_stopped_at")
    if execution.kind == "failover" and recorded:
        stopped = min(datetime.fromisoformat(str(recorded)), start)
        basis = str(execution.params.get("source_stopped_basis") or "declared-down")
    elif execution.params.get("site_down_at"):  # recorded before these figures existed
        stopped = min(datetime.fromisoformat(str(execution.params["site_down_at"])), start)
        basis = "declared-down"
    decision = (start - stopped).total_seconds() if execution.kind == "failover" else None
    return LossWindow(_seconds(stopped, rp), decision, stopped, basis)


def _planned(execution: Execution, rp: datetime, now: datetime) -> LossWindow:
    """Stopped when the last source server reached SHUTOFF (the stop step returned after); a
    stop that did not succeed leaves the servers possibly writing until now."""
    stops = [s for s in execution.steps if s.action == "stop-source"]
    if any(s.state is not StepState.SUCCEEDED or s.finished_at is None for s in stops):
        return LossWindow(_seconds(now, rp), None, None, "source-not-stopped")
    stopped = max((s.finished_at for s in stops if s.finished_at), default=execution.created_at)
    final = next((s for s in execution.steps if s.id == "final-sync"), None)
    verified = (
        final is not None and final.state is StepState.SUCCEEDED and bool(final.result.get("cps"))
    )
    if verified and rp >= stopped:
        return LossWindow(0.0, None, stopped, "final-sync-after-stop")
    return LossWindow(_seconds(stopped, rp), None, stopped, "measured")


def _seconds(end: datetime, rp: datetime) -> float:
    return max(0.0, (end - rp).total_seconds())

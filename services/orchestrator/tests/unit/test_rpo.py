"""The data-loss window and the decision time (``domain.rpo``), plain objects only: an unplanned
failover's window ends when the source stopped (its last healthy probe, else its declaration),
never at the failover's start; a planned move is 0 only when its final sync's CP came after the
servers stopped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lifeboat_orchestrator.domain.execution import Execution, Step, StepState
from lifeboat_orchestrator.domain.health import HealthRules, ProbeResult, SiteHealth
from lifeboat_orchestrator.domain.rpo import loss_window, source_stopped

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_last_healthy_probe_ends_the_window() -> None:
    stopped = source_stopped(
        declared_down_at=s(5), last_healthy_at=s(2), recovery_point=s(0), start=s(60)
    )
    assert (stopped.at, stopped.basis) == (s(2), "last-healthy-probe")


def test_without_a_probe_after_the_cp_the_declaration_ends_it() -> None:
    for last in (None, s(-30)):  # no probe, or the probes had stopped before the CP
        stopped = source_stopped(
            declared_down_at=s(5), last_healthy_at=last, recovery_point=s(0), start=s(60)
        )
        assert (stopped.at, stopped.basis) == (s(5), "declared-down")


def test_never_later_than_the_start_and_the_start_if_not_declared_down() -> None:
    late = source_stopped(
        declared_down_at=s(5), last_healthy_at=s(90), recovery_point=s(0), start=s(60)
    )
    assert late.at == s(60)
    up = source_stopped(
        declared_down_at=None, last_healthy_at=s(2), recovery_point=s(0), start=s(60)
    )
    assert (up.at, up.basis) == (s(60), "failover-start")


def test_the_health_state_remembers_the_last_healthy_probe_after_the_probes_are_forgotten() -> None:
    rules = HealthRules(down_after_failures=2, keep_probes=3)
    health = SiteHealth("site-a")
    health.observe_probe(ProbeResult(s(1), True), rules)
    for t in range(2, 10):
        health.observe_probe(ProbeResult(s(t), False), rules)
    assert all(not p.healthy for p in health.probes)
    assert health.last_healthy_at == s(1)


def _execution(kind: str, **params: object) -> Execution:
    return Execution(
        id="e",
        plan_id="p",
        kind=kind,  # type: ignore[arg-type]
        source_site="a",
        target_site="b",
        requested_by="t",
        created_at=s(60),
        recovery_point=s(0),
        params=dict(params),
    )


def test_failover_rpo_and_decision_time() -> None:
    e = _execution(
        "failover", source_stopped_at=s(2).isoformat(), source_stopped_basis="last-healthy-probe"
    )
    w = loss_window(e, s(100))
    assert (w.rpo_seconds, w.decision_seconds, w.basis) == (2.0, 58.0, "last-healthy-probe")
    # executions started before the figures existed: measured to the declaration, if any
    old = loss_window(_execution("failover", site_down_at=s(5).isoformat()), s(100))
    assert (old.rpo_seconds, old.decision_seconds) == (5.0, 55.0)
    assert loss_window(_execution("failover"), s(100)).rpo_seconds == 60.0


def _planned(cp_at: float, *, final: StepState = StepState.SUCCEEDED) -> Execution:
    e = _execution("failback")
    e.recovery_point = s(cp_at)
    e.steps = [
        Step("stop-source:x", "stop-source", 0, state=StepState.SUCCEEDED, finished_at=s(61)),
        Step("stop-source:y", "stop-source", 1, state=StepState.SUCCEEDED, finished_at=s(63)),
        Step("final-sync", "final-sync", 2, state=final, result={"cps": {"g": "cp"}}),
    ]
    return e


def test_a_planned_move_proves_0_with_a_final_cp_taken_after_the_stops() -> None:
    w = loss_window(_planned(64), s(100))
    assert (w.rpo_seconds, w.basis, w.source_stopped_at) == (0.0, "final-sync-after-stop", s(63))


def test_a_planned_move_whose_cp_came_before_a_stop_reports_the_window() -> None:
    w = loss_window(_planned(62), s(100))
    assert (w.rpo_seconds, w.basis) == (1.0, "measured")


def test_a_planned_move_whose_source_did_not_stop_is_measured_to_now() -> None:
    e = _planned(64)
    e.steps[1].state = StepState.FAILED
    w = loss_window(e, s(100))
    assert (w.rpo_seconds, w.basis) == (36.0, "source-not-stopped")

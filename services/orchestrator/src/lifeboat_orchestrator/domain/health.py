"""Site health hysteresis: when a stream of probe results and alerts becomes a declaration.

Declaring a site down can start a failover, so one bad probe, one noisy alert or a flapping
link must never do it. Pure Python with explicit clocks (every method takes the time), so the
rules are unit-tested without sleeping:

* DOWN when the last ``down_after_failures`` probes all failed (consecutive: one healthy probe
  in between resets the count, which is what keeps a flapping site up) and the oldest of them
  is within ``down_window_seconds``; or when an alert of at least ``alert_min_severity`` is
  firing and the newest probe failed within the window (an alert is only believed once a probe
  of our own confirms it).
* UP again after ``up_after_successes`` consecutive healthy probes spanning at least
  ``up_min_seconds``, and no qualifying alert still firing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

SEVERITY_RANK: Mapping[str, int] = {
    "none": 0,
    "debug": 0,
    "info": 1,
    "informational": 1,
    "notice": 1,
    "low": 1,
    "warning": 2,
    "warn": 2,
    "minor": 2,
    "medium": 2,
    "error": 3,
    "major": 3,
    "high": 3,
    "critical": 4,
    "page": 4,
    "fatal": 4,
    "emergency": 4,
    "disaster": 4,
}
"""Alertmanager has no fixed severity scale; these are the common names. Unknown names rank 0,
so an alert with a made-up severity can never take a site down."""


def severity_rank(severity: str) -> int:
    return SEVERITY_RANK.get(severity.strip().lower(), 0)


class Declared(StrEnum):
    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class HealthRules:
    """The hysteresis settings; the caller builds them from the service's settings."""

    down_after_failures: int = 3
    down_window_seconds: float = 30.0
    up_after_successes: int = 3
    up_min_seconds: float = 20.0
    alert_min_severity: str = "critical"
    keep_probes: int = 20
    """Recent probes kept per site (for the rules and the health view)."""

    def __post_init__(self) -> None:
        if self.down_after_failures < 1:
            raise ValueError("down_after_failures: must be at least 1")
        if self.up_after_successes < 1:
            raise ValueError("up_after_successes: must be at least 1")
        if self.down_window_seconds <= 0:
            raise ValueError("down_window_seconds: must be positive")
        if self.up_min_seconds < 0:
            raise ValueError("up_min_seconds: must not be negative")
        if severity_rank(self.alert_min_severity) == 0:
            raise ValueError(
                f"alert_min_severity: {self.alert_min_severity!r} is not a known severity "
                f"(one of {', '.join(k for k, v in SEVERITY_RANK.items() if v > 0)})"
            )
        if self.keep_probes < self.down_after_failures:
            raise ValueError("keep_probes: must be at least down_after_failures")

    @property
    def window(self) -> timedelta:
        return timedelta(seconds=self.down_window_seconds)

    def qualifies(self, severity: str) -> bool:
        return severity_rank(severity) >= severity_rank(self.alert_min_severity)


@dataclass(frozen=True)
class ProbeResult:
    at: datetime
    healthy: bool
    services: Mapping[str, bool] = field(default_factory=dict)
    detail: str = ""


@dataclass(frozen=True)
class Alert:
    alert_id: str
    source: str
    severity: str
    since: datetime
    last_seen: datetime
    detail: str = ""


@dataclass(frozen=True)
class Transition:
    """A declaration to emit (SiteDeclaredDown / SiteDeclaredUp)."""

    state: Declared
    at: datetime
    by: str
    reason: str


@dataclass
class SiteHealth:
    """One site's hysteresis state; persisted so that a restart keeps the counts."""

    site_id: str
    declared: Declared = Declared.UP
    declared_at: datetime | None = None
    declared_by: str | None = None
    reason: str | None = None
    probes: list[ProbeResult] = field(default_factory=list)
    """Recent probes, oldest first, at most ``rules.keep_probes``."""
    ok_run_count: int = 0
    ok_run_since: datetime | None = None
    """The current run of consecutive healthy probes (kept as counters: it may outgrow
    ``probes``)."""
    last_healthy_at: datetime | None = None
    """The newest healthy probe ever seen (kept apart from ``probes``, which forget): when a
    site was last seen alive, the end of a failover's data-loss window (``domain.rpo``)."""
    alerts: dict[str, Alert] = field(default_factory=dict)
    assessment: str = ""
    evaluated_at: datetime | None = None

    @property
    def last_probe(self) -> ProbeResult | None:
        return self.probes[-1] if self.probes else None

    def observe_probe(self, probe: ProbeResult, rules: HealthRules) -> Transition | None:
        """Record a probe result and re-evaluate; a probe older than the newest is ignored
        (it says nothing about the present)."""
        last = self.last_probe
        if last is not None and probe.at < last.at:
            return None
        self.probes.append(probe)
        del self.probes[: max(0, len(self.probes) - rules.keep_probes)]
        if probe.healthy:
            self.last_healthy_at = probe.at
            if self.ok_run_count == 0:
                self.ok_run_since = probe.at
            self.ok_run_count += 1
        else:
            self.ok_run_count, self.ok_run_since = 0, None
        return self.evaluate(probe.at, rules)

    def observe_alert(
        self,
        *,
        alert_id: str,
        source: str,
        firing: bool,
        severity: str,
        at: datetime,
        detail: str,
        rules: HealthRules,
    ) -> Transition | None:
        """Record an alert firing (again) or resolved, and re-evaluate."""
        current = self.alerts.get(alert_id)
        if firing:
            since = current.since if current is not None else at
            self.alerts[alert_id] = Alert(alert_id, source, severity, since, at, detail)
        else:
            self.alerts.pop(alert_id, None)
        return self.evaluate(at, rules)

    def qualifying_alerts(self, rules: HealthRules) -> list[Alert]:
        return sorted(
            (a for a in self.alerts.values() if rules.qualifies(a.severity)),
            key=lambda a: (a.since, a.alert_id),
        )

    def failure_run(self) -> list[ProbeResult]:
        """The newest probes that all failed, oldest first."""
        run: list[ProbeResult] = []
        for probe in reversed(self.probes):
            if probe.healthy:
                break
            run.append(probe)
        return run[::-1]

    def evaluate(self, at: datetime, rules: HealthRules) -> Transition | None:
        """Apply the rules at time ``at`` (never before the newest probe); returns the
        declaration to emit, if the declared state changes."""
        last = self.last_probe
        now = max(at, last.at) if last is not None else at
        self.evaluated_at = now
        transition = self._down(now, rules) if self.declared is Declared.UP else self._up(rules)
        if transition is not None:
            self.declared = transition.state
            self.declared_at, self.declared_by = transition.at, transition.by
            self.reason = transition.reason
        return transition

    def _down(self, now: datetime, rules: HealthRules) -> Transition | None:
        n = rules.down_after_failures
        run = self.failure_run()
        recent = [p for p in run if p.at >= now - rules.window]
        if len(recent) >= n:
            first = recent[-n]
            span = (recent[-1].at - first.at).total_seconds()
            reason = (
                f"{n} consecutive failed probes in {span:.1f} s "
                f"(window {rules.down_window_seconds:g} s): {recent[-1].detail}"
            )
            return self._declare(Declared.DOWN, now, "probe", reason)
        alerts = self.qualifying_alerts(rules)
        confirmed = bool(recent)  # the newest probe failed, within the window
        if alerts and confirmed:
            alert = alerts[0]
            reason = (
                f"alert {alert.alert_id} ({alert.severity}, {alert.source}) confirmed by a "
                f"failed probe: {alert.detail} / {recent[-1].detail}"
            )
            return self._declare(Declared.DOWN, now, _declarer(alert.source), reason)
        parts = [f"up; {len(recent)}/{n} consecutive failed probes within the window"]
        if alerts:
            parts.append(f"{len(alerts)} alert(s) firing, not confirmed by a failed probe")
        self.assessment = "; ".join(parts)
        return None

    def _up(self, rules: HealthRules) -> Transition | None:
        m = rules.up_after_successes
        last = self.last_probe
        span = 0.0
        if self.ok_run_count and self.ok_run_since is not None and last is not None:
            span = (last.at - self.ok_run_since).total_seconds()
        alerts = self.qualifying_alerts(rules)
        if (
            not alerts
            and last is not None
            and self.ok_run_count >= m
            and span >= rules.up_min_seconds
        ):
            reason = f"{self.ok_run_count} consecutive healthy probes over {span:.1f} s"
            return self._declare(Declared.UP, last.at, "probe", reason)
        parts = [
            f"down; {min(self.ok_run_count, m)}/{m} consecutive healthy probes over "
            f"{span:.1f}/{rules.up_min_seconds:g} s"
        ]
        if alerts:
            parts.append("alert(s) still firing: " + ", ".join(a.alert_id for a in alerts))
        self.assessment = "; ".join(parts)
        return None

    def _declare(self, state: Declared, at: datetime, by: str, reason: str) -> Transition:
        self.assessment = f"{state.value}: {reason}"
        return Transition(state, at, by, reason[:2000])


def _declarer(source: str) -> str:
    """SiteDeclaredDown's declared_by for an alert source."""
    return source if source in ("alertmanager", "external") else "external"

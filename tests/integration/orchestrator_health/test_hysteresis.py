"""The hysteresis rules on explicit clocks (pure domain, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lifeboat_orchestrator.domain.health import (
    Declared,
    HealthRules,
    ProbeResult,
    SiteHealth,
    Transition,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RULES = HealthRules(
    down_after_failures=3, down_window_seconds=30, up_after_successes=3, up_min_seconds=20
)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def probe(site: SiteHealth, seconds: float, healthy: bool) -> Transition | None:
    return site.observe_probe(ProbeResult(at(seconds), healthy, detail="503"), RULES)


def alert(
    site: SiteHealth, seconds: float, *, firing: bool = True, severity: str = "critical"
) -> Transition | None:
    return site.observe_alert(
        alert_id="fp1",
        source="alertmanager",
        firing=firing,
        severity=severity,
        at=at(seconds),
        detail="SiteUnreachable",
        rules=RULES,
    )


def test_three_failures_within_the_window_declare_down() -> None:
    site = SiteHealth("a")
    assert probe(site, 0, False) is None
    assert probe(site, 5, False) is None
    t = probe(site, 10, False)
    assert t is not None and t.state is Declared.DOWN and t.by == "probe"
    assert "3 consecutive failed probes" in t.reason
    assert site.declared is Declared.DOWN
    assert probe(site, 15, False) is None  # already down: declared once


def test_failures_spread_wider_than_the_window_do_not() -> None:
    site = SiteHealth("a")
    for s in (0, 20, 40, 60):  # consecutive, but never 3 within 30 s
        assert probe(site, s, False) is None
    assert site.declared is Declared.UP


def test_a_flapping_site_is_never_declared_down() -> None:
    site = SiteHealth("a")
    for i in range(40):  # 20 failures within 30 s, but never two in a row
        assert probe(site, i * 0.7, healthy=i % 2 == 1) is None
    assert site.declared is Declared.UP
    assert sum(not p.healthy for p in site.probes) >= 3


def test_an_alert_alone_does_not_declare_down() -> None:
    site = SiteHealth("a")
    probe(site, 0, True)
    assert alert(site, 1) is None
    assert probe(site, 5, True) is None
    assert site.declared is Declared.UP
    assert "not confirmed" in site.assessment


def test_an_alert_confirmed_by_one_failed_probe_declares_down() -> None:
    site = SiteHealth("a")
    probe(site, 0, True)
    alert(site, 1)
    t = probe(site, 5, False)
    assert t is not None and t.state is Declared.DOWN and t.by == "alertmanager"
    assert "fp1" in t.reason


def test_a_failed_probe_then_an_alert_declares_down_if_within_the_window() -> None:
    site = SiteHealth("a")
    probe(site, 0, False)
    t = alert(site, 10)
    assert t is not None and t.state is Declared.DOWN
    stale = SiteHealth("b")
    probe(stale, 0, False)
    assert alert(stale, 31) is None  # the failure is older than the window: not a confirmation


def test_an_alert_below_the_minimum_severity_is_not_enough() -> None:
    site = SiteHealth("a")
    alert(site, 0, severity="warning")
    assert probe(site, 1, False) is None
    alert(site, 2, severity="made-up")  # unknown severities rank lowest
    assert probe(site, 3, True) is None
    assert site.declared is Declared.UP


def down_site() -> SiteHealth:
    site = SiteHealth("a")
    for s in (0, 1, 2):
        probe(site, s, False)
    assert site.declared is Declared.DOWN
    return site


def test_up_needs_m_successes_spanning_t_up() -> None:
    site = down_site()
    assert probe(site, 10, True) is None
    assert probe(site, 11, True) is None
    assert probe(site, 12, True) is None  # 3 successes, but over 2 s < 20 s
    assert probe(site, 25, True) is None  # 19 s
    t = probe(site, 30, True)  # 20 s
    assert t is not None and t.state is Declared.UP and t.by == "probe"
    assert site.declared is Declared.UP


def test_up_needs_m_successes_even_over_a_long_time() -> None:
    site = down_site()
    assert probe(site, 10, True) is None
    assert probe(site, 40, True) is None  # 30 s span, only 2 successes
    t = probe(site, 41, True)
    assert t is not None and t.state is Declared.UP


def test_a_failure_restarts_the_healthy_run() -> None:
    site = down_site()
    for s in (10, 20, 25):
        probe(site, s, True)
    probe(site, 28, False)
    for s in (29, 40):
        assert probe(site, s, True) is None
    assert probe(site, 49, True) is not None  # 3 successes over 20 s after the failure


def test_a_firing_alert_keeps_a_site_down_until_resolved() -> None:
    site = down_site()
    alert(site, 3)
    for s in (10, 20, 30, 40):
        assert probe(site, s, True) is None
    assert "still firing" in site.assessment
    t = alert(site, 41, firing=False)
    assert t is not None and t.state is Declared.UP


def test_a_flapping_site_once_down_stays_down() -> None:
    site = down_site()
    for i in range(30):
        assert probe(site, 10 + i * 5, healthy=i % 2 == 0) is None
    assert site.declared is Declared.DOWN


def test_late_probes_are_ignored() -> None:
    site = SiteHealth("a")
    probe(site, 10, True)
    assert probe(site, 5, False) is None
    assert [p.at for p in site.probes] == [at(10)]


def test_history_is_bounded() -> None:
    site = SiteHealth("a")
    for i in range(100):
        probe(site, i, True)
    assert len(site.probes) == RULES.keep_probes
    assert site.ok_run_count == 100 and site.ok_run_since == at(0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"down_after_failures": 0}, "down_after_failures"),
        ({"up_after_successes": 0}, "up_after_successes"),
        ({"down_window_seconds": 0}, "down_window_seconds"),
        ({"alert_min_severity": "sometimes"}, "alert_min_severity"),
        ({"down_after_failures": 30, "keep_probes": 20}, "keep_probes"),
    ],
)
def test_rules_are_validated(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        HealthRules(**kwargs)  # type: ignore[arg-type]

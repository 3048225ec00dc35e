"""The verifier's pure parts: the scaled cron clock, check targets, bodies' 422s, the evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from lifeboat_verifier.adapters.guest import content_digest
from lifeboat_verifier.domain.definitions import CheckKind, CheckSpec
from lifeboat_verifier.domain.model import CheckResult, CleanupStatus, RunPhase, TestRun
from lifeboat_verifier.domain.schedule import ScheduleClock
from lifeboat_verifier.entrypoints.schemas import CheckIn, DefinitionIn
from lifeboat_verifier.service_layer import runs
from lifeboat_verifier.service_layer.checks import targets_of

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_a_weekly_cron_fires_once_a_week_or_once_a_second_scaled() -> None:
    real = ScheduleClock()
    first = real.next_fire("0 3 * * 0", T0, T0)
    assert first.weekday() == 6 and first.hour == 3 and first > T0
    assert real.next_fire("0 3 * * 0", first, T0) - first == timedelta(days=7)
    fast = ScheduleClock(time_scale=604800)
    a = fast.next_fire("0 3 * * 0", T0, T0)
    b = fast.next_fire("0 3 * * 0", a, T0)
    assert timedelta(0) < a - T0 <= timedelta(seconds=1)
    assert abs((b - a).total_seconds() - 1.0) < 1e-3


def test_targets_by_member_and_tier() -> None:
    endpoints = [
        {"server_id": "n1", "name": "shop-db", "source_server_id": "s1"},
        {"server_id": "n2", "name": "shop-web-1", "source_server_id": "s2"},
    ]
    boot = CheckSpec(name="b", kind=CheckKind.BOOT)
    assert [t.server_id for t in targets_of(boot, endpoints)] == ["n1", "n2"]
    db = CheckSpec(name="d", kind=CheckKind.DATA, tier="db")
    assert [t.server_id for t in targets_of(db, endpoints)] == ["n1"]
    web = CheckSpec(name="w", kind=CheckKind.TCP, member="s2", port=80)
    assert [t.server_id for t in targets_of(web, endpoints)] == ["n2"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "t", "kind": "tcp"}, "port"),
        ({"name": "c", "kind": "command", "command": "rm -rf /"}, "command"),
        ({"name": "h", "kind": "hook", "hook": "../x"}, "hook"),
        ({"name": "r", "kind": "http", "body_regex": "("}, "body_regex"),
        ({"name": "x", "kind": "ssh"}, "kind"),
    ],
)
def test_bad_checks_name_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as err:
        CheckIn.model_validate(body)
    assert field in str(err.value)


def test_bad_schedule_and_duplicate_checks() -> None:
    with pytest.raises(ValidationError, match="schedule"):
        DefinitionIn.model_validate({"name": "d", "plan_id": "p", "schedule": "weekly"})
    twice = [{"name": "b", "kind": "boot"}, {"name": "b", "kind": "boot"}]
    with pytest.raises(ValidationError, match="unique"):
        DefinitionIn.model_validate({"name": "d", "plan_id": "p", "checks": twice})


def test_finished_run_evidence_events_and_usage() -> None:
    run = TestRun(
        test_id="vt-1",
        plan_id="p1",
        site_id="site-b",
        project_id="demo",
        definition_id="td-1",
        phase=RunPhase.CLEANING,
        started_by="alice",
        started_at=T0,
        ready_at=T0 + timedelta(seconds=20),
        cp_taken_at=T0 - timedelta(seconds=90),
        server_ids=["n1", "n2"],
        cleanup=CleanupStatus.CLEAN,
        removed_at=T0 + timedelta(hours=1),
    )
    check = CheckResult("b", "boot", "n1", True, 2, T0, T0 + timedelta(seconds=30), "ok")
    runs.checks_done(run, [check], T0 + timedelta(seconds=30))
    messages = runs.finish(run, T0 + timedelta(hours=1))
    assert run.rto_seconds == 30 and run.rpo_seconds == 90
    names = [type(m).__name__ for m in messages]
    assert names == ["BubbleTestCompleted", "UsageRecorded", "UsageRecorded"]
    ev = run.evidence
    assert ev is not None and ev["passed"] and ev["cleanup_ok"]
    assert ev["checks"][0]["attempts"] == 2 and ev["site_ids"] == ["site-b"]
    assert set(ev) >= {"run_id", "definition_id", "cp_taken_at", "resources_removed"}
    check.passed, check.reason = False, "console log does not show the marker"
    run.phase = RunPhase.CLEANING
    failed = runs.finish(run, T0 + timedelta(hours=1))
    assert [type(m).__name__ for m in failed][:2] == [
        "BubbleTestCompleted",
        "BubbleTestAlertRaised",
    ]


def test_a_sparse_and_a_written_copy_hash_the_same(tmp_path: Path) -> None:
    sparse, full = tmp_path / "a", tmp_path / "b"
    with open(sparse, "wb") as f:
        f.truncate(8 << 20)
        f.seek(3 << 20)
        f.write(b"data")
    with open(full, "wb") as f:
        f.write(bytes(3 << 20) + b"data" + bytes((5 << 20) - 4))
    assert content_digest(sparse) == content_digest(full)
    with open(full, "r+b") as f:
        f.seek(6 << 20)
        f.write(b"rot")
    assert content_digest(sparse) != content_digest(full)


async def test_hook_checks_run_installed_hooks_by_name_only() -> None:
    from typing import Any, cast

    from lifeboat_shared.hooks import CommandHook
    from lifeboat_verifier.service_layer.checks import CheckEnv, Target, run_check

    env = CheckEnv(
        project=cast(Any, None),  # a hook check needs no cloud
        probe=None,
        hooks={
            "smoke": CommandHook(argv=["true"]),
            "broken": CommandHook(argv=["sh", "-c", "echo token=s3cret; exit 3"]),
        },
        secrets=[],
        run_id="vt-1",
        plan_id="p1",
        site_id="site-b",
    )
    target = Target("n1", "shop-db", "s1")

    def spec(hook: str) -> CheckSpec:
        return CheckSpec(name=hook, kind=CheckKind.HOOK, hook=hook, retries=1,
                         retry_delay_seconds=0)  # fmt: skip

    ok = await run_check(spec("smoke"), target, env)
    assert ok.passed and ok.attempts == 1
    bad = await run_check(spec("broken"), target, env)
    assert not bad.passed and bad.attempts == 2
    assert bad.reason and "exited 3" in bad.reason and "s3cret" not in bad.reason
    missing = await run_check(spec("nope"), target, env)
    assert missing.reason and "no command hook named 'nope'" in missing.reason
    no_probe = await run_check(CheckSpec(name="d", kind=CheckKind.DATA, retries=0), target, env)
    assert no_probe.reason and "no guest probe" in no_probe.reason


async def test_targets_of_a_linked_bubble_are_checked_through_their_own_site() -> None:
    from dataclasses import replace
    from typing import Any, cast

    from lifeboat_shared.hooks import CommandHook
    from lifeboat_verifier.service_layer.checks import CheckEnv, run_checks

    site_b = CheckEnv(
        project=cast(Any, None),
        probe=None,
        # passes only where it runs for site-c
        hooks={"where": CommandHook(argv=["sh", "-c", '[ "$LIFEBOAT_HOOK_SITE_ID" = site-c ]'])},
        secrets=[],
        run_id="vt-1",
        plan_id="p1",
        site_id="site-b",
    )
    site_c = replace(site_b, site_id="site-c")
    endpoints = [
        {"server_id": "app1", "name": "bubble-shop-app"},  # the event's site (site-b)
        {"server_id": "db1", "name": "bubble-shop-db", "site_id": "site-c"},
    ]
    spec = CheckSpec(name="where", kind=CheckKind.HOOK, hook="where", retries=0)
    results = await run_checks([spec], endpoints, site_b, {"site-b": site_b, "site-c": site_c})
    verdicts = {r.target: r.passed for r in results}
    assert [v for k, v in verdicts.items() if "app1" in k] == [False], results  # at site-b
    assert [v for k, v in verdicts.items() if "db1" in k] == [True], results  # at site-c


def test_a_tenants_catastrophic_pattern_is_stopped_not_run_forever() -> None:
    import time

    import pytest

    from lifeboat_verifier.service_layer.checks import CheckFailed, _matches

    assert _matches(r"ok \d+", "status: ok 200", "GET /")
    started = time.monotonic()
    with pytest.raises(CheckFailed, match="took over 1 s"):
        _matches(r"(x+x+)+y", "x" * 5000, "GET /")  # re would backtrack for hours
    assert time.monotonic() - started < 30

"""The link hysteresis and the partition rule (UC6), with explicit clocks."""

from datetime import UTC, datetime, timedelta

from lifeboat_orchestrator.domain.links import LinkRules, SiteLink, SiteSeen, partition_of

T0 = datetime(2026, 1, 1, tzinfo=UTC)
RULES = LinkRules(cut_after_failures=3, cut_window_seconds=60, probe_max_age_seconds=30)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_link_is_cut_by_consecutive_failures_within_the_window_only() -> None:
    link = SiteLink("a", "b")
    assert link.observe(False, at(0), "replicator:x", "refused", RULES) is None
    assert link.observe(True, at(1), "replicator:x", "sent", RULES) is None  # resets the run
    assert link.observe(False, at(2), "replicator:x", "refused", RULES) is None
    assert link.observe(False, at(3), "replicator:x", "refused", RULES) is None
    cut = link.observe(False, at(4), "replicator:x", "refused", RULES)
    assert cut is not None and not cut.reachable and link.since == at(4)
    assert not link.reachable and link.consecutive_failures == 3
    assert link.observe(False, at(3.5), "replicator:x", "late", RULES) is None  # older: ignored
    back = link.observe(True, at(5), "replicator:x", "sent", RULES)
    assert back is not None and back.reachable and link.reachable and link.since == at(5)

    slow = SiteLink("a", "b")
    for t in (0, 40, 80):  # three failures, but spread over more than the window
        assert slow.observe(False, at(t), "replicator:x", "refused", RULES) is None
    assert slow.reachable
    assert slow.observe(False, at(100), "replicator:x", "refused", RULES) is not None


def test_a_cut_link_is_a_partition_only_when_both_sites_are_up_and_probed_recently() -> None:
    link = SiteLink("a", "b")
    for t in range(3):
        link.observe(False, at(t), "replicator:x", "refused", RULES)
    now = at(10)
    up = {s: SiteSeen(s, "up", at(5)) for s in ("a", "b")}
    assert partition_of(link, up, now, RULES)[0]
    down_b = {**up, "b": SiteSeen("b", "down", at(5))}
    partitioned, why = partition_of(link, down_b, now, RULES)
    assert not partitioned and "b is down" in why
    stale = {**up, "a": SiteSeen("a", "up", at(-60))}
    assert not partition_of(link, stale, now, RULES)[0]
    assert not partition_of(link, {"a": up["a"]}, now, RULES)[0]  # b never seen

"""Which recovery sites can take a plan (UC3a x UC9), and how an evacuation ends."""

from __future__ import annotations

from datetime import UTC, datetime

from lifeboat_orchestrator.domain.targets import (
    CpHere,
    SiteCoverage,
    group_of,
    lacking,
    leg_id,
    qualifying,
    why_none,
)
from lifeboat_orchestrator.service_layer.evacuation import outcome

CP = CpHere("cp-1", datetime(2026, 1, 1, tzinfo=UTC))


def test_a_site_qualifies_only_with_a_cp_of_every_group() -> None:
    b = SiteCoverage("site-b", {"g1": CP, "g2": None})
    c = SiteCoverage("site-c", {"g1": CP, "g2": CP})
    d = SiteCoverage("site-d", {"g1": CP, "g2": CP})
    assert qualifying([b, c, d]) == ["site-c", "site-d"]
    assert lacking(b) == "site-b has no verified consistency point of group g2"
    assert qualifying([b]) == []
    none = SiteCoverage("site-e", {"g1": None, "g2": None})
    assert why_none([b, none]) == (
        "site-b has no verified consistency point of group g2; "
        "site-e has no verified consistency point of groups g1, g2"
    )
    assert why_none([]) == "no recovery site to choose from"


def test_a_plan_of_stateless_groups_qualifies_everywhere() -> None:
    assert qualifying([SiteCoverage("site-b", {}), SiteCoverage("site-c", {})]) == [
        "site-b",
        "site-c",
    ]


def test_a_planned_migration_may_go_where_the_group_replicates_to() -> None:
    """Its final sync takes the CP there, so none is needed beforehand."""
    b = SiteCoverage("site-b", {"g1": None}, frozenset({"g1"}))
    c = SiteCoverage("site-c", {"g1": None})
    assert qualifying([b, c]) == []
    assert qualifying([b, c], planned=True) == ["site-b"]
    assert why_none([c], planned=True) == "site-c has no verified consistency point of group g1"


def test_an_evacuation_leaving_plans_behind_is_incomplete() -> None:
    assert outcome(["succeeded", "succeeded"], 0) == "succeeded"
    assert outcome(["succeeded", "succeeded"], 1) == "incomplete"
    assert outcome(["succeeded", "rejected"], 1) == "failed"
    assert outcome(["failed"], 0) == "failed"


def test_a_legs_cp_is_its_groups_cp_at_that_site() -> None:
    assert leg_id("g1", "site-c") == "g1:site-c"
    assert group_of("g1:site-c", "site-c") == "g1"
    assert group_of("g1", "site-c") == "g1"
    assert group_of("g1:site-b", "site-c") == "g1:site-b"  # not a leg to where the CP is
    assert group_of(":site-c", "site-c") == ":site-c"

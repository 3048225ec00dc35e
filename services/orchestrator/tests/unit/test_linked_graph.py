"""Linked bubble tests (UC3b), pure parts: the step graph over two DR sites (one network step per
site, the link before any tier, members at their group's site, a teardown per site) and the
overlap rule that refuses to link bubbles whose CIDRs clash."""

from __future__ import annotations

from lifeboat_orchestrator.domain.execution import LinkedSites, build_steps
from lifeboat_orchestrator.domain.plan import PlanSpec
from lifeboat_orchestrator.service_layer.steps.link import overlaps

A, B, C = "site-a", "site-b", "site-c"
APP, DB = "app-server", "db-server"


def spec() -> PlanSpec:
    return PlanSpec(
        name="shop",
        project_id="demo",
        groups=["g-app", "g-db"],
        source_site=A,
        target_sites=[B, C],
        tiers=[
            {"name": "db", "servers": [DB]},  # type: ignore[list-item]
            {"name": "app", "servers": [APP], "depends_on": ["db"]},  # type: ignore[list-item]
        ],
    )


def test_linked_graph_spans_both_sites() -> None:
    linked = LinkedSites(servers={APP: B, DB: C}, networks={B: ["n-app"], C: ["n-db"]})
    steps = {s.id: s for s in build_steps("test-failover", spec(), A, B, linked)}
    assert (steps["network"].site, steps["network"].params["networks"]) == (B, ["n-app"])
    assert (steps[f"network@{C}"].site, steps[f"network@{C}"].params["networks"]) == (C, ["n-db"])
    link = steps["link-bubbles"]
    assert link.depends_on == ["network", f"network@{C}"] and link.params["sites"] == [B, C]
    assert "link-bubbles" in steps["tier:db:pre"].depends_on
    assert steps[f"recover:{DB}"].site == C and steps[f"recover:{APP}"].site == B
    cleanup = build_steps("test-cleanup", spec(), A, B, LinkedSites(networks={B: [], C: []}))
    assert [(s.id, s.site) for s in cleanup] == [("teardown", B), (f"teardown@{C}", C)]
    # Without a split nothing changes: one network step, no link.
    plain = {s.id for s in build_steps("test-failover", spec(), A, B)}
    assert "network" in plain and "link-bubbles" not in plain


def test_overlapping_bubbles_are_named() -> None:
    assert overlaps({B: ["10.61.0.0/24"], C: ["10.62.0.0/24"]}) == []
    assert overlaps({B: ["10.0.0.0/16"], C: ["10.0.5.0/24", "10.9.0.0/24"]}) == [
        f"{B} 10.0.0.0/16 overlaps {C} 10.0.5.0/24"
    ]

"""Which groups a recovery needs a consistency point of (UC8)."""

from __future__ import annotations

import pytest

from lifeboat_orchestrator.domain.plan import PlanSpec
from lifeboat_orchestrator.domain.protection import NO_PLAN_SERVER, NO_SERVERS, cp_need


def test_a_plan_without_servers_needs_no_cp_of_any_group() -> None:
    need = cp_need([], ["web", "set-1"], {"set-1": ["s1"]})
    assert need.needed == [] and need.not_needed == {"web": NO_SERVERS, "set-1": NO_SERVERS}


def test_a_group_protecting_none_of_the_servers_is_skipped_only_when_all_are_covered() -> None:
    # Every server's group is known: the stateless group (never ticked, no spec) needs no CP.
    need = cp_need(["s1", "s2"], ["db", "web"], {"db": ["s1", "s2"]})
    assert need.needed == ["db"] and need.not_needed == {"web": NO_PLAN_SERVER}
    # s2's group is not known yet: every group needs a CP (the safe answer).
    assert cp_need(["s1", "s2"], ["db", "web"], {"db": ["s1"]}).needed == ["db", "web"]
    # A known group with volumes of its own is needed even if it names no plan server.
    need = cp_need(["s1"], ["db", "vols"], {"db": ["s1"], "vols": []}, ["vols"])
    assert need.needed == ["db", "vols"] and need.not_needed == {}


def test_groups_may_be_empty_only_without_protected_servers() -> None:
    base = {"name": "p", "project_id": "demo", "source_site": "a", "target_sites": ["b"]}
    web = {"name": "web", "flavor": "m1", "image": "cirros", "network": "private"}
    assert PlanSpec.model_validate({**base, "tiers": [{"name": "t", "stateless": [web]}]})
    with pytest.raises(ValueError, match="groups: a plan with protected servers"):
        PlanSpec.model_validate({**base, "tiers": [{"name": "t", "servers": ["s1"]}]})

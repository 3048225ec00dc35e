"""Executions of recovery plans as persisted step graphs. Pure Python.

An execution is a set of steps with dependencies. Each step is one idempotent unit of work (its
cloud resources carry the execution and step ids, so running it twice finds what the first run
made); the runner persists a step's outcome before starting anything that depends on it. Killing
the orchestrator at any moment therefore loses at most the steps in flight, which run again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from lifeboat_orchestrator.domain.plan import PlanSpec, Tier, order_tiers, tier_dependencies

Kind = Literal[
    "failover",
    "planned-migration",
    "test-failover",
    "test-cleanup",
    "reprotect",
    "failback",
    "reconcile",
]


class ExecutionState(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def final(self) -> bool:
        return self is not ExecutionState.RUNNING


class StepState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def done(self) -> bool:
        return self in (StepState.SUCCEEDED, StepState.SKIPPED)


@dataclass
class Step:
    """One unit of an execution. ``action`` names the code that runs it; ``params`` what it
    needs; ``result`` what it made (ids of cloud resources), read by later steps."""

    id: str
    action: str
    seq: int
    depends_on: list[str] = field(default_factory=list)
    tier: str | None = None
    site: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    state: StepState = StepState.PENDING
    attempts: int = 0
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


@dataclass
class Execution:
    id: str
    plan_id: str
    kind: Kind
    source_site: str
    target_site: str
    requested_by: str
    created_at: datetime
    state: ExecutionState = ExecutionState.RUNNING
    consistency_point_id: str | None = None
    recovery_point: datetime | None = None
    params: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    finished_at: datetime | None = None
    steps: list[Step] = field(default_factory=list)

    def runnable(self) -> list[Step]:
        """Pending steps whose prerequisites all succeeded (or were skipped)."""
        done = {s.id for s in self.steps if s.state.done}
        return [
            s
            for s in self.steps
            if s.state is StepState.PENDING and all(d in done for d in s.depends_on)
        ]

    def progress(self) -> tuple[int, int]:
        return sum(1 for s in self.steps if s.state.done), len(self.steps)

    def step(self, step_id: str) -> Step:
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)


class _Graph:
    def __init__(self) -> None:
        self.steps: list[Step] = []

    def add(
        self,
        step_id: str,
        action: str,
        depends_on: list[str] | None = None,
        *,
        tier: str | None = None,
        site: str | None = None,
        **params: Any,
    ) -> str:
        self.steps.append(
            Step(
                id=step_id,
                action=action,
                seq=len(self.steps),
                depends_on=list(depends_on or []),
                tier=tier,
                site=site,
                params=params,
            )
        )
        return step_id


@dataclass(frozen=True)
class LinkedSites:
    """A bubble test spread over several DR sites (UC3b): where each protected server is
    recovered, and which captured networks each site's bubble copies (the first DR site of the
    execution, ``target``, holds everything not placed elsewhere)."""

    servers: dict[str, str] = field(default_factory=dict)
    networks: dict[str, list[str]] = field(default_factory=dict)

    def sites(self, target: str) -> list[str]:
        return [target, *sorted(s for s in self.networks if s != target)]


def network_step(site: str, target: str) -> str:
    """The id of the step that makes ``site``'s (bubble) network."""
    return "network" if site == target else f"network@{site}"


def _recovery(
    g: _Graph,
    plan: PlanSpec,
    target: str,
    after: list[str],
    *,
    bubble: bool,
    linked: LinkedSites | None = None,
) -> list[str]:
    """Network, then tiers in dependency order (pre hooks, members in parallel, post hooks).
    ``linked``: one bubble network per site, then ``link-bubbles`` before any tier."""
    action = "bubble-network" if bubble else "network"
    if linked is None:
        net = g.add("network", action, after, site=target)
    else:
        nets = [
            g.add(network_step(s, target), action, after, site=s, networks=linked.networks[s])
            for s in linked.sites(target)
        ]
        net = g.add("link-bubbles", "link-bubbles", nets, sites=linked.sites(target))
    where = linked.servers if linked is not None else {}
    tier_done: dict[str, str] = {}
    deps = tier_dependencies(plan.tiers)
    tiers = {t.name: t for t in plan.tiers}
    for name in order_tiers(plan.tiers):
        tier = tiers[name]
        before = [net] + [tier_done[d] for d in deps[name]]
        start = g.add(f"tier:{name}:pre", "hooks", before, tier=name, site=target, when="pre")
        restores = {
            v.volume_id: g.add(
                f"volume:{v.volume_id}",
                "restore-volume",
                [start],
                tier=name,
                site=target,
                volume=v.volume_id,
            )
            for v in tier.volumes
        }
        members = [
            g.add(
                f"recover:{sid}",
                "recover",
                [start],
                tier=name,
                site=where.get(sid, target),
                server=sid,
            )
            for sid in tier.servers
        ]
        members += [r for v, r in restores.items() if not _attached(tier, v)]
        for member in tier.stateless:
            disks = [restores[v.volume_id] for v in tier.volumes if v.attach_to == member.name]
            for i in range(member.count):
                members.append(
                    g.add(
                        f"stateless:{member.name}-{i}",
                        "stateless",
                        [start, *disks],
                        tier=name,
                        site=target,
                        member=member.name,
                        index=i,
                    )
                )
        tier_done[name] = g.add(
            f"tier:{name}:post", "hooks", members, tier=name, site=target, when="post"
        )
    return list(tier_done.values())


def _attached(tier: Tier, volume_id: str) -> bool:
    return any(v.volume_id == volume_id and v.attach_to for v in tier.volumes)


def build_steps(
    kind: Kind, plan: PlanSpec, source: str, target: str, linked: LinkedSites | None = None
) -> list[Step]:
    """The step graph of one execution of ``plan`` from ``source`` to ``target``; ``linked``:
    a bubble test (and its cleanup) spread over several DR sites."""
    g = _Graph()
    servers = plan.servers
    if kind == "failover":
        tiers = _recovery(g, plan, target, [], bubble=False)
        dns = g.add("dns", "dns", tiers, site=target)
        g.add("commit", "commit", [dns])
    elif kind in ("planned-migration", "failback"):
        # Stop first, then sync: nothing can be written after the final consistency point.
        stops = [
            g.add(f"stop-source:{sid}", "stop-source", [], site=source, server=sid)
            for sid in servers
        ]
        sync = g.add("final-sync", "final-sync", stops, site=source)
        tiers = _recovery(g, plan, target, [sync], bubble=False)
        dns = g.add("dns", "dns", tiers, site=target)
        releases: list[str] = []
        if kind == "failback":
            # The stopped DR copy's servers go (their ports hold the addresses the next
            # failover wants); their volumes stay as the forward groups' seeds.
            releases = [
                g.add(
                    f"release-dr:{sid}",
                    "release-old",
                    tiers,
                    site=source,
                    server=sid,
                    copy="placement",
                )
                for sid in servers
            ]
        g.add("commit", "commit", [dns, *releases])
    elif kind == "test-failover":
        tiers = _recovery(g, plan, target, [], bubble=True, linked=linked)
        g.add("bubble-ready", "bubble-ready", tiers, site=target)
    elif kind == "test-cleanup":
        g.add("teardown", "teardown", [], site=target)
        for site in (linked.sites(target) if linked else [])[1:]:
            g.add(f"teardown@{site}", "teardown", [], site=site)
    elif kind == "reprotect":
        # The workload runs at ``source`` (where it failed over to); ``target`` (the old
        # protected site) becomes its recovery site: keep what diverged there, free its old
        # volumes as seeds, and replicate back the differences only.
        releases = []
        for sid in servers:
            keep = g.add(f"keep-divergent:{sid}", "keep-divergent", [], site=target, server=sid)
            releases.append(
                g.add(f"release-old:{sid}", "release-old", [keep], site=target, server=sid)
            )
        sync = g.add("reverse-sync", "reverse-sync", releases, site=source)
        g.add("commit", "commit", [sync])
    elif kind == "reconcile":
        # The losing copy stops first, so its snapshots hold everything it wrote; then the
        # snapshots (both sides under keep-both), then the resolution.
        keeps = []
        for sid in servers:
            stop = g.add(f"stop-losing:{sid}", "stop-losing", [], server=sid)
            keeps.append(g.add(f"keep-divergent:{sid}", "keep-divergent", [stop], server=sid))
        resolve = g.add("resolve", "resolve", keeps)
        g.add("commit", "commit", [resolve])
    else:  # pragma: no cover - Kind is a closed Literal
        raise ValueError(kind)
    return g.steps

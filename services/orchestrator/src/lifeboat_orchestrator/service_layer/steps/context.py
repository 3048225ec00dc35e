"""What a step's action sees: its execution, plan, step, the clouds, earlier steps' results, and a
way to emit events and wait for consistency points (both through the database)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lifeboat_orchestrator.adapters.catalog import KnownCp, KnownSite
from lifeboat_orchestrator.adapters.plans import Plan
from lifeboat_orchestrator.domain.execution import Execution, Step, network_step
from lifeboat_shared.cloud import CloudProject, LifeboatTag
from lifeboat_shared.cloud.sites import SiteClouds
from lifeboat_shared.contracts.base import Message
from lifeboat_shared.hooks import HookHost


class StepFailed(Exception):
    """The step cannot succeed by retrying (bad plan, missing resource): fail the execution."""


@dataclass
class StepEnv:
    execution: Execution
    plan: Plan
    step: Step
    clouds: SiteClouds
    sites: dict[str, KnownSite]
    results: dict[str, dict[str, Any]]
    emit: Callable[[Message, str], Awaitable[None]]
    """Write an event to the outbox now (own transaction); the id makes re-runs no-ops."""
    wait_cp: Callable[[str, str, datetime, float], Awaitable[KnownCp]]
    """(group, target site, taken after, timeout) -> the first such CP the catalog learns of."""
    cps: dict[str, KnownCp]
    """The CPs this execution recovers from, by group."""
    sync_timeout: float = 600.0
    flavors: dict[tuple[str, str], str] = field(default_factory=dict)
    """(site, flavor name) -> id, shared by the steps of one execution (one lookup, not N)."""
    hooks: HookHost = field(default_factory=HookHost)
    """Tier hooks: installed command hooks, webhook egress policy, secrets to mask."""

    @property
    def fresh(self) -> bool:
        """First run of this step: nothing it creates can exist yet, so creations skip the
        find-before-create list call (a re-run after a crash, attempts > 1, still finds)."""
        return self.step.attempts <= 1

    @property
    def site(self) -> str:
        """Where this step works: its own site (a linked bubble test spans several DR sites),
        else the execution's target."""
        return self.step.site or self.execution.target_site

    def network(self) -> dict[str, Any]:
        """The result of the network step of this step's site."""
        return self.result_of(network_step(self.site, self.execution.target_site))

    async def flavor_id(self, project: CloudProject, name: str) -> str:
        key = (self.site, name)
        if key not in self.flavors:
            flavor = await project.compute.find_flavor(name)
            self.flavors[key] = flavor.id or name
        return self.flavors[key]

    def tag(self, key: str) -> LifeboatTag:
        return LifeboatTag(op=self.execution.id[:60], step=_short(self.step.id), key=_short(key))

    async def project(self, site_id: str) -> CloudProject:
        site = self.sites.get(site_id)
        if site is None:
            raise StepFailed(f"site {site_id} is not in the site registry")
        return await self.clouds.project(site.ref)

    def result_of(self, step_id: str) -> dict[str, Any]:
        return self.results.get(step_id, {})


def _short(value: str) -> str:
    """Tags allow 60 characters; step ids embed a server id (36) after a short prefix."""
    return value if len(value) <= 60 else value[-60:]


Action = Callable[[StepEnv], Awaitable[dict[str, Any]]]

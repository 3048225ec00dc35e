"""UC4: take a consistency point when a protected VM shuts down or a volume is detached from it.

A background pass reads the protected servers of every group whose policy asks for it (one list
call per source site, through the cloud driver) and compares each server with what the previous
pass saw: ACTIVE -> SHUTOFF asks for a CP with trigger ``shutdown``; a volume gone from a server
asks for one with trigger ``detach`` that names the detached volume explicitly (it is no longer
attached, so expanding the server would miss it). What the previous pass saw lives in memory:
after a restart the first pass only records (a transition during the downtime is not acted on;
the regular RPO ticks still cover it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from lifeboat_policy.adapters.catalog import CatalogRepository
from lifeboat_policy.adapters.repository import GroupRepository
from lifeboat_policy.service_layer import control
from lifeboat_policy.service_layer.errors import Conflict
from lifeboat_shared.cloud import CloudDriver, CloudError, SiteConfig
from lifeboat_shared.contracts.messages.protection import Trigger
from lifeboat_shared.service.runtime import ServiceRuntime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Seen:
    status: str
    volumes: frozenset[str]


@dataclass
class MemberWatcher:
    runtime: ServiceRuntime
    clouds_yaml: Path | None
    seen: dict[str, Seen] = field(default_factory=dict)
    _drivers: dict[tuple[str, str], CloudDriver] = field(default_factory=dict)

    async def _servers(self, site_id: str, cloud: str) -> dict[str, Seen]:
        key = (site_id, cloud)
        if key not in self._drivers:
            config = SiteConfig(name=site_id, cloud=cloud, clouds_yaml=self.clouds_yaml)
            self._drivers[key] = CloudDriver([config])
        project = await self._drivers[key].project(site_id)
        return {
            s.id: Seen(s.status, frozenset(s.volume_ids))
            for s in await project.compute.list_servers()
        }

    async def pass_once(self) -> list[tuple[str, str]]:
        """One look at every watched server; returns the (group, trigger) CPs asked for."""
        async with self.runtime.db.read() as session:
            catalog = CatalogRepository(session)
            sites = await catalog.sites()
            watched = []
            for group in await GroupRepository(session).query():
                if group.suspended or not group.members.servers:
                    continue
                policy = await catalog.get_policy(group.policy_id)
                flags = policy.spec.get("replicate_on", {}) if policy else {}
                if flags.get("shutdown") or flags.get("detach"):
                    watched.append((group, flags))
        asked: list[tuple[str, str]] = []
        by_site: dict[str, dict[str, Seen]] = {}
        for group, flags in watched:
            site = sites.get(group.source_site)
            if site is None:
                continue
            if site.site_id not in by_site:
                try:
                    by_site[site.site_id] = await self._servers(site.site_id, site.cloud)
                except CloudError as exc:
                    log.warning("member watch: site %s unreachable: %s", site.site_id, exc)
                    by_site[site.site_id] = {}
                    continue
            now_seen = by_site[site.site_id]
            for server_id in group.members.servers:
                current = now_seen.get(server_id)
                before = self.seen.get(server_id)
                if current is None:
                    continue
                self.seen[server_id] = current
                if before is None:
                    continue
                if (
                    flags.get("shutdown")
                    and before.status == "ACTIVE"
                    and current.status == "SHUTOFF"
                ):
                    await self._ask(group.id, "shutdown", [], asked)
                gone = sorted(before.volumes - current.volumes)
                if flags.get("detach") and gone:
                    await self._ask(group.id, "detach", gone, asked)
        return asked

    async def _ask(
        self,
        group_id: str,
        trigger: Trigger,
        volumes: list[str],
        asked: list[tuple[str, str]],
    ) -> None:
        try:
            await control.replicate_now(
                self.runtime,
                group_id,
                by="lifeboat-member-watch",
                request_id=None,
                trigger=trigger,
                extra_volumes=volumes,
            )
            asked.append((group_id, trigger))
        except Conflict as exc:  # suspended meanwhile, or the policy changed
            log.info("member watch: no CP for %s on %s: %s", group_id, trigger, exc)

    async def aclose(self) -> None:
        for driver in self._drivers.values():
            await driver.aclose()
        self._drivers.clear()

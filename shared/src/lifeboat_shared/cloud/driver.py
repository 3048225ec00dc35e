"""The cloud driver's entry point: sites in, per-(site, project) API facades out.

    driver = CloudDriver([SiteConfig(name="dr", cloud="dr", clouds_yaml=path)])
    dr = await driver.project("dr")                # the project from clouds.yaml
    tenant = await driver.project("dr", "tenant-a")  # same site, another project
    inv = await dr.inventory()
    vol = await dr.block_storage.create_volume(10, name="db", tag=LifeboatTag(...))
    await driver.aclose()

One openstacksdk Connection per (site, project), built lazily in a worker thread; one bounded
thread pool per site shared by all its projects.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

import openstack.connection

from lifeboat_shared.cloud import models
from lifeboat_shared.cloud.block_storage import BlockStorageAPI
from lifeboat_shared.cloud.compute import ComputeAPI
from lifeboat_shared.cloud.connection import SiteConfig, connect
from lifeboat_shared.cloud.context import ProjectContext
from lifeboat_shared.cloud.dns import DnsAPI
from lifeboat_shared.cloud.errors import InvalidInput
from lifeboat_shared.cloud.executor import SiteExecutor
from lifeboat_shared.cloud.image import ImageAPI
from lifeboat_shared.cloud.inventory import InventoryAPI
from lifeboat_shared.cloud.network import NetworkAPI
from lifeboat_shared.cloud.settings import CloudDriverSettings
from lifeboat_shared.cloud.vpn import VpnAPI


def _catalog(conn: openstack.connection.Connection) -> models.AuthInfo:
    """Blocking: authenticate and read the token's service catalog."""
    session = conn.session
    auth: Any = session.auth
    access = auth.get_access(session)
    endpoints: list[models.CatalogEndpoint] = []
    for service in access.service_catalog.catalog or ():
        for ep in service.get("endpoints", ()):
            endpoints.append(
                models.CatalogEndpoint(
                    service_type=str(service.get("type", "")),
                    interface=str(ep.get("interface", "")),
                    region=ep.get("region_id") or ep.get("region"),
                    url=str(ep.get("url", "")),
                )
            )
    return models.AuthInfo(
        project_id=str(access.project_id),
        user_id=access.user_id,
        region=conn.config.get_region_name(),
        endpoints=tuple(endpoints),
        project_name=access.project_name,
    )


class CloudProject:
    """Everything Lifeboat does in one project of one site."""

    def __init__(self, ctx: ProjectContext) -> None:
        self.context = ctx
        self.compute = ComputeAPI(ctx)
        self.block_storage = BlockStorageAPI(ctx)
        self.network = NetworkAPI(ctx)
        self.vpn = VpnAPI(ctx)
        self.dns = DnsAPI(ctx)
        self.image = ImageAPI(ctx)
        self._inventory = InventoryAPI(ctx)

    @property
    def site(self) -> str:
        return self.context.site

    async def check_auth(self) -> models.AuthInfo:
        """Authenticate and return the catalog: the first thing a site health probe checks."""
        return await self.context.call(f"authenticate to {self.site}", _catalog, self.context.conn)

    async def inventory(self) -> models.Inventory:
        return await self._inventory.inventory()

    @property
    def last_inventory_timings(self) -> dict[str, float]:
        return dict(self._inventory.last_timings)


class CloudDriver:
    """Holds the sites, their thread pools and their connections."""

    def __init__(
        self, sites: Iterable[SiteConfig], settings: CloudDriverSettings | None = None
    ) -> None:
        self.settings = settings or CloudDriverSettings()
        self._sites = {s.name: s for s in sites}
        self._executors: dict[str, SiteExecutor] = {}
        self._projects: dict[tuple[str, str | None], CloudProject] = {}
        self._lock = asyncio.Lock()

    @property
    def site_names(self) -> tuple[str, ...]:
        return tuple(self._sites)

    def _executor(self, site: str) -> SiteExecutor:
        if site not in self._executors:
            self._executors[site] = SiteExecutor(site, self.settings.max_workers_per_site)
        return self._executors[site]

    async def project(self, site: str, project: str | None = None) -> CloudProject:
        """The facade for `project` (a name; None = the project in the site's config)."""
        if site not in self._sites:
            raise InvalidInput(f"unknown site {site!r}; known: {sorted(self._sites)}")
        key = (site, project)
        async with self._lock:
            if key not in self._projects:
                executor = self._executor(site)
                conn = await executor.run(
                    f"connect to site {site!r}",
                    connect,
                    self._sites[site],
                    project,
                    timeout=self.settings.http_timeout,
                )
                ctx = ProjectContext(
                    site=site,
                    project=project,
                    conn=conn,
                    executor=executor,
                    settings=self.settings,
                )
                self._projects[key] = CloudProject(ctx)
            return self._projects[key]

    async def aclose(self) -> None:
        """Close every connection and stop the thread pools."""
        async with self._lock:
            projects = list(self._projects.values())
            self._projects.clear()
            for proj in projects:
                with contextlib.suppress(Exception):  # closing is best effort
                    await proj.context.executor.run("close connection", proj.context.conn.close)
            for executor in self._executors.values():
                executor.shutdown()
            self._executors.clear()

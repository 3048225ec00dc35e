"""Cloud access per site for services that learn their sites at run time (from SiteRef values in
events, not from settings): one CloudDriver per (site, clouds.yaml cloud), made on first use."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lifeboat_shared.cloud.connection import SiteConfig
from lifeboat_shared.cloud.driver import CloudDriver, CloudProject
from lifeboat_shared.cloud.settings import CloudDriverSettings
from lifeboat_shared.contracts.messages import SiteRef


class SiteClouds:
    def __init__(
        self, clouds_yaml: Path | None, settings: CloudDriverSettings | None = None
    ) -> None:
        self._clouds_yaml = clouds_yaml
        self._settings = settings
        self._drivers: dict[tuple[str, str], CloudDriver] = {}
        self._lock = asyncio.Lock()

    async def project(self, site: SiteRef, project: str | None = None) -> CloudProject:
        """The site's project (``project``: a project name overriding the cloud entry's)."""
        key = (site.site_id, site.cloud)
        async with self._lock:
            driver = self._drivers.get(key)
            if driver is None:
                config = SiteConfig(
                    name=site.site_id, cloud=site.cloud, clouds_yaml=self._clouds_yaml
                )
                driver = self._drivers[key] = CloudDriver([config], self._settings)
        return await driver.project(site.site_id, project)

    async def aclose(self) -> None:
        async with self._lock:
            drivers = list(self._drivers.values())
            self._drivers.clear()
        for driver in drivers:
            await driver.aclose()

"""Who owns a group's servers and volumes, as the protected site's cloud says.

One listing of every project's servers and volumes at the site (``all_tenants``): with admin
service credentials the cloud shows each one's project; a project-scoped account is refused the
all-projects listing by Nova's default policy (403: found on a real cloud), so it lists its own
project's, and the others are not known (so not refused here). A project is named by
its id or, for the project the service's account is scoped to, by its name too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lifeboat_shared.cloud import CloudDriver, SiteConfig
from lifeboat_shared.cloud.errors import Forbidden


@dataclass(frozen=True)
class Owners:
    servers: dict[str, str | None]  # server id -> project id (None: the cloud did not say)
    volumes: dict[str, str | None]
    names: dict[str, str]  # project id -> name, where known

    def outside(self, owners: dict[str, str | None], project: str) -> list[str]:
        """The members shown in another project than ``project`` (an id or a known name)."""
        return sorted(
            i
            for i, p in owners.items()
            if p is not None and p != project and self.names.get(p) != project
        )


async def member_owners(
    clouds_yaml: Path | None,
    site_id: str,
    cloud: str,
    servers: Sequence[str],
    volumes: Sequence[str],
) -> Owners:
    """The owner of each member the cloud lists; members it does not list are left out.
    Raises CloudError when the site cannot be read."""
    driver = CloudDriver([SiteConfig(name=site_id, cloud=cloud, clouds_yaml=clouds_yaml)])
    try:
        project = await driver.project(site_id)
        auth = await project.check_auth()
        names = {auth.project_id: auth.project_name} if auth.project_name else {}
        found_servers: dict[str, str | None] = {}
        found_volumes: dict[str, str | None] = {}
        if servers:
            wanted = set(servers)
            try:
                listed = await project.compute.list_servers(all_tenants=1)
            except Forbidden:  # not an admin (Nova's default policy): its own project's only
                listed = await project.compute.list_servers()
            for s in listed:
                if s.id in wanted:
                    found_servers[s.id] = s.project_id
        if volumes:
            wanted = set(volumes)
            try:
                vols = await project.block_storage.list_volumes(all_tenants=1)
            except Forbidden:
                vols = await project.block_storage.list_volumes()
            for v in vols:
                if v.id in wanted:
                    found_volumes[v.id] = v.project_id
        return Owners(found_servers, found_volumes, names)
    finally:
        await driver.aclose()

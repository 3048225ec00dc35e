"""Tenant isolation at the cloud: a group protects only servers and volumes of its project.

Checked when a group is created and when its members are replaced, against the protected
site's cloud (when the service has a clouds.yaml): a member the cloud shows in another project
(by id, or by name for the service account's own project) is refused (422 naming
``members.servers`` / ``members.volumes``); a member the cloud does not list is not refused
here (the replicator finds it missing at the first tick).
"""

from __future__ import annotations

from lifeboat_policy.adapters.catalog import CatalogRepository
from lifeboat_policy.adapters.ownership import member_owners
from lifeboat_policy.domain.model import Members
from lifeboat_policy.service_layer.errors import Invalid
from lifeboat_shared.cloud import CloudError
from lifeboat_shared.service.runtime import ServiceRuntime


async def check_members_project(
    runtime: ServiceRuntime, *, project_id: str, source_site: str, members: Members
) -> None:
    clouds_yaml = getattr(runtime.settings, "clouds_yaml", None)
    if clouds_yaml is None or not (members.servers or members.volumes):
        return
    async with runtime.db.read() as session:
        site = await CatalogRepository(session).get_site(source_site)
    if site is None:
        return  # the caller's own checks name source_site
    try:
        owners = await member_owners(
            clouds_yaml, site.site_id, site.cloud, members.servers, members.volumes
        )
    except CloudError as exc:
        raise Invalid(
            "source_site", f"cannot check who owns the members at {source_site!r}: {exc}"
        ) from exc
    for field, found in (("members.servers", owners.servers), ("members.volumes", owners.volumes)):
        foreign = owners.outside(found, project_id)
        if foreign:
            raise Invalid(field, f"not in project {project_id!r}: {', '.join(foreign)}")

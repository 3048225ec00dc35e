"""REST API of restores (UC7): a point in time of a group's volumes into new volumes at its DR
site. The replicator serves it because it owns the consistency points and what they hold
(replica snapshots or imported backups)."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from lifeboat_replicator.adapters.repository import ConsistencyPointRepository, CycleRepository
from lifeboat_replicator.service_layer.restore import (
    RestoreRefused,
    choose_members,
    choose_point,
    restore_members,
)
from lifeboat_replicator.settings import ReplicatorSettings
from lifeboat_shared.cloud.errors import CloudError, NotFound
from lifeboat_shared.cloud.sites import SiteClouds
from lifeboat_shared.contracts.messages import ReplicationSpec
from lifeboat_shared.contracts.messages._fields import Id
from lifeboat_shared.service import CurrentPrincipal, RuntimeDep
from lifeboat_shared.service.tenancy import listed_project

router = APIRouter(tags=["restores"])


class RestoreIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group_id: Id = Field(description="Protection group (or application set) whose CP to restore")
    volume_ids: list[Id] = Field(
        default_factory=list,
        max_length=1000,
        description="Source volume ids to restore (default: every volume of the CP)",
    )
    consistency_point_id: Id | None = Field(default=None, description="Restore this CP")
    at: datetime | None = Field(
        default=None,
        description="Point in time (with a time zone): the newest CP taken at or before it. "
        "Neither this nor consistency_point_id: the newest CP",
    )
    restore_id: Id | None = Field(
        default=None,
        description="Idempotency key: a retried request with the same id finds the volumes "
        "the first one made (default: a new id)",
    )
    name_prefix: str = Field(
        default="restored-",
        max_length=100,
        description="New volumes are named <name_prefix><source volume id>",
    )


class RestoredVolumeOut(BaseModel):
    source_volume_id: str
    volume_id: str = Field(description="The new volume at the DR site")
    from_backup_id: str | None = Field(description="Backup strategy: the backup restored")
    from_snapshot_id: str | None = Field(description="Blocks strategy: the replica snapshot")


class RestoreOut(BaseModel):
    restore_id: str
    group_id: str
    consistency_point_id: str
    taken_at: datetime = Field(description="The recovery point: the CP's source snapshot")
    target_site: str = Field(description="Where the volumes were made")
    strategy: str = Field(description="'backup' or 'blocks': how the CP was taken")
    volumes: list[RestoredVolumeOut]


def _refused(exc: RestoreRefused) -> HTTPException:
    return HTTPException(exc.status, f"{exc.field}: {exc.message}")


@router.post(
    "/restores",
    status_code=status.HTTP_201_CREATED,
    summary="Restore a point in time of a group's volumes into new volumes at its DR site",
    responses={
        404: {"description": "No such CP, or none at or before `at`"},
        409: {"description": "The CP's backup or snapshot is gone at the DR site"},
        503: {"description": "The DR site failed; retry with the same restore_id"},
        422: {"description": "Bad input (the field is named)"},
    },
)
async def create_restore(body: RestoreIn, runtime: RuntimeDep, who: CurrentPrincipal) -> RestoreOut:
    """Synchronous: answers once every new volume is available at the DR site. Only the
    caller's project's CPs are considered: another project's group or CP is a 404."""
    project = listed_project(who, None)
    async with runtime.db.read() as session:
        points = await ConsistencyPointRepository(session).list(body.group_id, project_id=project)
        try:
            cp = choose_point(
                points, group_id=body.group_id, cp_id=body.consistency_point_id, at=body.at
            )
            members = choose_members(cp, body.volume_ids)
        except RestoreRefused as exc:
            raise _refused(exc) from exc
        cycle = await CycleRepository(session).get(cp.cycle_id)
    if cycle is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, f"consistency_point_id: the cycle of {cp.id} is gone"
        )
    spec = ReplicationSpec.model_validate(cycle.spec)
    settings = runtime.settings
    assert isinstance(settings, ReplicatorSettings)
    restore_id = body.restore_id or f"restore-{uuid.uuid4()}"
    clouds = SiteClouds(settings.clouds_yaml)
    try:
        target = await clouds.project(spec.target)
        made = await restore_members(
            target, members, restore_id=restore_id, name_prefix=body.name_prefix
        )
    except RestoreRefused as exc:
        raise _refused(exc) from exc
    except NotFound as exc:  # the CP's backup or snapshot is gone at the DR site
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"consistency_point_id: the copy of {cp.id} at {spec.target.site_id} is gone: {exc}",
        ) from exc
    except CloudError as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"target site {spec.target.site_id}: {exc}; retry with the same restore_id",
        ) from exc
    finally:
        await clouds.aclose()
    return RestoreOut(
        restore_id=restore_id,
        group_id=cp.group_id,
        consistency_point_id=cp.id,
        taken_at=cp.taken_at,
        target_site=spec.target.site_id,
        strategy=spec.strategy,
        volumes=[RestoredVolumeOut(**v.__dict__) for v in made],
    )

"""Cinder backups: create (full or incremental, from a snapshot), wait, delete, export and import
the backup record, restore to a volume. Lifeboat's UC7 strategy ships a backup's record from the
protected site to the DR site and restores it there.

All calls go through the SDK's block-storage adapter as JSON (auth, catalog, microversion from
openstacksdk), not through its Backup resource: openstacksdk 4.x's `Backup.import_record` posts
to the wrong URL, and reading JSON keeps the fields exactly as Cinder names them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from openstack import exceptions as sdk_exc
from pydantic import BaseModel, ConfigDict, Field

from lifeboat_shared.cloud import convert, models, rawlist
from lifeboat_shared.cloud.cinder_base import CinderBase
from lifeboat_shared.cloud.errors import InvalidInput, NotFound
from lifeboat_shared.cloud.findcreate import find_or_create
from lifeboat_shared.cloud.retry import RATE_LIMIT_ONLY
from lifeboat_shared.cloud.tags import LifeboatTag

# Backup metadata (how the tag is stored) needs 3.43; we ask for the highest both sides know.
_BACKUP_METADATA_MV = (3, 43)


class Backup(BaseModel):
    """A Cinder backup, as Lifeboat needs it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    name: str | None
    status: str
    volume_id: str | None
    snapshot_id: str | None = None
    size_gb: int | None = None
    is_incremental: bool = False
    has_dependent_backups: bool = False
    metadata: dict[str, str] = Field(default_factory=dict)
    created_at: str | None = None
    data_timestamp: str | None = None
    fail_reason: str | None = None


def _backup(d: Mapping[str, Any]) -> Backup:
    meta = d.get("metadata")
    return Backup(
        id=str(d["id"]),
        name=d.get("name") or None,
        status=str(d.get("status") or "unknown"),
        volume_id=d.get("volume_id") or None,
        snapshot_id=d.get("snapshot_id") or None,
        size_gb=d.get("size") if isinstance(d.get("size"), int) else None,
        is_incremental=bool(d.get("is_incremental")),
        has_dependent_backups=bool(d.get("has_dependent_backups")),
        metadata={str(k): str(v) for k, v in meta.items()} if isinstance(meta, Mapping) else {},
        created_at=d.get("created_at") or None,
        data_timestamp=d.get("data_timestamp") or None,
        fail_reason=d.get("fail_reason") or None,
    )


class BackupsAPI(CinderBase):
    """Backups of one (site, project); mixed into BlockStorageAPI.

    Export and import of records are admin-only under Cinder's default policy: call them on an
    admin-scoped project (`driver.project(admin_site, "tenant")` imports into that tenant).
    """

    def _mv(self) -> str | None:
        return rawlist.max_microversion(self._cinder, rawlist.CINDER_MAX_MICROVERSION)

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Blocking: one JSON request to Cinder; HTTP errors raise (translated by the caller)."""
        resp = self._cinder.request(
            path, method, microversion=self._mv(), raise_exc=False, **kwargs
        )
        sdk_exc.raise_from_response(resp)
        return resp.json() if resp.content else {}

    def _get_backup(self, backup_id: str) -> Backup:
        return _backup(self._request("GET", f"/backups/{backup_id}")["backup"])

    def _find_backup(self, tag: LifeboatTag, volume_id: str) -> Backup | None:
        for raw in rawlist.cinder(
            self._ctx.conn, "/backups/detail", "backups", volume_id=volume_id
        ):
            if raw.get("volume_id") == volume_id and tag.matches_metadata(raw.get("metadata")):
                return _backup(raw)
        return None

    async def list_backups(self, **filters: Any) -> tuple[Backup, ...]:
        def job() -> tuple[Backup, ...]:
            raw = rawlist.cinder(self._ctx.conn, "/backups/detail", "backups", **filters)
            return tuple(_backup(d) for d in raw if rawlist.matches(d, filters))

        return await self._ctx.call("list backups", job)

    async def get_backup(self, backup_id: str) -> Backup:
        return await self._ctx.call(f"get backup {backup_id}", self._get_backup, backup_id)

    async def create_backup(
        self,
        volume_id: str,
        *,
        snapshot_id: str | None = None,
        incremental: bool = False,
        name: str | None = None,
        force: bool = False,
        metadata: Mapping[str, str] | None = None,
        tag: LifeboatTag | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> Backup:
        """Back up a volume (from `snapshot_id` when given: the point in time the caller chose);
        `incremental=True` makes Cinder chain it on the volume's newest backup.
        Find-or-create by tag (the tag goes into the backup's metadata, Cinder 3.43+)."""
        meta = dict(metadata or {})
        if tag is not None:
            meta.update(tag.metadata())
        spec: dict[str, Any] = {"volume_id": volume_id, "incremental": incremental, "force": force}
        optional = {"snapshot_id": snapshot_id, "name": name}
        spec.update({k: v for k, v in optional.items() if v is not None})
        if meta:
            spec["metadata"] = meta

        def create() -> Backup:
            mv = self._mv()
            if meta and (mv is None or tuple(map(int, mv.split("."))) < _BACKUP_METADATA_MV):
                raise InvalidInput("this Cinder does not support backup metadata (needs 3.43)")
            made = self._request("POST", "/backups", json={"backup": spec})["backup"]
            return self._get_backup(str(made["id"]))

        backup, _ = await find_or_create(
            self._ctx,
            f"back up volume {volume_id}",
            tag,
            lambda t: self._find_backup(t, volume_id),
            create,
        )
        if wait:
            backup = await self.wait_for_backup(backup.id, timeout=timeout)
        return backup

    async def wait_for_backup(
        self, backup_id: str, status: str = "available", *, timeout: float | None = None
    ) -> Backup:
        return await self._ctx.wait_for(
            f"wait for backup {backup_id} {status}",
            lambda: self._get_backup(backup_id),
            lambda b: b.status,
            ready=(status,),
            failed=("error", "error_deleting", "error_restoring"),
            timeout=timeout,
        )

    async def delete_backup(
        self, backup_id: str, *, wait: bool = True, timeout: float | None = None
    ) -> None:
        """Delete a backup; one already gone counts as deleted (Cinder refuses while incremental
        children exist: delete newest first)."""
        try:
            await self._ctx.call(
                f"delete backup {backup_id}", self._request, "DELETE", f"/backups/{backup_id}"
            )
        except NotFound:
            return
        if wait:
            await self._ctx.wait_gone(
                f"wait for backup {backup_id} deleted",
                lambda: self._get_backup(backup_id),
                status_of=lambda b: getattr(b, "status", ""),
                timeout=timeout,
            )

    async def export_backup_record(self, backup_id: str) -> dict[str, str]:
        """The backup's record ({"backup_service", "backup_url"}): what another site imports."""

        def job() -> dict[str, str]:
            body = self._request("GET", f"/backups/{backup_id}/export_record")
            rec = body.get("backup-record") or body.get("backup_record") or {}
            return {str(k): str(v) for k, v in rec.items()}

        return await self._ctx.call(f"export record of backup {backup_id}", job)

    async def import_backup_record(
        self,
        record: Mapping[str, str],
        *,
        wait: bool = True,
        timeout: float | None = None,
    ) -> Backup:
        """Import a record exported elsewhere; returns the new backup of this project.

        Not find-or-create (an imported backup has no metadata to carry a tag): retried on 429
        only; a caller that retries a step should remember the id it got.
        """
        for key in ("backup_service", "backup_url"):
            if not record.get(key):
                raise InvalidInput(f"record: {key} is required")
        body = {
            "backup-record": {
                "backup_service": record["backup_service"],
                "backup_url": record["backup_url"],
            }
        }

        def job() -> Backup:
            made = self._request("POST", "/backups/import_record", json=body)["backup"]
            return self._get_backup(str(made["id"]))

        backup = await self._ctx.retry.call(
            lambda: self._ctx.executor.run("import backup record", job),
            retry_on=RATE_LIMIT_ONLY,
        )
        if wait:
            backup = await self.wait_for_backup(backup.id, timeout=timeout)
        return backup

    def _find_restored(self, tag: LifeboatTag) -> models.Volume | None:
        for raw in rawlist.cinder(self._ctx.conn, "/volumes/detail", "volumes"):
            if tag.matches_metadata(raw.get("metadata")):
                return convert.volume(raw)
        return None

    async def restore_backup(
        self,
        backup_id: str,
        *,
        volume_id: str | None = None,
        name: str | None = None,
        tag: LifeboatTag | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> models.Volume:
        """Restore a backup to a new volume (or onto `volume_id`); returns the volume, waited
        until available. A new volume is found by tag on a retry (the tag is set as its metadata
        right after the restore call)."""
        if volume_id is not None and tag is not None:
            raise InvalidInput("tag applies to a new volume; give volume_id or tag, not both")
        spec: dict[str, Any] = {}
        if volume_id is not None:
            spec["volume_id"] = volume_id
        if name is not None:
            spec["name"] = name

        def create() -> models.Volume:
            body = self._request("POST", f"/backups/{backup_id}/restore", json={"restore": spec})
            vid = str(body["restore"]["volume_id"])
            if tag is not None:
                self._cinder.set_volume_metadata(vid, **tag.metadata())
            return convert.volume(self._cinder.get_volume(vid))

        volume, _ = await find_or_create(
            self._ctx, f"restore backup {backup_id}", tag, self._find_restored, create
        )
        if wait:
            volume = await self._ctx.wait_for(
                f"wait for volume {volume.id} restored",
                lambda: convert.volume(self._cinder.get_volume(volume.id)),
                lambda v: v.status,
                ready=("available",),
                failed=("error", "error_restoring"),
                timeout=timeout,
            )
            await self.wait_for_backup(backup_id, timeout=timeout)
        return volume

"""Cinder: volumes and snapshots (groups, the attachments API, backups, changed extents and
extend are mixed in from volume_groups.py, attachments.py, backups.py and volume_extras.py, so
`project.block_storage` is one facade).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lifeboat_shared.cloud import convert, models, rawcreate, rawlist
from lifeboat_shared.cloud.attachments import AttachmentsAPI
from lifeboat_shared.cloud.backups import BackupsAPI
from lifeboat_shared.cloud.errors import InvalidInput, NotFound
from lifeboat_shared.cloud.findcreate import find_or_create
from lifeboat_shared.cloud.tags import LifeboatTag
from lifeboat_shared.cloud.volume_extras import VolumeExtrasAPI
from lifeboat_shared.cloud.volume_groups import VolumeGroupsAPI

_VOLUME_FAILED = ("error", "error_restoring", "error_extending", "error_managing")


class BlockStorageAPI(VolumeGroupsAPI, AttachmentsAPI, BackupsAPI, VolumeExtrasAPI):
    """Cinder operations of one (site, project): volumes and snapshots here, groups and the
    attachments API in their own modules."""

    # --- volumes ---------------------------------------------------------------------------

    async def list_volumes(self, **filters: Any) -> tuple[models.Volume, ...]:
        """Volumes of the project; filters are Cinder query parameters (applied exactly)."""

        def job() -> tuple[models.Volume, ...]:
            return tuple(
                convert.volume(d)
                for d in rawlist.cinder(self._ctx.conn, "/volumes/detail", "volumes", **filters)
                if rawlist.matches(d, filters)
            )

        return await self._ctx.call("list volumes", job)

    async def get_volume(self, volume_id: str) -> models.Volume:
        return await self._ctx.call(
            f"get volume {volume_id}",
            lambda: convert.volume(
                rawlist.cinder_get(self._ctx.conn, f"/volumes/{volume_id}", "volume")
            ),
        )

    def _find_volume(self, tag: LifeboatTag, name: str | None) -> models.Volume | None:
        query: dict[str, Any] = {"name": name} if name else {}
        for raw in rawlist.cinder(self._ctx.conn, "/volumes/detail", "volumes", **query):
            if tag.matches_metadata(raw.get("metadata")):
                return convert.volume(raw)
        return None

    async def find_volume(self, tag: LifeboatTag, name: str | None = None) -> models.Volume | None:
        return await self._ctx.call(f"find volume {tag.key}", lambda: self._find_volume(tag, name))

    async def create_volume(
        self,
        size_gb: int,
        *,
        name: str | None = None,
        snapshot_id: str | None = None,
        source_volume_id: str | None = None,
        image_id: str | None = None,
        volume_type: str | None = None,
        availability_zone: str | None = None,
        group_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        bootable: bool = False,
        tag: LifeboatTag | None = None,
        fresh: bool = False,
        wait: bool = True,
        timeout: float | None = None,
    ) -> models.Volume:
        """Create a volume (empty, from a snapshot, a volume or an image); find-or-create by tag.

        `bootable=True` marks it bootable once available, which real Nova requires of a
        boot-from-volume root disk not created from an image.
        """
        if size_gb < 1:
            raise InvalidInput("size_gb must be at least 1")
        if sum(x is not None for x in (snapshot_id, source_volume_id, image_id)) > 1:
            raise InvalidInput("give at most one of snapshot_id, source_volume_id, image_id")
        meta = dict(metadata or {})
        if tag is not None:
            meta.update(tag.metadata())
        # The API's own body (source_volid, imageRef), sent as JSON (see rawcreate).
        attrs: dict[str, Any] = {"size": size_gb, "metadata": meta}
        optional = {
            "name": name,
            "snapshot_id": snapshot_id,
            "source_volid": source_volume_id,
            "imageRef": image_id,
            "volume_type": volume_type,
            "availability_zone": availability_zone,
            "group_id": group_id,
        }
        attrs.update({k: v for k, v in optional.items() if v is not None})

        volume, created = await find_or_create(
            self._ctx,
            f"create volume {name or ''}".strip(),
            tag,
            lambda t: self._find_volume(t, name),
            lambda: convert.volume(rawcreate.cinder_create_volume(self._ctx.conn, attrs)),
            fresh=fresh,
        )
        if not created and volume.status == "in-use":
            # A step run again after a crash: the first run made it and attached it already;
            # it will never be "available" again, and it is what the caller wanted.
            return volume
        if wait or bootable:
            volume = await self.wait_for_volume(volume.id, "available", timeout=timeout)
        if bootable and not volume.bootable:
            vid, action = volume.id, {"os-set_bootable": {"bootable": True}}
            await self._ctx.call(
                f"set volume {vid} bootable",
                lambda: rawcreate.cinder_volume_action(self._ctx.conn, vid, action),
            )
            # Cinder answers the action with no body; the flag is all that changed.
            volume = volume.model_copy(update={"bootable": True})
        return volume

    async def wait_for_volume(
        self, volume_id: str, status: str, *, timeout: float | None = None
    ) -> models.Volume:
        return await self._ctx.wait_for(
            f"wait for volume {volume_id} {status}",
            lambda: convert.volume(
                rawlist.cinder_get(self._ctx.conn, f"/volumes/{volume_id}", "volume")
            ),
            lambda v: v.status,
            ready=(status,),
            failed=_VOLUME_FAILED,
            timeout=timeout,
        )

    async def delete_volume(
        self, volume_id: str, *, wait: bool = True, timeout: float | None = None
    ) -> None:
        """Delete a volume; a volume already gone counts as deleted."""
        try:
            await self._ctx.call(
                f"delete volume {volume_id}",
                lambda: self._cinder.delete_volume(volume_id, ignore_missing=False),
            )
        except NotFound:
            return
        if wait:
            await self._ctx.wait_gone(
                f"wait for volume {volume_id} deleted",
                lambda: convert.volume(self._cinder.get_volume(volume_id)),
                status_of=lambda v: getattr(v, "status", ""),
                timeout=timeout,
            )

    async def set_volume_metadata(self, volume_id: str, metadata: Mapping[str, str]) -> None:
        await self._ctx.call(
            f"set metadata of volume {volume_id}",
            lambda: self._cinder.set_volume_metadata(volume_id, **dict(metadata)),
        )

    async def list_volume_types(self) -> tuple[models.VolumeType, ...]:
        def job() -> tuple[models.VolumeType, ...]:
            return tuple(convert.volume_type(t) for t in self._cinder.types())

        return await self._ctx.call("list volume types", job)

    # --- snapshots -------------------------------------------------------------------------

    async def list_snapshots(self, **filters: Any) -> tuple[models.Snapshot, ...]:
        """Snapshots of the project; filters are Cinder query parameters (applied exactly)."""

        def job() -> tuple[models.Snapshot, ...]:
            raw = rawlist.cinder(self._ctx.conn, "/snapshots/detail", "snapshots", **filters)
            return tuple(convert.snapshot(d) for d in raw if rawlist.matches(d, filters))

        return await self._ctx.call("list snapshots", job)

    async def get_snapshot(self, snapshot_id: str) -> models.Snapshot:
        return await self._ctx.call(
            f"get snapshot {snapshot_id}",
            lambda: convert.snapshot(
                rawlist.cinder_get(self._ctx.conn, f"/snapshots/{snapshot_id}", "snapshot")
            ),
        )

    def _find_snapshot(self, tag: LifeboatTag, volume_id: str) -> models.Snapshot | None:
        for raw in rawlist.cinder(
            self._ctx.conn, "/snapshots/detail", "snapshots", volume_id=volume_id
        ):
            if raw.get("volume_id") == volume_id and tag.matches_metadata(raw.get("metadata")):
                return convert.snapshot(raw)
        return None

    async def create_snapshot(
        self,
        volume_id: str,
        *,
        name: str | None = None,
        force: bool = False,
        metadata: Mapping[str, str] | None = None,
        tag: LifeboatTag | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> models.Snapshot:
        """Snapshot a volume (`force=True` for an in-use one); find-or-create by tag."""
        meta = dict(metadata or {})
        if tag is not None:
            meta.update(tag.metadata())
        attrs: dict[str, Any] = {"volume_id": volume_id, "metadata": meta, "force": force}
        if name is not None:
            attrs["name"] = name
        snap, _ = await find_or_create(
            self._ctx,
            f"snapshot volume {volume_id}",
            tag,
            lambda t: self._find_snapshot(t, volume_id),
            lambda: convert.snapshot(self._cinder.create_snapshot(**attrs)),
        )
        if wait:
            snap = await self._ctx.wait_for(
                f"wait for snapshot {snap.id} available",
                lambda: convert.snapshot(
                    rawlist.cinder_get(self._ctx.conn, f"/snapshots/{snap.id}", "snapshot")
                ),
                lambda s: s.status,
                ready=("available",),
                failed=("error",),
                timeout=timeout,
                initial=snap,
            )
        return snap

    async def delete_snapshot(
        self, snapshot_id: str, *, wait: bool = True, timeout: float | None = None
    ) -> None:
        """Delete a snapshot; a snapshot already gone counts as deleted."""
        try:
            await self._ctx.call(
                f"delete snapshot {snapshot_id}",
                lambda: self._cinder.delete_snapshot(snapshot_id, ignore_missing=False),
            )
        except NotFound:
            return
        if wait:
            await self._ctx.wait_gone(
                f"wait for snapshot {snapshot_id} deleted",
                lambda: convert.snapshot(self._cinder.get_snapshot(snapshot_id)),
                status_of=lambda s: getattr(s, "status", ""),
                timeout=timeout,
            )

"""Cinder generic volume groups and group snapshots: the unit Cinder snapshots at one instant,
which is how Lifeboat gets a crash-consistent point across all volumes of an application.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lifeboat_shared.cloud import convert, models, rawlist
from lifeboat_shared.cloud.cinder_base import CinderBase
from lifeboat_shared.cloud.errors import InvalidInput, NotFound
from lifeboat_shared.cloud.findcreate import find_or_create
from lifeboat_shared.cloud.tags import LifeboatTag


class VolumeGroupsAPI(CinderBase):
    async def list_group_types(self) -> tuple[models.GroupType, ...]:
        def job() -> tuple[models.GroupType, ...]:
            return tuple(convert.group_type(t) for t in self._cinder.group_types())

        return await self._ctx.call("list group types", job)

    async def list_volume_groups(self) -> tuple[models.VolumeGroup, ...]:
        def job() -> tuple[models.VolumeGroup, ...]:
            return tuple(convert.volume_group(g) for g in self._cinder.groups(details=True))

        return await self._ctx.call("list volume groups", job)

    async def get_volume_group(self, group_id: str) -> models.VolumeGroup:
        def job() -> models.VolumeGroup:
            group = rawlist.cinder_get(self._ctx.conn, f"/groups/{group_id}", "group")
            return convert.volume_group(group, self._members(group_id))

        return await self._ctx.call(f"get volume group {group_id}", job)

    async def volume_group_members(self, group_id: str) -> list[str]:
        """The ids of the volumes in a group: one filtered list, the group itself not read (an
        unknown group has no members)."""
        return await self._ctx.call(
            f"list volumes of group {group_id}", lambda: self._members(group_id)
        )

    def _members(self, group_id: str) -> list[str]:
        # Cinder's volume list filtered by group_id (JSON, not SDK resources: a project with
        # hundreds of volumes made this the most expensive call of a cycle).
        query = {"group_id": group_id}
        return [
            str(v["id"])
            for v in rawlist.cinder(self._ctx.conn, "/volumes/detail", "volumes", **query)
            if v.get("group_id") == group_id
        ]

    def _find_group(self, tag: LifeboatTag) -> models.VolumeGroup | None:
        for raw in rawlist.cinder(self._ctx.conn, "/groups/detail", "groups"):
            if tag.matches_marks(raw.get("description")):
                return convert.volume_group(raw)
        return None

    async def create_volume_group(
        self,
        name: str,
        *,
        group_type: str,
        volume_types: Sequence[str],
        description: str | None = None,
        tag: LifeboatTag | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> models.VolumeGroup:
        """A generic volume group: the unit Cinder snapshots at one instant (group snapshot)."""
        if not volume_types:
            raise InvalidInput("volume_types must name at least one volume type")
        attrs: dict[str, Any] = {
            "name": name,
            "group_type": group_type,
            "volume_types": list(volume_types),
        }
        desc = tag.description(description) if tag else description
        if desc is not None:
            attrs["description"] = desc
        group, _ = await find_or_create(
            self._ctx,
            f"create volume group {name}",
            tag,
            self._find_group,
            lambda: convert.volume_group(self._cinder.create_group(**attrs)),
        )
        if wait:
            group = await self._ctx.wait_for(
                f"wait for volume group {group.id} available",
                lambda: convert.volume_group(self._cinder.get_group(group.id)),
                lambda g: g.status,
                ready=("available",),
                failed=("error",),
                timeout=timeout,
            )
        return group

    async def add_volumes_to_group(self, group_id: str, volume_ids: Sequence[str]) -> None:
        """Add volumes to a group (repeating it for volumes already in is harmless)."""
        current = await self.get_volume_group(group_id)
        missing = [v for v in volume_ids if v not in current.volume_ids]
        if not missing:
            return
        await self._ctx.call(
            f"add volumes to group {group_id}",
            lambda: self._cinder.update_group(group_id, add_volumes=",".join(missing)),
        )
        await self._wait_group_available(group_id)

    async def remove_volumes_from_group(self, group_id: str, volume_ids: Sequence[str]) -> None:
        """Take volumes out of a group (volumes not in it are ignored)."""
        try:
            current = await self.get_volume_group(group_id)
        except NotFound:
            return
        present = [v for v in volume_ids if v in current.volume_ids]
        if not present:
            return
        await self._ctx.call(
            f"remove volumes from group {group_id}",
            lambda: self._cinder.update_group(group_id, remove_volumes=",".join(present)),
        )
        await self._wait_group_available(group_id)

    async def _wait_group_available(self, group_id: str) -> None:
        await self._ctx.wait_for(
            f"wait for volume group {group_id} available",
            lambda: convert.volume_group(self._cinder.get_group(group_id)),
            lambda g: g.status,
            ready=("available",),
            failed=("error",),
        )

    async def delete_volume_group(
        self,
        group_id: str,
        *,
        delete_volumes: bool = False,
        wait: bool = True,
        timeout: float | None = None,
    ) -> None:
        """Delete a group (and its volumes when asked); a group already gone counts as deleted."""
        try:
            await self._ctx.call(
                f"delete volume group {group_id}",
                lambda: self._cinder.delete_group(
                    group_id, delete_volumes=delete_volumes, ignore_missing=False
                ),
            )
        except NotFound:
            return
        if wait:
            await self._ctx.wait_gone(
                f"wait for volume group {group_id} deleted",
                lambda: convert.volume_group(self._cinder.get_group(group_id)),
                status_of=lambda g: getattr(g, "status", ""),
                timeout=timeout,
            )

    def _find_group_snapshot(self, tag: LifeboatTag, group_id: str) -> models.GroupSnapshot | None:
        query = {"group_id": group_id}  # a filter Cinder allows for group snapshots
        for raw in rawlist.cinder(
            self._ctx.conn, "/group_snapshots/detail", "group_snapshots", **query
        ):
            if raw.get("group_id") == group_id and tag.matches_marks(raw.get("description")):
                return convert.group_snapshot(raw)
        return None

    async def create_group_snapshot(
        self,
        group_id: str,
        name: str,
        *,
        description: str | None = None,
        tag: LifeboatTag | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> models.GroupSnapshot:
        """Snapshot every volume of a group at one instant (crash-consistent across volumes)."""
        attrs: dict[str, Any] = {
            "group_id": group_id,
            "name": name,
        }
        desc = tag.description(description) if tag else description
        if desc is not None:
            attrs["description"] = desc
        gsnap, _ = await find_or_create(
            self._ctx,
            f"snapshot volume group {group_id}",
            tag,
            lambda t: self._find_group_snapshot(t, group_id),
            lambda: convert.group_snapshot(self._cinder.create_group_snapshot(**attrs)),
        )
        if wait:
            gsnap = await self._ctx.wait_for(
                f"wait for group snapshot {gsnap.id} available",
                lambda: convert.group_snapshot(
                    rawlist.cinder_get(
                        self._ctx.conn, f"/group_snapshots/{gsnap.id}", "group_snapshot"
                    )
                ),
                lambda g: g.status,
                ready=("available",),
                failed=("error",),
                timeout=timeout,
                initial=gsnap,
            )
        return gsnap

    async def group_snapshot_members(
        self, group_snapshot_id: str, volume_ids: Sequence[str] | None = None
    ) -> tuple[models.Snapshot, ...]:
        """The volume snapshots a group snapshot made (one per volume of the group).

        `volume_ids`: the group's volumes when the caller knows them: one list per volume
        filtered by volume_id (a filter every Cinder allows; group_snapshot_id is not) instead
        of every snapshot of the project."""
        conn = self._ctx.conn

        def job() -> tuple[models.Snapshot, ...]:
            path = "/snapshots/detail"
            listings = (
                [rawlist.cinder(conn, path, "snapshots", volume_id=v) for v in volume_ids]
                if volume_ids is not None
                else [rawlist.cinder(conn, path, "snapshots")]
            )
            return tuple(
                convert.snapshot(s)
                for listing in listings
                for s in listing
                if s.get("group_snapshot_id") == group_snapshot_id
            )

        return await self._ctx.call(f"list snapshots of group snapshot {group_snapshot_id}", job)

    async def delete_group_snapshot(
        self, group_snapshot_id: str, *, wait: bool = True, timeout: float | None = None
    ) -> None:
        try:
            await self._ctx.call(
                f"delete group snapshot {group_snapshot_id}",
                lambda: self._cinder.delete_group_snapshot(group_snapshot_id, ignore_missing=False),
            )
        except NotFound:
            return
        if wait:
            await self._ctx.wait_gone(
                f"wait for group snapshot {group_snapshot_id} deleted",
                lambda: convert.group_snapshot(self._cinder.get_group_snapshot(group_snapshot_id)),
                status_of=lambda g: getattr(g, "status", ""),
                timeout=timeout,
            )

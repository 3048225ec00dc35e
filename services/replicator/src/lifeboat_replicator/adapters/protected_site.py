"""The protected site as a replication cycle sees it: which volumes a protection group holds,
one crash-consistent snapshot across all of them (a Cinder group snapshot), an
application-consistent one of a single VM (Nova's quiesced createImage), what changed between two
snapshots, and read access to a snapshot's bytes the way a real host gets it.

Every creation carries a LifeboatTag, so a cycle step that runs twice (crash, timeout, retried
503) finds what the first attempt made instead of making a second one.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from lifeboat_replicator.adapters import cinder_access
from lifeboat_replicator.adapters.cinder_groups import (
    GroupConflict,
    MemberNotFound,
    ProtectionGroups,
)
from lifeboat_replicator.adapters.rbd_site import RbdSiteVolumes
from lifeboat_replicator.adapters.snapshot_reads import ApiSnapshotSource
from lifeboat_replicator.datamover import BlockSource, Extent
from lifeboat_shared.cloud import (
    BadRequest,
    CloudProject,
    Conflict,
    InvalidInput,
    LifeboatTag,
    NotFound,
    models,
)

GIB = 1024**3

__all__ = [
    "Extent",
    "GroupConflict",
    "KnownGroups",
    "MemberNotFound",
    "MemberVolume",
    "ProtectedSite",
    "QuiesceRefused",
]


@dataclass(frozen=True)
class MemberVolume:
    volume_id: str
    server_id: str | None
    device: str | None
    size_gib: int
    bootable: bool


class QuiesceRefused(Exception):
    """The guest could not be quiesced (Nova's 409 on createImage): the policy's quiesce-failure
    rule decides what happens next."""

    def __init__(self, server_id: str, reason: str) -> None:
        super().__init__(f"server {server_id}: quiesce refused: {reason}")
        self.server_id = server_id
        self.reason = reason


def _device_order(sv: models.ServerVolume) -> tuple[int, str]:
    # /dev/vda before /dev/vdb ...; volumes Nova reports without a device go last.
    return (0, sv.device) if sv.device else (1, sv.volume_id)


class KnownGroups:
    """What this process learnt about the sites (hints, never trusted blindly): whether a site
    serves snapshot blocks over its API, and which Cinder group held exactly which volumes
    when it last snapshotted a protection group: {(site, project, key): (group id, volumes)}.

    Lets a cycle whose membership did not change go straight to the group snapshot after one
    filtered read of the group's members (instead of listing the project's volumes and reading
    the group four times). Only a hint: if the group is gone or holds other volumes, the hint is
    dropped and the full check runs.
    """

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str, str], tuple[str, frozenset[str]]] = {}
        # site -> whether it serves snapshot blocks over its API (asked once per process)
        self.snapshot_reads: dict[str, bool] = {}

    def get(self, key: tuple[str, str, str], volumes: Sequence[str]) -> str | None:
        known = self._groups.get(key)
        return known[0] if known is not None and known[1] == frozenset(volumes) else None

    def remember(self, key: tuple[str, str, str], group_id: str, volumes: Sequence[str]) -> None:
        self._groups[key] = (group_id, frozenset(volumes))

    def forget(self, key: tuple[str, str, str]) -> None:
        self._groups.pop(key, None)


class ProtectedSite:
    """Cloud-side operations of a replication cycle at the protected site."""

    def __init__(
        self,
        project: CloudProject,
        *,
        connector: Mapping[str, Any],
        group_type: str | None = None,
        rbd: RbdSiteVolumes | None = None,
        known_groups: KnownGroups | None = None,
    ) -> None:
        self.project = project
        self.connector = dict(connector)
        self.rbd = rbd
        self.groups = ProtectionGroups(project, group_type=group_type)
        self.known_groups = known_groups if known_groups is not None else KnownGroups()
        # created_at of the snapshots this object took (a group snapshot lists them): no GET
        self._taken_at: dict[str, datetime] = {}

    # --- membership -----------------------------------------------------------------------

    async def expand_members(
        self, servers: Sequence[str], volumes: Sequence[str]
    ) -> list[MemberVolume]:
        """Servers -> all their attached volumes (device order), then the single volumes;
        each volume once. MemberNotFound names the first server or volume that is missing."""
        bs, nova = self.project.block_storage, self.project.compute
        out: dict[str, MemberVolume] = {}
        for sid in servers:
            try:  # one call per server: a missing server's attachments are a 404 too
                attached = await nova.server_volumes(sid)
            except NotFound:
                raise MemberNotFound(
                    f"server {sid} not found at site {self.project.site}"
                ) from None
            for sv in sorted(attached, key=_device_order):
                vol = await bs.get_volume(sv.volume_id)
                out.setdefault(
                    vol.id, MemberVolume(vol.id, sid, sv.device, vol.size_gb, vol.bootable)
                )
        for vid in volumes:
            try:
                vol = await bs.get_volume(vid)
            except NotFound:
                raise MemberNotFound(
                    f"volume {vid} not found at site {self.project.site}"
                ) from None
            att = next((a for a in vol.attachments if a.server_id), None)
            out.setdefault(
                vol.id,
                MemberVolume(
                    vol.id,
                    att.server_id if att else None,
                    att.device if att else None,
                    vol.size_gb,
                    vol.bootable,
                ),
            )
        return list(out.values())

    # --- crash-consistent group snapshot --------------------------------------------------

    async def release_group(self, group_key: str) -> list[str]:
        """Unprotect: empty and delete the Cinder groups of `group_key` (see ProtectionGroups)."""
        return await self.groups.release_group(group_key)

    async def snapshot_group(
        self, *, cycle_id: str, group_key: str, volumes: Sequence[str]
    ) -> dict[str, str]:
        """{volume_id: snapshot_id}, all taken at one instant by a Cinder group snapshot
        (crash-consistent across the volumes). Tagged with the cycle: a retry returns the same
        snapshots."""
        if not volumes:
            raise InvalidInput("volumes: a group snapshot needs at least one volume")
        wanted = list(dict.fromkeys(volumes))
        key = (self.project.site, self.project.context.project or "", group_key)
        known = self.known_groups.get(key, wanted)
        if known is not None:
            # One filtered read confirms the group still holds exactly these volumes (another
            # replicator may have changed it since): then no project-wide checks are needed. A
            # group in a state that takes no snapshot refuses the snapshot: the full check runs.
            held = set(await self.project.block_storage.volume_group_members(known))
            if held != set(wanted):
                known = None
                self.known_groups.forget(key)
        if known is not None:
            try:
                got = await self._group_snapshot(cycle_id, group_key, known, wanted)
            except (NotFound, BadRequest, Conflict, GroupConflict):
                got = None  # the group changed behind our back: check it fully below
            if got is not None:
                return got
            self.known_groups.forget(key)
        # On a retry of the same cycle the membership is the same, so this is a no-op.
        group = await self.groups.ensure_volume_group(group_key, wanted)
        got = await self._group_snapshot(cycle_id, group_key, group.id, wanted)
        self.known_groups.remember(key, group.id, wanted)
        return got

    async def _group_snapshot(
        self, cycle_id: str, group_key: str, group_id: str, wanted: list[str]
    ) -> dict[str, str]:
        bs = self.project.block_storage
        tag = LifeboatTag(op=cycle_id, step="group-snapshot", key=group_key)
        gsnap = await bs.create_group_snapshot(
            group_id,
            f"lifeboat-{cycle_id}",
            description=f"Lifeboat cycle {cycle_id}",
            tag=tag,
        )
        members = await bs.group_snapshot_members(gsnap.id, wanted)
        out = {s.volume_id: s.id for s in members}
        if set(out) != set(wanted):
            # Not a snapshot any CP can use; gone, so that a retry of this cycle (same tag)
            # takes a new one once the membership is right.
            await bs.delete_group_snapshot(gsnap.id)
            raise GroupConflict(
                f"group snapshot {gsnap.id} of cycle {cycle_id} holds volumes {sorted(out)}, "
                f"the cycle asked for {sorted(wanted)}"
            )
        for snap in members:
            if snap.created_at:
                self._taken_at[snap.id] = cinder_access.parse_time(snap.created_at)
        # The members list shows each snapshot's status: poll only the ones still creating.
        await cinder_access.wait_snapshots_available(
            self.project, [s.id for s in members if s.status.lower() != "available"]
        )
        return {v: out[v] for v in wanted}

    # --- application-consistent snapshot of one VM ----------------------------------------

    async def quiesced_server_snapshot(
        self, *, cycle_id: str, server_id: str, require_quiesce: bool = True
    ) -> dict[str, str]:
        """{volume_id: snapshot_id} from Nova's createImage of a volume-backed server: Nova asks
        the guest agent to freeze, snapshots every volume, thaws. QuiesceRefused on Nova's 409
        quiesce failure.

        Nova snapshots without quiescing when the guest has no agent (unless the server's image
        sets os_require_quiesce=yes, which makes Nova fail instead). cloudsim records the outcome
        as the image property os_require_quiesce="False"; with `require_quiesce` (the default)
        such a snapshot is refused (QuiesceRefused, its snapshots and image deleted). Real Nova
        does not record it: there, set os_require_quiesce=yes on the servers' images.
        """
        tag = LifeboatTag(op=cycle_id, step="quiesced-image", key=server_id)
        try:
            image = await self.project.compute.create_server_image(
                server_id, f"lifeboat-{cycle_id}-{server_id[:8]}", tag=tag
            )
        except Conflict as exc:
            if "quiesce" in exc.message.lower():
                raise QuiesceRefused(server_id, exc.message) from exc
            raise
        if not image.snapshot_ids:
            raise InvalidInput(
                f"server {server_id} is not volume-backed (its image has no volume snapshots)"
            )
        snaps = await asyncio.gather(
            *(self.project.block_storage.get_snapshot(s) for s in image.snapshot_ids)
        )
        out = {s.volume_id: s.id for s in snaps}
        if require_quiesce and image.properties.get("os_require_quiesce") == "False":
            await cinder_access.wait_snapshots_available(self.project, list(out.values()))
            await cinder_access.delete_snapshots(self.project, list(out.values()))
            await self.project.image.delete_image(image.id)
            raise QuiesceRefused(server_id, "Nova took the snapshot without quiescing the guest")
        await cinder_access.wait_snapshots_available(self.project, list(out.values()))
        return out

    async def delete_server_image(self, *, cycle_id: str, server_id: str) -> None:
        """Retention: drop the Glance image createImage left (its snapshots are separate)."""
        tag = LifeboatTag(op=cycle_id, step="quiesced-image", key=server_id)
        image = await self.project.image.find_image(tag)
        if image is not None:
            await self.project.image.delete_image(image.id)

    # --- reading snapshots ----------------------------------------------------------------

    async def snapshot_taken_at(self, snapshot_id: str) -> datetime:
        if snapshot_id in self._taken_at:
            return self._taken_at[snapshot_id]
        snap = await self.project.block_storage.get_snapshot(snapshot_id)
        return cinder_access.parse_time(snap.created_at)

    async def changed_extents(
        self, volume_id: str, from_snapshot_id: str | None, to_snapshot_id: str
    ) -> list[Extent] | None:
        """Byte ranges that differ between two snapshots (None: the site cannot tell; compare
        hashes). `from_snapshot_id=None`: every allocated range of the snapshot. On an RBD site
        librbd's diff (discarded ranges flagged as zeros); elsewhere the cloud's, if it has one."""
        if self.rbd is not None and await self.rbd.has_volume(volume_id):
            return await self.rbd.changed_extents(volume_id, from_snapshot_id, to_snapshot_id)
        found = await self.project.block_storage.changed_extents(
            volume_id, from_snapshot_id, to_snapshot_id
        )
        return None if found is None else [Extent(o, n) for o, n in found]

    def open_snapshot(
        self,
        *,
        cycle_id: str,
        snapshot_id: str,
        size_gib: int,
        volume_id: str | None = None,
        ranges_known: bool = False,
    ) -> AbstractAsyncContextManager[Path | BlockSource]:
        """Read access to a snapshot's bytes. On an RBD site: the image at that snapshot,
        through librbd. With `ranges_known` (the caller reads only the changed extents) on a
        site that serves snapshot blocks over its API (cloudsim): those reads, nothing else.
        Elsewhere: a temporary volume from it (tagged: a retry finds it), attached to this host
        read-only (a local path); detached and deleted on exit.
        `volume_id`: the snapshot's volume when the caller knows it (saves a GET)."""
        return self._open_snapshot(cycle_id, snapshot_id, size_gib, volume_id, ranges_known)

    @asynccontextmanager
    async def _open_snapshot(
        self,
        cycle_id: str,
        snapshot_id: str,
        size_gib: int,
        volume_id: str | None,
        ranges_known: bool,
    ) -> AsyncIterator[Path | BlockSource]:
        bs = self.project.block_storage
        if volume_id is None:
            volume_id = (await bs.get_snapshot(snapshot_id)).volume_id
        if self.rbd is not None and await self.rbd.has_volume(volume_id):
            with self.rbd.open_snapshot(volume_id, snapshot_id) as source:
                yield source
            return
        if ranges_known and await self._serves_snapshot_reads(snapshot_id):
            yield ApiSnapshotSource(
                functools.partial(bs.read_snapshot_blocks_into, snapshot_id), size_gib * GIB
            )
            return
        snap = await bs.get_snapshot(snapshot_id)
        tag = LifeboatTag(op=cycle_id, step="read-snapshot", key=snapshot_id)
        vol = await bs.create_volume(
            max(size_gib, snap.size_gb or 1),
            name=f"lifeboat-read-{snapshot_id[:8]}",
            snapshot_id=snapshot_id,
            tag=tag,
            wait=False,  # a retry may find it still attached by the crashed attempt
        )
        try:
            await cinder_access.drop_attachments(self.project, vol.id)
            await bs.wait_for_volume(vol.id, "available")
            async with cinder_access.attached_path(
                self.project, vol.id, self.connector, mode="ro"
            ) as path:
                yield path
        finally:
            await asyncio.shield(bs.delete_volume(vol.id))

    async def _serves_snapshot_reads(self, snapshot_id: str) -> bool:
        site = self.project.site
        known = self.known_groups.snapshot_reads.get(site)
        if known is None:
            known = await self.project.block_storage.snapshot_reads(snapshot_id)
            self.known_groups.snapshot_reads[site] = known
        return known

    async def delete_snapshots(self, snapshot_ids: Sequence[str]) -> None:
        """Retention: delete snapshots (gone already = fine); group snapshots as a whole."""
        await cinder_access.delete_snapshots(self.project, snapshot_ids)

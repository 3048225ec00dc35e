"""A site whose Cinder keeps volumes in Ceph RBD, as the replicator reaches it: directly through
librbd with Lifeboat's own cephx user, never through a temporary volume and an attachment.

Cinder's RBD driver keeps volume ``<id>`` as image ``volume-<id>`` in its backend's pool and
snapshot ``<sid>`` as the RBD snapshot ``snapshot-<sid>`` of it (its default
``volume_name_template``/``snapshot_name_template``). So a snapshot is read at that snapshot (no
copy), and what changed between two consistency points comes from ``diff_iterate``; ranges that
were discarded or never written travel as zero records, not as data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from lifeboat_replicator.adapters.rbd_volumes import (
    RbdAccess,
    RbdSnapshotSource,
    image_exists,
    rbd_changed_extents,
)
from lifeboat_replicator.datamover import Extent
from lifeboat_replicator.settings import RbdSiteAccess

VOLUME_IMAGE = "volume-{}"
SNAPSHOT_NAME = "snapshot-{}"


def rbd_access(site: RbdSiteAccess) -> RbdAccess:
    """The librbd adapter's access from a site's settings."""
    return RbdAccess(
        ceph_conf=site.ceph_conf, user=site.user, keyring=site.keyring, pools=list(site.pools)
    )


class RbdVolumeNotFound(LookupError):
    def __init__(self, volume_id: str, pools: list[str]) -> None:
        super().__init__(
            f"volume {volume_id}: no RBD image {VOLUME_IMAGE.format(volume_id)} in pools "
            f"{pools} of this site's Ceph cluster (check the site's rbd_sites pools)"
        )


class RbdSiteVolumes:
    """Where each volume's image lives (found once per volume, then remembered)."""

    def __init__(self, access: RbdAccess) -> None:
        self.access = access
        self._pools: dict[str, str] = {}

    def _locate(self, volume_id: str) -> str:
        pool = self._pools.get(volume_id)
        if pool is not None:
            return pool
        image = VOLUME_IMAGE.format(volume_id)
        for candidate in self.access.pools:
            if image_exists(self.access, candidate, image):
                self._pools[volume_id] = candidate
                return candidate
        raise RbdVolumeNotFound(volume_id, list(self.access.pools))

    async def has_volume(self, volume_id: str) -> bool:
        try:
            await asyncio.to_thread(self._locate, volume_id)
        except RbdVolumeNotFound:
            return False
        return True

    async def changed_extents(
        self, volume_id: str, from_snapshot_id: str | None, to_snapshot_id: str
    ) -> list[Extent]:
        """What differs between the two snapshots (every allocated range when
        ``from_snapshot_id`` is None), discarded ranges flagged as zeros."""

        def diff() -> list[Extent]:
            pool = self._locate(volume_id)
            return rbd_changed_extents(
                self.access,
                pool,
                VOLUME_IMAGE.format(volume_id),
                SNAPSHOT_NAME.format(from_snapshot_id) if from_snapshot_id else None,
                SNAPSHOT_NAME.format(to_snapshot_id),
            )

        return await asyncio.to_thread(diff)

    @contextmanager
    def open_snapshot(self, volume_id: str, snapshot_id: str) -> Iterator[RbdSnapshotSource]:
        """The snapshot's bytes, read-only, straight from the cluster."""
        pool = self._locate(volume_id)
        source = RbdSnapshotSource(
            self.access, pool, VOLUME_IMAGE.format(volume_id), SNAPSHOT_NAME.format(snapshot_id)
        )
        try:
            yield source
        finally:
            source.close()

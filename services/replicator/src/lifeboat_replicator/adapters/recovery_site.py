"""The recovery (DR) site as a replication cycle sees it: one replica volume per protected
volume (found by tag, grown when the source grew) and, once the data of a cycle is written and
verified, a snapshot of every replica: the consistency point's DR-side half.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from lifeboat_replicator.adapters import cinder_access
from lifeboat_shared.cloud import CloudProject, InvalidInput, LifeboatTag

REPLICA_OP = "lifeboat-replica"


def replica_tag(group_key: str, source_volume_id: str) -> LifeboatTag:
    """The tag of the replica of `source_volume_id` (its identity at the DR site)."""
    return LifeboatTag(op=REPLICA_OP, step=group_key, key=source_volume_id)


class RecoverySite:
    """Cloud-side operations of a replication cycle at the DR site."""

    def __init__(self, project: CloudProject) -> None:
        self.project = project

    async def ensure_replica_volume(
        self,
        *,
        group_key: str,
        source_volume_id: str,
        size_gib: int,
        name: str,
        bootable: bool,
        volume_type: str | None = None,
    ) -> str:
        """The replica volume of `source_volume_id`: found by tag, else created empty (sparse);
        extended when the source grew. Returns its id."""
        if size_gib < 1:
            raise InvalidInput("size_gib must be at least 1")
        bs = self.project.block_storage
        tag = replica_tag(group_key, source_volume_id)
        found = await bs.find_volume(tag)
        if found is None:
            vol = await bs.create_volume(
                size_gib,
                name=name,
                bootable=bootable,
                volume_type=volume_type,
                metadata={"lifeboat:source_volume": source_volume_id},
                tag=tag,
            )
            return vol.id
        if found.size_gb < size_gib:
            await bs.extend_volume(found.id, size_gib)
        return found.id

    async def check_seed_volume(self, volume_id: str, size_gib: int) -> str:
        """A seed (UC5c: restored from a backup or a shipped disk; or the original volume when
        replicating back): it must exist, be detached and be at least the source's size."""
        bs = self.project.block_storage
        vol = await bs.get_volume(volume_id)
        if vol.status != "available":
            raise InvalidInput(f"seed volume {volume_id} is {vol.status}, not available")
        if vol.size_gb < size_gib:
            await bs.extend_volume(vol.id, size_gib)
        return vol.id

    async def snapshot_replicas(
        self, *, cycle_id: str, replica_volume_ids: Sequence[str]
    ) -> dict[str, str]:
        """{replica_volume_id: snapshot_id}, tagged with the cycle (a retry finds them), waited
        until available."""
        bs = self.project.block_storage

        async def one(vid: str) -> tuple[str, str]:
            snap = await bs.create_snapshot(
                vid,
                name=f"lifeboat-cp-{cycle_id}",
                force=True,
                tag=LifeboatTag(op=cycle_id, step="replica-snapshot", key=vid),
            )
            return vid, snap.id

        pairs = await asyncio.gather(*(one(v) for v in dict.fromkeys(replica_volume_ids)))
        return dict(pairs)

    async def delete_snapshots(self, snapshot_ids: Sequence[str]) -> None:
        """Retention (gone already = fine)."""
        await cinder_access.delete_snapshots(self.project, snapshot_ids)

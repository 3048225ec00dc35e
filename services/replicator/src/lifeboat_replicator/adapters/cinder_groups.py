"""Cinder generic volume groups as the protected site's unit of consistency: one group per
protection group (found by tag), holding exactly the group's volumes, so one group snapshot
captures all of them at one instant.

A Cinder group's volume types are fixed at creation, so the set of types is part of the tag: a
member of a new type means a new group, and the members move over from the older one (kept until
its group snapshots, older CPs, are gone). A volume in a group Lifeboat did not make is refused,
never taken away from its owner.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from lifeboat_shared.cloud import (
    BadRequest,
    CloudProject,
    Conflict,
    InvalidInput,
    LifeboatTag,
    NotFound,
    models,
)

# Op of the long-lived Cinder groups (one per protection group); cycle resources use the cycle id.
GROUP_OP = "lifeboat-protect"
# Cinder keeps this group type for migrated consistency groups; generic groups use another.
_RESERVED_GROUP_TYPES = frozenset({"default_cgsnapshot_type"})


class MemberNotFound(LookupError):
    """A protection group names a server or volume the site does not have."""


class GroupConflict(RuntimeError):
    """A member volume already belongs to a Cinder group Lifeboat did not make for this group
    (Cinder allows one group per volume)."""


def is_ours(group: models.VolumeGroup, group_key: str) -> bool:
    """True for a Cinder group Lifeboat made for this protection group (any volume types)."""
    marks = group.description or ""
    return f"op={GROUP_OP} " in marks and f"key={group_key}]" in marks


class ProtectionGroups:
    """The Cinder groups of protection groups in one project."""

    def __init__(self, project: CloudProject, *, group_type: str | None = None) -> None:
        self.project = project
        self._group_type = group_type

    async def _pick_group_type(self) -> str:
        if self._group_type is not None:
            return self._group_type
        usable = [
            g
            for g in await self.project.block_storage.list_group_types()
            if g.name not in _RESERVED_GROUP_TYPES
        ]
        if not usable:
            raise InvalidInput(
                f"site {self.project.site} offers no generic volume group type: an admin must "
                "create one (consistent_group_snapshot_enabled='<is> True')"
            )
        self._group_type = usable[0].id
        return self._group_type

    async def ensure_volume_group(
        self, group_key: str, volumes: Sequence[str]
    ) -> models.VolumeGroup:
        """The Cinder group of `group_key` holding exactly `volumes` (found by tag, created, or
        updated when membership changed). A Cinder group's volume types are fixed at creation,
        so the set of types is part of the tag: new types mean a new group, and members move
        over from our older group."""
        bs = self.project.block_storage
        # One list call (JSON, newest microversion): a single GET of a volume through the SDK
        # may not show its group_id.
        known = {v.id: v for v in await bs.list_volumes()}
        missing = [v for v in volumes if v not in known]
        if missing:
            raise MemberNotFound(f"volumes not found at site {self.project.site}: {missing}")
        vols = [known[v] for v in volumes]
        types = sorted({v.volume_type or "" for v in vols})
        if "" in types:
            untyped = [v.id for v in vols if not v.volume_type]
            raise InvalidInput(f"volumes without a volume type cannot join a group: {untyped}")
        # Refuse before changing anything: a member in a Cinder group that is not ours.
        for gid in dict.fromkeys(v.group_id for v in vols if v.group_id):
            if not is_ours(await bs.get_volume_group(gid), group_key):
                holders = [v.id for v in vols if v.group_id == gid]
                raise GroupConflict(
                    f"volumes {holders} belong to Cinder group {gid}, which Lifeboat did not "
                    f"make for protection group {group_key}"
                )
        digest = hashlib.sha256("\n".join(types).encode()).hexdigest()[:12]
        tag = LifeboatTag(op=GROUP_OP, step=f"volume-group-{digest}", key=group_key)
        group = await bs.create_volume_group(
            f"lifeboat-{group_key}",
            group_type=await self._pick_group_type(),
            volume_types=types,
            description="Lifeboat protection group (consistent snapshots)",
            tag=tag,
        )
        # A member may still sit in an older group of ours (types changed): move it over.
        left: set[str] = set()
        for vol in vols:
            if vol.group_id and vol.group_id != group.id:
                await bs.remove_volumes_from_group(vol.group_id, [vol.id])
                left.add(vol.group_id)
        current = await bs.get_volume_group(group.id)
        extra = [v for v in current.volume_ids if v not in set(volumes)]
        if extra:
            await bs.remove_volumes_from_group(group.id, extra)
        await bs.add_volumes_to_group(group.id, list(volumes))
        for gid in sorted(left):
            await self._drop_group_if_unused(gid)
        return await bs.get_volume_group(group.id)

    async def _drop_group_if_unused(self, group_id: str) -> bool:
        """Delete an empty group of ours; one still holding group snapshots (older CPs) stays
        until retention deleted them and `release_group` runs."""
        bs = self.project.block_storage
        try:
            if (await bs.get_volume_group(group_id)).volume_ids:
                return False
            await bs.delete_volume_group(group_id)
        except NotFound:
            return True
        except (BadRequest, Conflict):
            return False
        return True

    async def release_group(self, group_key: str) -> list[str]:
        """Unprotect: take the volumes out of every Cinder group Lifeboat made for `group_key`
        and delete those groups. Groups still holding group snapshots are left (delete the
        snapshots first); returns the ids of the groups that remain."""
        bs = self.project.block_storage
        remaining: list[str] = []
        for group in await bs.list_volume_groups():
            if not is_ours(group, group_key):
                continue
            members = (await bs.get_volume_group(group.id)).volume_ids
            if members:
                await bs.remove_volumes_from_group(group.id, list(members))
            if not await self._drop_group_if_unused(group.id):
                remaining.append(group.id)
        return remaining

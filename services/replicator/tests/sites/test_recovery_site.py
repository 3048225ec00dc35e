"""RecoverySite and the receiver's CinderAttachmentTargets against a real cloudsim DR site."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import pytest

from lifeboat_replicator.adapters.cinder_targets import CinderAttachmentTargets, InvalidTarget
from lifeboat_replicator.adapters.recovery_site import RecoverySite
from lifeboat_replicator.datamover import TargetRejected

from .conftest import CONNECTOR, Clouds, no_attachments, read_volume


async def test_replica_volumes_targets_and_snapshots(
    clouds: Clouds, uid: Callable[[], str]
) -> None:
    dr = RecoverySite(clouds.dr)
    bs = clouds.dr.block_storage
    group_key, source = f"grp-{uid()}", "0b5e7c1e-1111-4000-8000-000000000001"
    rid = await dr.ensure_replica_volume(
        group_key=group_key, source_volume_id=source, size_gib=1, name="replica-a", bootable=True
    )
    again = await dr.ensure_replica_volume(
        group_key=group_key, source_volume_id=source, size_gib=1, name="replica-a", bootable=True
    )
    assert again == rid
    vol = await bs.get_volume(rid)
    assert vol.bootable and vol.size_gb == 1 and vol.metadata["lifeboat:source_volume"] == source
    assert (
        len([v for v in await bs.list_volumes() if v.metadata.get("lifeboat:key") == source]) == 1
    )
    other = await dr.ensure_replica_volume(
        group_key=f"grp-{uid()}", source_volume_id=source, size_gib=1, name="b", bootable=False
    )
    assert other != rid  # the key is (group, source volume)
    grown = await dr.ensure_replica_volume(
        group_key=group_key, source_volume_id=source, size_gib=2, name="replica-a", bootable=True
    )
    assert grown == rid and (await bs.get_volume(rid)).size_gb == 2

    # The receiver's resolve_target, called from a worker thread as the receiver does.
    targets = CinderAttachmentTargets(clouds.dr, connector=CONNECTOR)
    payload = os.urandom(64 * 1024)

    def receive() -> str:
        with targets(f"cinder:{rid}", 2 * 1024**3) as path:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.pwrite(fd, payload, 1024**3 + 4096)  # in the grown part
                os.fsync(fd)
            finally:
                os.close(fd)
            return str(path)

    assert await asyncio.to_thread(receive)
    assert await no_attachments(clouds.dr, rid)
    got = await read_volume(clouds.dr, rid, {1024**3 + 4096: len(payload)})
    assert got[1024**3 + 4096] == payload

    assert issubclass(InvalidTarget, TargetRejected)  # the receiver answers with a rejection
    # An attachment of this host left by a receiver that died is dropped, not tripped over.
    stale = await bs.create_attachment(rid, CONNECTOR)
    await bs.complete_attachment(stale.id)
    assert await asyncio.to_thread(receive)
    assert await no_attachments(clouds.dr, rid)
    # Attached by someone else: refused (the receiver answers with a rejection).
    other_host = await bs.create_attachment(rid, {**CONNECTOR, "host": "someone-else"})
    await bs.complete_attachment(other_host.id)
    with pytest.raises(InvalidTarget, match="cannot attach"):
        await asyncio.to_thread(receive)
    await bs.delete_attachment(other_host.id)
    assert await no_attachments(clouds.dr, rid)

    for bad in ("file:/etc/passwd", f"cinder:{rid}/../x", "cinder:not-a-uuid", rid, ""):
        with pytest.raises(InvalidTarget):
            targets(bad, 10)

    def too_big() -> None:
        with targets(f"cinder:{rid}", 2 * 1024**3 + 1):
            raise AssertionError("must not attach")

    with pytest.raises(InvalidTarget, match="do not fit"):
        await asyncio.to_thread(too_big)

    def missing() -> None:
        with targets("cinder:0b5e7c1e-2222-4000-8000-000000000002", 1):
            raise AssertionError("must not attach")

    with pytest.raises(InvalidTarget, match="could not be found"):
        await asyncio.to_thread(missing)
    with pytest.raises(RuntimeError, match="worker thread"):
        targets(f"cinder:{rid}", 1)
    assert await no_attachments(clouds.dr, rid)

    # The CP's DR half: snapshots of the replicas, found again on retry.
    cycle = f"cycle-{uid()}"
    snaps = await dr.snapshot_replicas(cycle_id=cycle, replica_volume_ids=[rid, other])
    assert set(snaps) == {rid, other}
    assert [(await bs.get_snapshot(s)).status for s in snaps.values()] == ["available"] * 2
    assert await dr.snapshot_replicas(cycle_id=cycle, replica_volume_ids=[rid, other]) == snaps
    assert len([s for s in await bs.list_snapshots() if s.volume_id in (rid, other)]) == 2
    await dr.delete_snapshots(list(snaps.values()))
    await dr.delete_snapshots(list(snaps.values()))
    assert not [s for s in await bs.list_snapshots() if s.volume_id in (rid, other)]
    for v in (rid, other):
        await bs.delete_volume(v)

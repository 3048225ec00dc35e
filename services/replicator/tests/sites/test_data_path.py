"""The cycle's data path through the real data mover: snapshot at the protected site, changed
extents, read the snapshot through a Cinder attachment, send, the DR receiver writes into the
replica volume through CinderAttachmentTargets, snapshot the replica; twice (full, then delta),
and the replica snapshot holds exactly the source snapshot's bytes."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from pathlib import Path

from lifeboat_replicator.adapters.cinder_access import GIB, attached_path
from lifeboat_replicator.adapters.cinder_targets import CinderAttachmentTargets
from lifeboat_replicator.adapters.protected_site import ProtectedSite
from lifeboat_replicator.adapters.recovery_site import RecoverySite
from lifeboat_replicator.datamover import LinkSecurity, Receiver, TransferStats, send_volume

from .conftest import CONNECTOR, Clouds, content_digest, no_attachments, write_volume

MIB = 1024 * 1024


async def test_two_cycles_through_the_data_mover(
    clouds: Clouds, uid: Callable[[], str], tmp_path: Path
) -> None:
    prot = ProtectedSite(clouds.prot, connector=CONNECTOR)
    dr = RecoverySite(clouds.dr)
    vol = await clouds.prot.block_storage.create_volume(1, name=f"db-{uid()}")
    group_key = f"grp-{uid()}"
    replica = await dr.ensure_replica_volume(
        group_key=group_key, source_volume_id=vol.id, size_gib=1, name="db-replica", bootable=False
    )
    security = LinkSecurity(psk=os.urandom(32))
    receiver = Receiver(
        listen=("127.0.0.1", 0),
        security=security,
        state_dir=tmp_path / "receiver",
        resolve_target=CinderAttachmentTargets(clouds.dr, connector=CONNECTOR),
    )
    serving = threading.Thread(target=receiver.serve_forever, daemon=True)
    serving.start()

    async def cycle(base: str | None) -> tuple[str, str, TransferStats]:
        cycle_id = f"cycle-{uid()}"
        snap = (
            await prot.snapshot_group(cycle_id=cycle_id, group_key=group_key, volumes=[vol.id])
        )[vol.id]
        extents = await prot.changed_extents(vol.id, base, snap)
        assert extents is not None
        async with prot.open_snapshot(cycle_id=cycle_id, snapshot_id=snap, size_gib=1) as src:
            stats = await asyncio.to_thread(
                send_volume,
                address=("127.0.0.1", receiver.port),
                security=security,
                transfer_id=cycle_id,
                source=src,
                target=f"cinder:{replica}",
                size=GIB,
                extents=extents,
            )
            want = await asyncio.to_thread(content_digest, src)
        cp = await dr.snapshot_replicas(cycle_id=cycle_id, replica_volume_ids=[replica])
        async with attached_path(clouds.dr, replica, CONNECTOR, mode="ro") as path:
            assert await asyncio.to_thread(content_digest, path) == want
        return snap, cp[replica], stats

    try:
        await write_volume(
            clouds.prot, vol.id, {0: os.urandom(MIB), 512 * MIB: os.urandom(3 * MIB)}
        )
        snap1, cp1, first = await cycle(None)
        assert first.bytes_changed >= 4 * MIB
        await write_volume(clouds.prot, vol.id, {100 * MIB + 5: os.urandom(10_000)})
        snap2, cp2, second = await cycle(snap1)
        assert 10_000 <= second.bytes_changed <= 256 * 1024  # only the changed extents
        assert await no_attachments(clouds.dr, replica)
    finally:
        receiver.shutdown()
        await asyncio.to_thread(serving.join, 10)
    await prot.delete_snapshots([snap1, snap2])
    await dr.delete_snapshots([cp1, cp2])
    await prot.release_group(group_key)

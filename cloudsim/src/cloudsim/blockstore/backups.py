"""Backups: full or incremental copies of a volume (or snapshot) kept outside the volume chain.

A backup is a manifest plus a ``data.img`` holding the extents it stores. A full backup stores
every non-zero extent; an incremental one only extents whose digest differs from its parent's,
pointing at the parent chain for the rest (Cinder's incremental backups behave the same way, and
like Cinder a backup with dependent incrementals cannot be deleted).

Export/import: the record's ``backup_url`` is base64 JSON naming the backup's manifest and the
exporting store's root (the backup repository is a shared path, as with Cinder's NFS/posix backup
drivers). Import copies the whole chain, flattened, into the importing store so the imported
backup survives the deletion of the original, and the other site keeps working if this one dies.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import shutil
import threading
from collections.abc import Mapping
from contextlib import AbstractContextManager
from pathlib import Path

from cloudsim.blockstore.capture import finish, prepare
from cloudsim.blockstore.errors import ConflictError, InvalidArgumentError, NotFoundError
from cloudsim.blockstore.extents import Capture, derive, materialize
from cloudsim.blockstore.fence import WRITE_FENCE
from cloudsim.blockstore.manifest import Manifest
from cloudsim.blockstore.validate import check_id

BACKUP_SERVICE = "cloudsim.blockstore"


class BackupMixin:
    """Backup operations of :class:`~cloudsim.blockstore.store.BlockStore`."""

    root: Path
    extent_size: int
    _lock: threading.RLock
    _backups: dict[str, Manifest]

    # provided by BlockStore
    def _volume_locked(self, *volume_ids: str) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _existing_volume(self, volume_id: str) -> Path:
        raise NotImplementedError

    def _snapshot(self, snapshot_id: str) -> Manifest:
        raise NotImplementedError

    def _stamp(self) -> int:
        raise NotImplementedError

    def _volume_from_manifest(
        self, volume_id: str, m: Manifest, size_bytes: int, what: str
    ) -> Path:
        raise NotImplementedError

    def _backup(self, backup_id: str) -> Manifest:
        with self._lock:
            m = self._backups.get(check_id(backup_id, "backup_id"))
        if m is None:
            raise NotFoundError(f"backup {backup_id} not found")
        return m

    def _reserve_backup_dir(self, backup_id: str) -> Path:
        with self._lock:
            if check_id(backup_id, "backup_id") in self._backups:
                raise ConflictError(f"backup {backup_id} already exists")
            bdir = self.root / "backups" / backup_id
            try:
                bdir.mkdir(parents=True, exist_ok=False)
            except FileExistsError:
                raise ConflictError(f"backup {backup_id} already exists") from None
        return bdir

    def create_backup(
        self,
        backup_id: str,
        volume_id: str,
        *,
        parent_backup_id: str | None = None,
        snapshot_id: str | None = None,
    ) -> int:
        """Back up a volume (or one of its snapshots); returns the bytes this backup stored."""
        vol_path = self._existing_volume(volume_id)
        parent = self._backup(parent_backup_id) if parent_backup_id is not None else None
        if parent is not None and parent.volume_id != volume_id:
            raise ConflictError(
                f"parent backup {parent_backup_id} is a backup of volume {parent.volume_id}, "
                f"not {volume_id}"
            )
        snap = self._snapshot(snapshot_id) if snapshot_id is not None else None
        if snap is not None and snap.volume_id != volume_id:
            raise ConflictError(f"snapshot {snapshot_id} is not a snapshot of volume {volume_id}")
        bdir = self._reserve_backup_dir(backup_id)
        data_name = f"backups/{backup_id}/data.img"
        try:
            with self._volume_locked(volume_id):
                if snap is not None:
                    image = self._derive_into(snap, self.root, data_name, parent)
                else:  # a live volume: copy unfenced, settle under the fence (capture.py)
                    prep = prepare(
                        self.root,
                        vol_path,
                        self.extent_size,
                        parent,
                        data_name,
                        f"backups/{backup_id}/data.2.img",
                    )
                    with WRITE_FENCE.instant([vol_path]):
                        done = finish(self.root, prep)
                    image = done.owners_and_segments
                    image.stored_bytes = done.stored_bytes
            self._save_backup(backup_id, volume_id, image, parent_backup_id, snapshot_id or "")
        except BaseException:
            shutil.rmtree(bdir, ignore_errors=True)
            raise
        return image.stored_bytes

    def _derive_into(
        self, src: Manifest, src_root: Path, data_name: str, parent: Manifest | None
    ) -> Manifest:
        cap = Capture(src.size, src.extent_size, data_name)
        dst = os.open(self.root / data_name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.ftruncate(dst, src.size)
            derive(src, src_root, cap, dst, parent)
        finally:
            os.close(dst)
        os.chmod(self.root / data_name, 0o444)
        owners, segments = cap.compacted()
        return Manifest(
            kind="capture",
            object_id="",
            volume_id="",
            size=cap.size,
            extent_size=cap.extent_size,
            digests=bytes(cap.digests),
            owners=owners,
            segments=segments,
            stored_bytes=cap.stored_bytes,
        )

    def _save_backup(
        self, backup_id: str, volume_id: str, image: Manifest, parent_id: str | None, snap_id: str
    ) -> Manifest:
        m = Manifest(
            kind="backup",
            object_id=backup_id,
            volume_id=volume_id,
            size=image.size,
            extent_size=image.extent_size,
            digests=image.digests,
            owners=image.owners,
            segments=image.segments,
            parent_id=parent_id,
            created_ns=self._stamp(),
            stored_bytes=image.stored_bytes,
            extra={"snapshot_id": snap_id} if snap_id else {},
        )
        m.save(self.root / "backups" / backup_id / "manifest.bin")
        with self._lock:
            self._backups[backup_id] = m
        return m

    def backup_size(self, backup_id: str) -> int:
        return self._backup(backup_id).size

    def delete_backup(self, backup_id: str) -> None:
        m = self._backup(backup_id)
        with self._lock:
            children = [b.object_id for b in self._backups.values() if b.parent_id == backup_id]
            if children:
                raise ConflictError(
                    f"backup {backup_id} has dependent incremental backups: {', '.join(children)}"
                )
            self._backups.pop(m.object_id, None)
        shutil.rmtree(self.root / "backups" / backup_id, ignore_errors=True)

    def create_volume_from_backup(self, volume_id: str, backup_id: str, size_bytes: int) -> Path:
        return self._volume_from_manifest(volume_id, self._backup(backup_id), size_bytes, "backup")

    def restore_backup(self, backup_id: str, volume_id: str) -> None:
        """Overwrite an existing volume with a backup's bytes (Cinder's restore into a volume)."""
        m = self._backup(backup_id)
        path = self._existing_volume(volume_id)
        with self._volume_locked(volume_id), WRITE_FENCE.instant([path]):
            if path.stat().st_size < m.size:
                raise InvalidArgumentError(
                    f"volume {volume_id} is smaller than backup {backup_id} ({m.size} bytes)"
                )
            fd = os.open(path, os.O_RDWR)
            try:  # punch out old data first: the backup's holes must read as zeros
                size = os.fstat(fd).st_size
                os.ftruncate(fd, 0)
                os.ftruncate(fd, size)
                materialize(m, self.root, fd)
            finally:
                os.close(fd)

    def export_backup_record(self, backup_id: str) -> dict[str, str]:
        m = self._backup(backup_id)
        body = {
            "version": 1,
            "backup_id": backup_id,
            "root": str(self.root.resolve()),
            "manifest": f"backups/{backup_id}/manifest.bin",
            "volume_id": m.volume_id,
            "size": m.size,
        }
        url = base64.b64encode(json.dumps(body).encode()).decode()
        return {"backup_service": BACKUP_SERVICE, "backup_url": url}

    def import_backup_record(self, backup_id: str, record: Mapping[str, str]) -> None:
        """Import an exported backup as a full (flattened) backup of this store."""
        with self._lock:
            if check_id(backup_id, "backup_id") in self._backups:
                raise ConflictError(f"backup {backup_id} already exists")
        service = record.get("backup_service")
        if service != BACKUP_SERVICE:
            raise InvalidArgumentError(
                f"backup_service must be {BACKUP_SERVICE!r}, got {service!r}"
            )
        try:
            body = json.loads(base64.b64decode(record.get("backup_url", ""), validate=True))
            src_root = Path(str(body["root"]))
            manifest_path = src_root / str(body["manifest"])
        except (binascii.Error, ValueError, KeyError, TypeError) as exc:
            raise InvalidArgumentError(
                f"backup_url is not a cloudsim backup record: {exc}"
            ) from None
        if not manifest_path.is_file():
            raise NotFoundError(f"the exported backup's data is gone ({manifest_path})")
        try:
            src = Manifest.load(manifest_path)
        except (OSError, ValueError, KeyError) as exc:
            raise InvalidArgumentError(
                f"backup_url does not name a cloudsim backup: {exc}"
            ) from None
        bdir = self._reserve_backup_dir(backup_id)
        try:
            image = self._derive_into(src, src_root, f"backups/{backup_id}/data.img", None)
            self._save_backup(backup_id, src.volume_id, image, None, "")
        except BaseException:
            shutil.rmtree(bdir, ignore_errors=True)
            raise

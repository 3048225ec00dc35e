"""A Cinder volume driver that keeps each volume as a sparse file, for a single-machine lab.

Cinder's own drivers need a storage array, LVM with root (through sudo and rootwrap) or an NFS
server, and its FakeLoggingVolumeDriver holds no data at all. This driver needs only a folder:

* a volume is ``<dir>/volume-<id>``, a sparse file of the volume's size;
* snapshots, clones and volumes from snapshots are sparse copies (``cp --reflink=auto``);
* attachments return ``local`` connection info with the file as ``device_path``, so a process
  on this machine (the replicator under test) reads and writes the volume's real bytes;
* a volume from an image is filled straight from Glance (``clone_image``), and upload-to-image
  sends the file as it is, so neither needs qemu-img or root.

Only raw data is understood: an image is copied byte for byte whatever its disk_format says.
Groups and group snapshots use Cinder's generic implementation (per-volume calls).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from cinder import exception, interface
from cinder.volume import driver
from oslo_config import cfg
from oslo_log import log as logging

LOG = logging.getLogger(__name__)
GIB = 1024**3

file_volume_opts = [
    cfg.StrOpt(
        "lab_file_volume_dir",
        default="$state_path/lab-volumes",
        help="Folder that holds one sparse file per volume and per snapshot.",
    ),
]
cfg.CONF.register_opts(file_volume_opts, group="backend_defaults")


@interface.volumedriver
class FileVolumeDriver(driver.VolumeDriver):  # type: ignore[misc]
    """Volumes as sparse files in one folder; 'local' attachments."""

    VERSION = "1.0.0"
    CI_WIKI_NAME = "Lifeboat_OpenStack_Lab"
    SUPPORTS_ACTIVE_ACTIVE = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.configuration.append_config_values(file_volume_opts)
        self.backend_name = self.configuration.safe_get("volume_backend_name") or "lab-file"
        self.folder = Path(self.configuration.lab_file_volume_dir)

    # Setup and stats --------------------------------------------------------------------
    def do_setup(self, context: Any) -> None:
        """Create the folder."""
        self.folder.mkdir(parents=True, exist_ok=True)

    def check_for_setup_error(self) -> None:
        """The folder must be writable."""
        if not os.access(self.folder, os.W_OK):
            raise exception.VolumeDriverException(message=f"{self.folder} is not writable")

    def _update_volume_stats(self) -> None:
        usage = shutil.disk_usage(self.folder)
        self._stats = {
            "volume_backend_name": self.backend_name,
            "vendor_name": "Lifeboat",
            "driver_version": self.VERSION,
            "storage_protocol": "local",
            "pools": [
                {
                    "pool_name": self.backend_name,
                    "total_capacity_gb": usage.total // GIB,
                    "free_capacity_gb": usage.free // GIB,
                    "reserved_percentage": 0,
                    "QoS_support": False,
                    "thin_provisioning_support": True,
                    "thick_provisioning_support": False,
                    "max_over_subscription_ratio": 20.0,
                    "multiattach": False,
                    "consistent_group_snapshot_enabled": True,
                }
            ],
        }

    # Paths and copies ---------------------------------------------------------------------
    def volume_path(self, volume: Any) -> Path:
        """File of a volume."""
        return self.folder / f"volume-{volume.id}"

    def snapshot_path(self, snapshot: Any) -> Path:
        """File of a snapshot."""
        return self.folder / f"snapshot-{snapshot.id}"

    @staticmethod
    def _copy(src: Path, dst: Path, size_gb: int) -> None:
        """Sparse (or reflink) copy, then grow to the target size."""
        subprocess.run(
            ["cp", "--sparse=always", "--reflink=auto", str(src), str(dst)],
            check=True,
            capture_output=True,
        )
        if dst.stat().st_size < size_gb * GIB:
            os.truncate(dst, size_gb * GIB)

    # Volumes and snapshots --------------------------------------------------------------
    def create_volume(self, volume: Any) -> None:
        """A sparse file of the volume's size."""
        path = self.volume_path(volume)
        with open(path, "wb"):
            pass
        os.truncate(path, volume.size * GIB)

    def delete_volume(self, volume: Any) -> None:
        """Remove the file (a missing file is fine: deleting twice must work)."""
        self.volume_path(volume).unlink(missing_ok=True)

    def extend_volume(self, volume: Any, new_size: int) -> None:
        """Grow the file."""
        os.truncate(self.volume_path(volume), new_size * GIB)

    def create_snapshot(self, snapshot: Any) -> None:
        """Copy of the volume's file (taken as is, even while attached)."""
        self._copy(self.volume_path(snapshot.volume), self.snapshot_path(snapshot), 0)

    def delete_snapshot(self, snapshot: Any) -> None:
        """Remove the snapshot's file."""
        self.snapshot_path(snapshot).unlink(missing_ok=True)

    def create_volume_from_snapshot(self, volume: Any, snapshot: Any) -> None:
        """Copy of the snapshot's file, grown to the volume's size."""
        self._copy(self.snapshot_path(snapshot), self.volume_path(volume), volume.size)

    def create_cloned_volume(self, volume: Any, src_vref: Any) -> None:
        """Copy of the source volume's file."""
        self._copy(self.volume_path(src_vref), self.volume_path(volume), volume.size)

    def revert_to_snapshot(self, context: Any, volume: Any, snapshot: Any) -> None:
        """Overwrite the volume's file with the snapshot's."""
        self._copy(self.snapshot_path(snapshot), self.volume_path(volume), volume.size)

    # Images -------------------------------------------------------------------------------
    def clone_image(
        self, context: Any, volume: Any, image_location: Any, image_meta: Any, image_service: Any
    ) -> tuple[dict[str, Any], bool]:
        """Fill a new volume straight from Glance (no qemu-img, no temporary file)."""
        size = image_meta.get("size") or 0
        if size > volume.size * GIB:
            raise exception.ImageTooBig(
                image_id=image_meta["id"], reason="image larger than volume"
            )
        self.create_volume(volume)
        with open(self.volume_path(volume), "r+b") as f:
            image_service.download(context, image_meta["id"], f)
        LOG.info("volume %s filled from image %s (%s bytes)", volume.id, image_meta["id"], size)
        return {}, True

    def copy_image_to_volume(
        self, context: Any, volume: Any, image_service: Any, image_id: str, **kwargs: Any
    ) -> None:
        """Raw copy of the image into the volume's file."""
        with open(self.volume_path(volume), "r+b") as f:
            image_service.download(context, image_id, f)

    def copy_volume_to_image(
        self, context: Any, volume: Any, image_service: Any, image_meta: Any
    ) -> None:
        """Upload the volume's bytes as they are."""
        with open(self.volume_path(volume), "rb") as f:
            image_service.update(context, image_meta["id"], {}, f)

    # Attachments --------------------------------------------------------------------------
    def initialize_connection(self, volume: Any, connector: Any) -> dict[str, Any]:
        """'local' connection info: os-brick's LocalConnector opens device_path directly."""
        return {
            "driver_volume_type": "local",
            "data": {"device_path": str(self.volume_path(volume)), "volume_id": volume.id},
        }

    def terminate_connection(self, volume: Any, connector: Any, **kwargs: Any) -> None:
        """Nothing is exported, so nothing to tear down."""

    def create_export(self, context: Any, volume: Any, connector: Any) -> None:
        """No export: the file is the volume."""

    def ensure_export(self, context: Any, volume: Any) -> None:
        """No export."""

    def remove_export(self, context: Any, volume: Any) -> None:
        """No export."""

    def create_export_snapshot(self, context: Any, snapshot: Any, connector: Any) -> None:
        """No export."""

    def remove_export_snapshot(self, context: Any, snapshot: Any) -> None:
        """No export."""

    def initialize_connection_snapshot(self, snapshot: Any, connector: Any) -> dict[str, Any]:
        """'local' connection info of a snapshot's file (backups read snapshots this way)."""
        return {
            "driver_volume_type": "local",
            "data": {"device_path": str(self.snapshot_path(snapshot))},
        }

    def terminate_connection_snapshot(self, snapshot: Any, connector: Any, **kwargs: Any) -> None:
        """Nothing to tear down."""

"""Backups: full and incremental, restore byte-identical, export/import between stores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cloudsim.blockstore import BlockStore, ConflictError, InvalidArgumentError, NotFoundError

MiB = 1024**2


def _write(path: Path, offset: int, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
    finally:
        os.close(fd)


def test_incremental_chain_restores_byte_identical(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    path = store.create_volume("v", 16 * MiB)
    _write(path, 0, os.urandom(4 * MiB))
    full = store.create_backup("b1", "v")
    state1 = path.read_bytes()
    assert full == 4 * MiB

    _write(path, 10 * MiB, b"inc1" * 100)
    _write(path, 64 * 1024, bytes(64 * 1024))  # zeros over data must restore as zeros
    inc1 = store.create_backup("b2", "v", parent_backup_id="b1")
    state2 = path.read_bytes()
    assert inc1 == 64 * 1024  # only the new extent: the zeroed one needs no data

    _write(path, 2 * MiB, b"from-snapshot")
    store.create_snapshots({"s": "v"})
    state3 = path.read_bytes()
    _write(path, 3 * MiB, b"after the snapshot, not in the backup")
    inc2 = store.create_backup("b3", "v", parent_backup_id="b2", snapshot_id="s")
    assert inc2 == 64 * 1024

    for backup, state in (("b1", state1), ("b2", state2), ("b3", state3)):
        store.create_volume_from_backup(f"r-{backup}", backup, 16 * MiB)
        assert store.volume_path(f"r-{backup}").read_bytes() == state
    # restore into an existing volume overwrites everything, holes included
    store.restore_backup("b1", "r-b3")
    assert store.volume_path("r-b3").read_bytes() == state1


def test_delete_rules(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    store.create_volume("v", MiB)
    store.write("v", 0, b"x")
    store.create_backup("b1", "v")
    store.create_backup("b2", "v", parent_backup_id="b1")
    with pytest.raises(ConflictError, match="dependent"):
        store.delete_backup("b1")
    with pytest.raises(ConflictError):
        store.create_backup("b2", "v")
    store.create_volume("w", MiB)
    with pytest.raises(ConflictError):
        store.create_backup("b3", "w", parent_backup_id="b1")
    with pytest.raises(NotFoundError):
        store.create_backup("b3", "v", parent_backup_id="nope")
    store.delete_backup("b2")
    store.delete_backup("b1")
    with pytest.raises(NotFoundError):
        store.delete_backup("b1")
    assert not (tmp_path / "backups" / "b1").exists()


def test_export_import_between_sites(tmp_path: Path) -> None:
    site_a = BlockStore(tmp_path / "a")
    site_b = BlockStore(tmp_path / "b")
    path = site_a.create_volume("v", 8 * MiB)
    _write(path, MiB, os.urandom(MiB))
    site_a.create_backup("full", "v")
    _write(path, 5 * MiB, b"incremental")
    site_a.create_backup("inc", "v", parent_backup_id="full")
    expected = path.read_bytes()

    record = site_a.export_backup_record("inc")
    assert set(record) == {"backup_service", "backup_url"}
    site_b.import_backup_record("imported", record)
    site_a.delete_backup("inc")
    site_a.delete_backup("full")  # the imported copy does not depend on site A any more
    site_b.create_volume_from_backup("restored", "imported", 8 * MiB)
    assert site_b.volume_path("restored").read_bytes() == expected

    with pytest.raises(InvalidArgumentError, match="backup_service"):
        site_b.import_backup_record("x", {"backup_service": "swift", "backup_url": "e30="})
    with pytest.raises(InvalidArgumentError, match="backup_url"):
        site_b.import_backup_record(
            "x", {"backup_service": record["backup_service"], "backup_url": "!!"}
        )
    with pytest.raises(NotFoundError, match="gone"):
        site_b.import_backup_record("x", record)  # its data was deleted at site A
    with pytest.raises(ConflictError):
        site_b.import_backup_record("imported", record)

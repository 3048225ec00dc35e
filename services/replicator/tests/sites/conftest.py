"""Two real cloudsim sites over HTTP (protected "prot" and recovery "dr") for the site adapter
tests, with a cloud driver on each: the tenant ("demo") and an admin scoped to the tenant (for
backup record export/import, admin-only in Cinder)."""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from cloudsim.testing import SiteSet, running_sites
from lifeboat_replicator.adapters.cinder_access import attached_path
from lifeboat_shared.cloud import CloudDriver, CloudProject, SiteConfig, models

CONNECTOR: dict[str, Any] = {
    "host": "lifeboat-replicator-test",
    "initiator": "iqn.2026-11.org.lifeboat:test",
    "platform": "x86_64",
    "os_type": "linux",
    "multipath": False,
}


@pytest.fixture(scope="package")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteSet]:
    with running_sites(["prot", "dr"], tmp_path_factory.mktemp("sites")) as s:
        yield s


@dataclass
class Clouds:
    prot: CloudProject
    dr: CloudProject
    prot_admin: CloudProject
    dr_admin: CloudProject
    sites: SiteSet


@pytest_asyncio.fixture(scope="package")
async def clouds(sites: SiteSet) -> AsyncIterator[Clouds]:
    yaml = sites.clouds_yaml
    names = ("prot", "dr", "prot-admin", "dr-admin")
    driver = CloudDriver([SiteConfig(name=n, cloud=n, clouds_yaml=yaml) for n in names])
    try:
        yield Clouds(
            prot=await driver.project("prot"),
            dr=await driver.project("dr"),
            prot_admin=await driver.project("prot-admin", "demo"),
            dr_admin=await driver.project("dr-admin", "demo"),
            sites=sites,
        )
    finally:
        await driver.aclose()


@pytest.fixture
def uid() -> Callable[[], str]:
    return lambda: uuid.uuid4().hex[:12]


async def write_volume(project: CloudProject, volume_id: str, chunks: dict[int, bytes]) -> None:
    """Write bytes into a volume the way a host would: attach, write the device path, detach."""
    async with attached_path(project, volume_id, CONNECTOR) as path:
        fd = os.open(path, os.O_WRONLY)
        try:
            for offset, data in chunks.items():
                os.pwrite(fd, data, offset)
            os.fsync(fd)
        finally:
            os.close(fd)


def read_regions(path: Path, regions: dict[int, int]) -> dict[int, bytes]:
    with path.open("rb") as f:
        out = {}
        for offset, length in regions.items():
            f.seek(offset)
            out[offset] = f.read(length)
        return out


async def read_volume(
    project: CloudProject, volume_id: str, regions: dict[int, int]
) -> dict[int, bytes]:
    async with attached_path(project, volume_id, CONNECTOR, mode="ro") as path:
        return read_regions(path, regions)


async def no_attachments(project: CloudProject, volume_id: str) -> bool:
    vol: models.Volume = await project.block_storage.get_volume(volume_id)
    atts = await project.block_storage.list_attachments(volume_id)
    return not atts and not vol.attachments and vol.status == "available"


def content_digest(path: Path) -> str:
    """A digest of a volume's bytes that ignores how they are allocated: the size plus every
    non-zero 64 KiB block with its offset (holes and zero blocks read as zeros either way).
    Only the allocated parts are read (SEEK_DATA), so a sparse 1 GiB volume costs little."""
    block = 64 * 1024
    h = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        h.update(size.to_bytes(8, "little"))
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:  # ENXIO: no data after pos
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            off = start - start % block
            while off < end:
                chunk = os.pread(fd, block, off)
                if chunk.rstrip(b"\0"):
                    h.update(off.to_bytes(8, "little") + chunk)
                off += block
            pos = off
    finally:
        os.close(fd)
    return h.hexdigest()

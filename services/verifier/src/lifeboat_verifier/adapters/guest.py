"""How the verifier reaches inside a bubble's guests.

On cloudsim, through the site's admin API: a guest's health/exec service (its port on the
simulator's host), the files behind volumes and snapshots (hashed here, block by block), and the
simulator's application consistency checker. On a real cloud none of this exists: the README's
"Real clouds" section designs the probe instance that would answer the same questions from
inside the bubble through its console log; ``probe_for`` then returns None and the checks that
need a probe fail with that reason (boot checks need none: they use Nova's console log).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path
from typing import Any, Protocol

import httpx

from lifeboat_verifier.settings import GuestProbeSite

_BLOCK = 1024 * 1024
_ZERO = bytes(_BLOCK)


class ProbeError(Exception):
    """The probe could not answer (a guest without services, a missing file)."""


class GuestProbe(Protocol):
    async def services_port(self, server_id: str) -> int: ...
    async def exec(self, server_id: str, command: str) -> tuple[int, str]: ...
    async def volume_digest(self, volume_id: str) -> str: ...
    async def snapshot_digest(self, snapshot_id: str) -> str: ...
    async def consistency(self, volumes: dict[str, str]) -> dict[str, Any]: ...


def content_digest(path: Path) -> str:
    """SHA-256 of a disk image's content: each non-zero 1 MiB block with its offset, so a
    sparse copy and a written-out copy of the same bytes hash the same."""
    digest = hashlib.sha256()
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        digest.update(size.to_bytes(8, "big"))
        offset = 0
        while offset < size:
            try:
                offset = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError:
                break  # only holes left
            end = os.lseek(fd, offset, os.SEEK_HOLE)
            start = offset - offset % _BLOCK
            os.lseek(fd, start, os.SEEK_SET)
            pos = start
            while pos < end:
                block = os.read(fd, _BLOCK)
                if not block:
                    break
                if block != _ZERO[: len(block)]:
                    digest.update(pos.to_bytes(8, "big"))
                    digest.update(block)
                pos += len(block)
            offset = pos
    finally:
        os.close(fd)
    return digest.hexdigest()


class CloudsimProbe:
    def __init__(self, site: GuestProbeSite) -> None:
        self._site = site

    def _admin(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self._site.admin_url.rstrip("/"),
            headers={"X-Auth-Token": self._site.admin_token.get_secret_value()},
            timeout=30,
        )

    async def _get(self, path: str) -> dict[str, Any]:
        async with self._admin() as client:
            r = await client.get(path)
        if r.status_code != 200:
            raise ProbeError(f"{path}: {r.status_code} {r.text[:200]}")
        return dict(r.json())

    async def services_port(self, server_id: str) -> int:
        guest = await self._get(f"/servers/{server_id}/guest")
        port = guest.get("services_port")
        if not port:
            raise ProbeError("the guest's services are not running (no health/exec port)")
        return int(port)

    async def exec(self, server_id: str, command: str) -> tuple[int, str]:
        port = await self.services_port(server_id)
        async with httpx.AsyncClient(timeout=30) as client:
            r = await client.post(f"http://127.0.0.1:{port}/exec", json={"command": command})
        return r.status_code, r.text

    async def volume_digest(self, volume_id: str) -> str:
        path = Path((await self._get(f"/volumes/{volume_id}"))["path"])
        return await asyncio.to_thread(content_digest, path)

    async def snapshot_digest(self, snapshot_id: str) -> str:
        path = Path((await self._get(f"/snapshots/{snapshot_id}"))["path"])
        return await asyncio.to_thread(content_digest, path)

    async def consistency(self, volumes: dict[str, str]) -> dict[str, Any]:
        async with self._admin() as client:
            r = await client.post("/check", json={"volumes": volumes})
        if r.status_code != 200:
            raise ProbeError(f"consistency check: {r.status_code} {r.text[:200]}")
        return dict(r.json())


def probe_for(sites: dict[str, GuestProbeSite], site_id: str) -> GuestProbe | None:
    site = sites.get(site_id)
    return CloudsimProbe(site) if site is not None else None

"""The DR-side receiver's `resolve_target`: a target named "cinder:<volume_id>" is attached
through Cinder with this host's connector (the way a real host gets at a volume; it also keeps
anything else from attaching it meanwhile) and detached when the receiver is done with it. What
the attachment's connection info names is what gets written: a `local` path, or an `rbd` image
(`pool/volume-<id>`) written through librbd with the site's own cephx user (`rbd_sites`), only
in the pools configured for the site.

The receiver runs its writes in threads; the cloud driver is async. Calls are handed to the
event loop the driver runs on (`loop`) and waited for from the receiver's thread, so this must
never be called from that loop's own thread (it would wait for itself): that is refused.
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from lifeboat_replicator.adapters import cinder_access
from lifeboat_replicator.adapters.rbd_volumes import RbdAccess, RbdImageTarget
from lifeboat_replicator.datamover import BlockTarget, TargetRejected
from lifeboat_shared.cloud import BadRequest, CloudProject, Conflict, Forbidden, NotFound

_TARGET = re.compile(
    r"^cinder:([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
)
T = TypeVar("T")


class InvalidTarget(TargetRejected, ValueError):
    """A target name, size or volume the receiver must not write to (the receiver answers the
    sender with a rejection instead of dropping the connection)."""


class CinderAttachmentTargets:
    """resolve_target for the receiver: `with targets("cinder:<uuid>", size) as path: ...`."""

    def __init__(
        self,
        project: CloudProject,
        *,
        connector: Mapping[str, Any],
        loop: asyncio.AbstractEventLoop | None = None,
        timeout: float = 600.0,
        rbd: RbdAccess | None = None,
    ) -> None:
        self.project = project
        self.rbd = rbd
        self.connector = dict(connector)
        self._loop = loop or asyncio.get_running_loop()
        self._timeout = timeout

    def _check_thread(self) -> None:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            raise RuntimeError(
                "CinderAttachmentTargets called on its own event loop's thread; call it from "
                "a worker thread (it blocks until the cloud answers)"
            )

    def _run(self, call: Callable[[], Awaitable[T]]) -> T:
        self._check_thread()

        async def wrap() -> T:
            return await call()

        return asyncio.run_coroutine_threadsafe(wrap(), self._loop).result(self._timeout)

    @staticmethod
    def volume_id_of(target: str) -> str:
        match = _TARGET.match(target)
        if match is None:
            raise InvalidTarget(f"target {target!r}: expected 'cinder:<volume uuid>'")
        return match.group(1).lower()

    def __call__(self, target: str, size: int) -> AbstractContextManager[Path | BlockTarget]:
        volume_id = self.volume_id_of(target)
        self._check_thread()
        if size < 0:
            raise InvalidTarget(f"target {target!r}: size must not be negative")
        return self._attached(volume_id, target, size)

    @contextmanager
    def _attached(self, volume_id: str, target: str, size: int) -> Iterator[Path | BlockTarget]:
        bs = self.project.block_storage
        try:
            vol = self._run(lambda: bs.get_volume(volume_id))
        except (NotFound, BadRequest, Forbidden) as exc:
            # Permanent: reject. Transient cloud errors (503, timeouts) propagate: the receiver
            # drops the connection and the sender resumes later.
            raise InvalidTarget(f"target {target!r}: {exc}") from exc
        if size > vol.size_gb * cinder_access.GIB:
            raise InvalidTarget(
                f"target {target!r}: {size} bytes do not fit the volume's {vol.size_gb} GiB"
            )
        # Attachments of this host are left over from a receiver that died mid-transfer (the
        # receiver never lets two transfers write one target): drop them.
        host = self.connector.get("host")
        for ref in vol.attachments:
            if ref.attachment_id and ref.server_id is None and host and ref.host_name == host:
                self._run(functools.partial(bs.delete_attachment, ref.attachment_id))
        try:
            att = self._run(lambda: bs.create_attachment(volume_id, self.connector, mode="rw"))
        except (BadRequest, Conflict) as exc:  # attached elsewhere (a server, another host)
            raise InvalidTarget(f"target {target!r}: cannot attach: {exc}") from exc
        try:
            if att.driver_volume_type == "rbd" and self.rbd is not None:
                image = self._rbd_target(att, target, size)
                try:
                    self._run(lambda: bs.complete_attachment(att.id))
                    yield image
                finally:
                    image.close()
                return
            try:
                path = cinder_access.local_device_path(att)
            except cinder_access.UnsupportedConnection as exc:
                raise InvalidTarget(str(exc)) from exc
            self._run(lambda: bs.complete_attachment(att.id))
            yield path
        finally:
            self._run(lambda: bs.delete_attachment(att.id))

    def _rbd_target(self, att: Any, target: str, size: int) -> RbdImageTarget:
        assert self.rbd is not None
        name = str(att.connection_data.get("name") or "")
        pool, _, image = name.partition("/")
        if not pool or not image or pool not in self.rbd.pools:
            raise InvalidTarget(
                f"target {target!r}: Cinder named RBD image {name!r}, not in this site's "
                f"configured pools {list(self.rbd.pools)}"
            )
        return RbdImageTarget(self.rbd, pool, image, size=size)

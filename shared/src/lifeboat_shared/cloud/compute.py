"""Nova: servers (boot from volume, with ports and metadata), power state, volume attachments,
createImage of a volume-backed server, flavors.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from typing import Any

from lifeboat_shared.cloud import convert, models, rawcreate, rawlist
from lifeboat_shared.cloud.context import ProjectContext
from lifeboat_shared.cloud.errors import Conflict, InvalidInput, NotFound
from lifeboat_shared.cloud.findcreate import find_or_create
from lifeboat_shared.cloud.image import find_image_by_tag
from lifeboat_shared.cloud.tags import LifeboatTag

# Nova's `name` filter is a regular expression; only pass names that cannot mislead it.
_PLAIN_NAME = re.compile(r"^[\w .\-]+$")


def _check_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in metadata.items():
        if not isinstance(value, str) or len(key) > 255 or len(value) > 255 or not key:
            raise InvalidInput(
                f"metadata {key!r}: keys and values must be strings of 1-255 characters"
            )
        out[key] = value
    return out


class ComputeAPI:
    """Nova operations of one (site, project)."""

    def __init__(self, ctx: ProjectContext) -> None:
        self._ctx = ctx

    @property
    def _nova(self) -> Any:
        return self._ctx.conn.compute

    # --- reads -----------------------------------------------------------------------------

    async def list_servers(self, **filters: Any) -> tuple[models.Server, ...]:
        """Servers of the project; filters are Nova query parameters (applied exactly)."""

        def job() -> tuple[models.Server, ...]:
            return tuple(
                convert.server(d)
                for d in rawlist.nova(self._ctx.conn, "/servers/detail", "servers", **filters)
                if rawlist.matches(d, filters)
            )

        return await self._ctx.call("list servers", job)

    async def get_server(self, server_id: str) -> models.Server:
        return await self._ctx.call(
            f"get server {server_id}", lambda: convert.server(self._nova.get_server(server_id))
        )

    async def console_output(self, server_id: str, length: int | None = 200) -> str:
        """The server's console log tail (Nova ``os-getConsoleOutput``; bubble boot checks)."""

        def job() -> str:
            out = self._nova.get_server_console_output(server_id, length=length)
            return str((out or {}).get("output") or "")

        return await self._ctx.call(f"console output of server {server_id}", job)

    def _find_server(self, tag: LifeboatTag, name: str | None) -> models.Server | None:
        # Read as JSON: a project may hold thousands of servers when no name narrows the list.
        query: dict[str, Any] = {}
        if name and _PLAIN_NAME.match(name):
            query["name"] = name
        for raw in rawlist.nova(self._ctx.conn, "/servers/detail", "servers", **query):
            if tag.matches_metadata(raw.get("metadata")):
                return convert.server(raw)
        return None

    async def find_server(self, tag: LifeboatTag, name: str | None = None) -> models.Server | None:
        """The server a Lifeboat step created with this tag (name narrows the search)."""
        return await self._ctx.call(f"find server {tag.key}", lambda: self._find_server(tag, name))

    async def list_flavors(self) -> tuple[models.Flavor, ...]:
        def job() -> tuple[models.Flavor, ...]:
            return tuple(
                convert.flavor(d)
                for d in rawlist.nova(self._ctx.conn, "/flavors/detail", "flavors")
            )

        return await self._ctx.call("list flavors", job)

    async def find_flavor(self, name_or_id: str) -> models.Flavor:
        def job() -> models.Flavor:
            return convert.flavor(self._nova.find_flavor(name_or_id, ignore_missing=False))

        return await self._ctx.call(f"find flavor {name_or_id}", job)

    async def limits(self) -> dict[str, int]:
        """Nova's absolute limits and usage (maxTotalInstances, totalInstancesUsed, ...)."""

        def job() -> dict[str, int]:
            body = self._ctx.conn.compute.get("/limits").json()
            absolute = body.get("limits", {}).get("absolute", {})
            return {k: int(v) for k, v in absolute.items() if isinstance(v, int)}

        return await self._ctx.call("get limits", job)

    # --- servers ---------------------------------------------------------------------------

    async def create_server(
        self,
        name: str,
        flavor_id: str,
        *,
        boot_volume_id: str | None = None,
        image_id: str | None = None,
        data_volume_ids: Sequence[str] = (),
        port_ids: Sequence[str] = (),
        network_ids: Sequence[str] = (),
        metadata: Mapping[str, str] | None = None,
        tag: LifeboatTag | None = None,
        fresh: bool = False,
        user_data: str | None = None,
        key_name: str | None = None,
        availability_zone: str | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> models.Server:
        """Boot a server (from a volume, or from an image), find-or-create by `tag`.

        Ports are passed by id so Lifeboat controls addresses (re-IP at failover); without ports
        or networks the server gets none (`networks: none`).
        """
        if (boot_volume_id is None) == (image_id is None):
            raise InvalidInput("create_server needs exactly one of boot_volume_id or image_id")
        meta = _check_metadata(dict(metadata or {}))
        if tag is not None:
            meta.update(tag.metadata())
        # The API's own body (flavorRef, imageRef, block_device_mapping_v2): sent as JSON, not
        # through an SDK Resource (see rawcreate).
        attrs: dict[str, Any] = {"name": name, "flavorRef": flavor_id, "metadata": meta}
        bdm: list[dict[str, Any]] = []
        if boot_volume_id is not None:
            bdm.append(
                {
                    "boot_index": 0,
                    "uuid": boot_volume_id,
                    "source_type": "volume",
                    "destination_type": "volume",
                    "delete_on_termination": False,
                }
            )
        else:
            attrs["imageRef"] = image_id
        for vol in data_volume_ids:
            bdm.append(
                {
                    "boot_index": -1,
                    "uuid": vol,
                    "source_type": "volume",
                    "destination_type": "volume",
                    "delete_on_termination": False,
                }
            )
        if bdm:
            attrs["block_device_mapping_v2"] = bdm
        networks: list[dict[str, str]] = [{"port": p} for p in port_ids]
        networks += [{"uuid": n} for n in network_ids]
        attrs["networks"] = networks or "none"
        if user_data is not None:  # plain text here; Nova wants it base64-encoded
            attrs["user_data"] = base64.b64encode(user_data.encode()).decode()
        if key_name is not None:
            attrs["key_name"] = key_name
        if availability_zone is not None:
            attrs["availability_zone"] = availability_zone

        server, _ = await find_or_create(
            self._ctx,
            f"create server {name}",
            tag,
            lambda t: self._find_server(t, name),
            lambda: convert.server(rawcreate.nova_create_server(self._ctx.conn, attrs)),
            fresh=fresh,
        )
        if wait:
            server = await self.wait_for_server(server.id, "ACTIVE", timeout=timeout)
        return server

    async def wait_for_server(
        self, server_id: str, status: str, *, timeout: float | None = None
    ) -> models.Server:
        return await self._ctx.wait_for(
            f"wait for server {server_id} {status}",
            lambda: convert.server(
                rawlist.nova_get(self._ctx.conn, f"/servers/{server_id}", "server")
            ),
            lambda s: s.status,
            ready=(status,),
            failed=("ERROR",),
            timeout=timeout,
        )

    async def stop_server(
        self, server_id: str, *, wait: bool = True, timeout: float | None = None
    ) -> models.Server:
        """Stop a server; stopping a stopped server is not an error (steps may run twice)."""
        return await self._power(server_id, "stop", "SHUTOFF", wait=wait, timeout=timeout)

    async def start_server(
        self, server_id: str, *, wait: bool = True, timeout: float | None = None
    ) -> models.Server:
        """Start a server; starting an active server is not an error."""
        return await self._power(server_id, "start", "ACTIVE", wait=wait, timeout=timeout)

    async def _power(
        self, server_id: str, action: str, target: str, *, wait: bool, timeout: float | None
    ) -> models.Server:
        source = "ACTIVE" if action == "stop" else "SHUTOFF"
        current = await self.get_server(server_id)
        if current.status != target:
            try:
                await self._ctx.call(
                    f"{action} server {server_id}",
                    lambda: getattr(self._nova, f"{action}_server")(server_id),
                )
            except Conflict:
                # Nova answers 409 while an earlier request (a retried step's first attempt) is
                # still moving the server: fine if it is there or still on its way; any other
                # state (ERROR, RESCUE, ...) is a real conflict.
                again = await self.get_server(server_id)
                if again.status not in (target, source):
                    raise
        if not wait:
            return await self.get_server(server_id)
        return await self.wait_for_server(server_id, target, timeout=timeout)

    async def delete_server(
        self, server_id: str, *, wait: bool = True, timeout: float | None = None
    ) -> None:
        """Delete a server; a server already gone counts as deleted."""
        try:
            await self._ctx.call(
                f"delete server {server_id}",
                lambda: self._nova.delete_server(server_id, ignore_missing=False),
            )
        except NotFound:
            return
        if wait:
            await self._ctx.wait_gone(
                f"wait for server {server_id} deleted",
                lambda: self._nova.get_server(server_id),
                timeout=timeout,
            )

    async def set_server_metadata(self, server_id: str, metadata: Mapping[str, str]) -> None:
        meta = _check_metadata(metadata)
        await self._ctx.call(
            f"set metadata of server {server_id}",
            lambda: self._nova.set_server_metadata(server_id, **meta),
        )

    # --- volume attachments ----------------------------------------------------------------

    async def server_volumes(self, server_id: str) -> tuple[models.ServerVolume, ...]:
        """The server's volume attachments (NotFound when the server does not exist)."""

        def job() -> tuple[models.ServerVolume, ...]:
            return tuple(
                convert.server_volume(a, server_id)
                for a in rawlist.nova(
                    self._ctx.conn,
                    f"/servers/{server_id}/os-volume_attachments",
                    "volumeAttachments",
                )
            )

        return await self._ctx.call(f"list volumes of server {server_id}", job)

    async def attach_volume(
        self, server_id: str, volume_id: str, *, wait: bool = True, timeout: float | None = None
    ) -> models.ServerVolume:
        """Attach a volume to a server; an existing attachment of the pair is returned as is."""

        def job() -> models.ServerVolume:
            for att in self._nova.volume_attachments(server_id):
                if getattr(att, "volume_id", None) == volume_id:
                    return convert.server_volume(att, server_id)
            made = self._nova.create_volume_attachment(server_id, volume=volume_id)
            return convert.server_volume(made, server_id)

        attached = await self._ctx.call(f"attach volume {volume_id} to {server_id}", job)
        if wait:
            await self._ctx.wait_for(
                f"wait for volume {volume_id} in-use",
                lambda: convert.volume(self._ctx.conn.block_storage.get_volume(volume_id)),
                lambda v: v.status,
                ready=("in-use",),
                failed=("error", "error_attaching"),
                timeout=timeout,
            )
        return attached

    async def detach_volume(
        self, server_id: str, volume_id: str, *, wait: bool = True, timeout: float | None = None
    ) -> None:
        """Detach a volume; detaching a volume that is not attached is not an error."""
        await self._ctx.call(
            f"detach volume {volume_id} from {server_id}",
            lambda: self._nova.delete_volume_attachment(server_id, volume_id, ignore_missing=True),
        )
        if wait:
            await self._ctx.wait_for(
                f"wait for volume {volume_id} detached",
                lambda: convert.volume(self._ctx.conn.block_storage.get_volume(volume_id)),
                lambda v: (
                    "detached"
                    if not any(a.server_id == server_id for a in v.attachments)
                    and v.status != "detaching"
                    else v.status
                ),
                ready=("detached",),
                failed=("error", "error_detaching"),
                timeout=timeout,
            )

    # --- images of servers -----------------------------------------------------------------

    async def create_server_image(
        self,
        server_id: str,
        name: str,
        *,
        metadata: Mapping[str, str] | None = None,
        tag: LifeboatTag | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> models.Image:
        """Nova createImage. For a volume-backed server, Nova snapshots every volume (after
        quiescing the guest when it can) and returns an image whose block_device_mapping names
        the snapshots: Lifeboat's application-consistent point for a single VM.
        """
        meta = _check_metadata(dict(metadata or {}))
        if tag is not None:
            meta.update(tag.metadata())

        def create() -> models.Image:
            server = self._nova.get_server(server_id)
            image_id = server.create_image(self._nova, name, meta)
            return convert.image(self._ctx.conn.image.get_image(image_id))

        image, _ = await find_or_create(
            self._ctx,
            f"create image of server {server_id}",
            tag,
            lambda t: find_image_by_tag(self._ctx.conn, t),
            create,
        )
        if wait:
            image = await self._ctx.wait_for(
                f"wait for image {image.id} active",
                lambda: convert.image(self._ctx.conn.image.get_image(image.id)),
                lambda i: i.status,
                ready=("active",),
                failed=("killed", "deleted", "error"),
                timeout=timeout,
            )
        return image

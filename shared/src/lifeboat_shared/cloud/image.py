"""Glance: images (list, show, create and upload small raw images, delete) and lookup of
Lifeboat-tagged images (made by Nova createImage, whose metadata become image properties).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import openstack.connection

from lifeboat_shared.cloud import convert, models, rawlist
from lifeboat_shared.cloud.context import ProjectContext
from lifeboat_shared.cloud.errors import NotFound
from lifeboat_shared.cloud.findcreate import find_or_create
from lifeboat_shared.cloud.tags import LifeboatTag


def find_image_by_tag(
    conn: openstack.connection.Connection, tag: LifeboatTag
) -> models.Image | None:
    """Blocking: the image whose properties carry `tag` (owned by the current project)."""
    for raw in rawlist.glance_images(conn, owner=conn.current_project_id):
        image = convert.image(raw)
        if tag.matches_metadata(image.properties):
            return image
    return None


class ImageAPI:
    """Glance operations of one (site, project)."""

    def __init__(self, ctx: ProjectContext) -> None:
        self._ctx = ctx

    @property
    def _glance(self) -> Any:
        return self._ctx.conn.image

    async def list_images(self, **filters: Any) -> tuple[models.Image, ...]:
        """Images visible to the project; filters are Glance query parameters."""

        def job() -> tuple[models.Image, ...]:
            raw = rawlist.glance_images(self._ctx.conn, **filters)
            return tuple(convert.image(d) for d in raw if rawlist.matches(d, filters))

        return await self._ctx.call("list images", job)

    async def get_image(self, image_id: str) -> models.Image:
        return await self._ctx.call(
            f"get image {image_id}", lambda: convert.image(self._glance.get_image(image_id))
        )

    async def find_image(self, tag: LifeboatTag) -> models.Image | None:
        return await self._ctx.call(
            f"find image {tag.key}", lambda: find_image_by_tag(self._ctx.conn, tag)
        )

    async def create_image(
        self,
        name: str,
        data: bytes,
        *,
        disk_format: str = "raw",
        container_format: str = "bare",
        properties: Mapping[str, str] | None = None,
        tag: LifeboatTag | None = None,
        wait: bool = True,
        timeout: float | None = None,
    ) -> models.Image:
        """Create an image and upload `data` (small images: templates, test fixtures)."""
        props = dict(properties or {})
        if tag is not None:
            props.update(tag.metadata())

        def create() -> models.Image:
            made = self._glance.create_image(
                name,
                data=data,
                disk_format=disk_format,
                container_format=container_format,
                allow_duplicates=True,
                wait=False,
                **props,
            )
            return convert.image(made)

        image, _ = await find_or_create(
            self._ctx,
            f"create image {name}",
            tag,
            lambda t: find_image_by_tag(self._ctx.conn, t),
            create,
        )
        if wait:
            image = await self._ctx.wait_for(
                f"wait for image {image.id} active",
                lambda: convert.image(self._glance.get_image(image.id)),
                lambda i: i.status,
                ready=("active",),
                failed=("killed", "deleted"),
                timeout=timeout,
            )
        return image

    async def delete_image(self, image_id: str) -> None:
        """Delete an image; an image already gone counts as deleted."""
        try:
            await self._ctx.call(
                f"delete image {image_id}",
                lambda: self._glance.delete_image(image_id, ignore_missing=False),
            )
        except NotFound:
            return

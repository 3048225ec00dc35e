"""Glance through the driver: create and upload, list, show, find by tag, delete."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from lifeboat_shared.cloud import CloudProject, LifeboatTag, NotFound

from .conftest import Janitor

pytestmark = pytest.mark.conformance


async def test_image_lifecycle(
    cloud: CloudProject, janitor: Janitor, make_tag: Callable[[str], LifeboatTag]
) -> None:
    tag = make_tag("img")
    name = f"conf-img-{uuid.uuid4().hex[:6]}"
    data = b"lifeboat-test-image\n" * 100
    image = await cloud.image.create_image(
        name, data, properties={"lifeboat_purpose": "conformance"}, tag=tag
    )
    janitor.add("image", lambda: cloud.image.delete_image(image.id))
    assert image.status == "active"
    assert image.size == len(data)
    assert image.disk_format == "raw"
    assert image.properties["lifeboat_purpose"] == "conformance"
    again = await cloud.image.create_image(name, data, tag=tag)
    assert again.id == image.id
    found = await cloud.image.find_image(tag)
    assert found is not None
    assert found.id == image.id
    assert image.id in {i.id for i in await cloud.image.list_images()}
    vol = await cloud.block_storage.create_volume(
        1, name=f"{name}-vol", image_id=image.id, tag=make_tag("vol-from-image")
    )
    janitor.add("volume", lambda: cloud.block_storage.delete_volume(vol.id))
    assert vol.status == "available"
    assert vol.bootable
    await cloud.block_storage.delete_volume(vol.id)
    await cloud.image.delete_image(image.id)
    with pytest.raises(NotFound):
        await cloud.image.get_image(image.id)

"""Error translation: the cloud's status codes become Lifeboat's own exceptions, over real HTTP."""

from __future__ import annotations

import uuid

import pytest

from lifeboat_shared.cloud import (
    BadRequest,
    CloudProject,
    Conflict,
    InvalidInput,
    NotFound,
    QuotaExceeded,
    errors,
)

from .conftest import BaseNet, BootedServer

pytestmark = pytest.mark.conformance

MISSING = "00000000-0000-4000-8000-000000000000"


async def test_missing_resources_are_not_found(cloud: CloudProject) -> None:
    with pytest.raises(NotFound) as server_exc:
        await cloud.compute.get_server(MISSING)
    assert server_exc.value.status == 404
    with pytest.raises(NotFound):
        await cloud.block_storage.get_volume(MISSING)
    with pytest.raises(NotFound):
        await cloud.block_storage.get_snapshot(MISSING)
    with pytest.raises(NotFound):
        await cloud.network.get_network(MISSING)
    with pytest.raises(NotFound):
        await cloud.network.get_port(MISSING)
    with pytest.raises(NotFound):
        await cloud.image.get_image(MISSING)


async def test_not_found_is_a_cloud_error_and_names_the_operation(cloud: CloudProject) -> None:
    with pytest.raises(errors.CloudError) as exc:
        await cloud.block_storage.get_volume(MISSING)
    assert isinstance(exc.value, NotFound)
    assert MISSING in str(exc.value)


async def test_deleting_missing_things_is_idempotent(cloud: CloudProject) -> None:
    # A retried delete step must not fail because its first attempt succeeded.
    await cloud.compute.delete_server(MISSING)
    await cloud.block_storage.delete_volume(MISSING)
    await cloud.block_storage.delete_snapshot(MISSING)
    await cloud.network.delete_port(MISSING)
    await cloud.network.delete_network(MISSING)
    await cloud.image.delete_image(MISSING)


async def test_invalid_cidr_is_bad_request(cloud: CloudProject, base_net: BaseNet) -> None:
    with pytest.raises(BadRequest) as exc:
        await cloud.network.create_subnet(
            base_net.network.id, "not-a-cidr", name=f"bad-{uuid.uuid4().hex[:6]}"
        )
    assert exc.value.status == 400


async def test_unknown_flavor_is_bad_request_or_not_found(cloud: CloudProject) -> None:
    # Nova answers 400 ("Flavor ... could not be found") when booting with an unknown flavor.
    with pytest.raises((BadRequest, NotFound)):
        await cloud.compute.create_server(
            f"bad-{uuid.uuid4().hex[:6]}", "no-such-flavor", image_id=MISSING, wait=False
        )


async def test_volume_over_quota_is_quota_exceeded(cloud: CloudProject) -> None:
    with pytest.raises(QuotaExceeded) as exc:
        await cloud.block_storage.create_volume(
            1_000_000_000, name=f"huge-{uuid.uuid4().hex[:6]}", wait=False
        )
    assert exc.value.status == 413


async def test_state_conflict_is_conflict(cloud: CloudProject, booted: BootedServer) -> None:
    # Nova refuses to start an ACTIVE server with 409; called raw, below the driver's own
    # idempotent start_server, to see the translation itself.
    server = await cloud.compute.wait_for_server(booted.server.id, "ACTIVE")
    nova = cloud.context.conn.compute
    with pytest.raises(Conflict) as exc:
        await cloud.context.call("raw start", nova.start_server, server.id)
    assert exc.value.status == 409


async def test_driver_refuses_bad_input_before_calling(cloud: CloudProject) -> None:
    with pytest.raises(InvalidInput, match="size_gb"):
        await cloud.block_storage.create_volume(0)
    with pytest.raises(InvalidInput, match="exactly one"):
        await cloud.compute.create_server("x", "1")
    with pytest.raises(InvalidInput, match="volume_types"):
        await cloud.block_storage.create_volume_group("g", group_type="t", volume_types=[])

"""Which connection types the replicator can open, and the errors for the others: each names the
type and what to configure, instead of failing somewhere inside a transfer."""

from __future__ import annotations

import pytest

from lifeboat_replicator.adapters.cinder_access import UnsupportedConnection, local_device_path
from lifeboat_shared.cloud import models


def _attachment(kind: str, **data: object) -> models.Attachment:
    return models.Attachment(
        id="a1",
        volume_id="v1",
        status="attached",
        connection_info={"driver_volume_type": kind, "data": data},
    )


def test_local_connection_gives_the_device_path() -> None:
    assert str(local_device_path(_attachment("local", device_path="/srv/v1"))) == "/srv/v1"


def test_rbd_without_ceph_access_names_the_setting() -> None:
    with pytest.raises(UnsupportedConnection) as err:
        local_device_path(_attachment("rbd", name="volumes/volume-v1"))
    assert "'rbd'" in str(err.value)
    assert "LIFEBOAT_REPLICATOR_RBD_SITES" in str(err.value)


@pytest.mark.parametrize("kind", ["iscsi", "nvmeof", "fibre_channel"])
def test_block_protocols_are_refused_naming_the_type(kind: str) -> None:
    with pytest.raises(UnsupportedConnection) as err:
        local_device_path(_attachment(kind))
    assert repr(kind) in str(err.value)
    assert "'local' and 'rbd'" in str(err.value)

"""Fixtures of the conformance suite: the target cloud, a driver on it, and shared resources.

Every test talks to a real HTTP API through openstacksdk (cloudsim by default, real OpenStack
when LIFEBOAT_CONFORMANCE_* is set, see targets.py). Resources get unique names and tags per run
and are deleted at the end, so the suite can run against a long-lived real cloud.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import pytest_asyncio

from lifeboat_shared.cloud import (
    CloudDriver,
    CloudError,
    CloudProject,
    LifeboatTag,
    models,
)

from .targets import Target, real_cloud_from_env, selected_targets


@pytest.fixture(scope="session", params=selected_targets())
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    if request.param == "openstack":
        clouds_yaml, cloud, admin_cloud = real_cloud_from_env()
        yield Target("openstack", clouds_yaml, cloud, admin_cloud)
        return
    from cloudsim.testing import running_sites

    with running_sites(["conf"], tmp_path_factory.mktemp("cloudsim")) as sites:
        handle = sites.sites["conf"]
        yield Target(
            "cloudsim",
            sites.clouds_yaml,
            "conf",
            "conf-admin",
            admin_url=handle.admin_url,
            admin_token=handle.admin_token,
        )


@pytest_asyncio.fixture(scope="session")
async def driver(target: Target) -> AsyncIterator[CloudDriver]:
    drv = CloudDriver(
        [target.site("target"), target.site("target-admin", admin=True)], target.settings()
    )
    yield drv
    await drv.aclose()


@pytest_asyncio.fixture(scope="session")
async def cloud(driver: CloudDriver) -> CloudProject:
    return await driver.project("target")


@pytest_asyncio.fixture(scope="session")
async def admin_cloud(driver: CloudDriver) -> CloudProject:
    return await driver.project("target-admin")


@pytest.fixture(scope="session")
def run_id() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def make_tag(run_id: str, request: pytest.FixtureRequest) -> Callable[[str], LifeboatTag]:
    """Tags unique to this run and test (`step` names the test, `key` the resource)."""
    step = request.node.name.split("[")[0][:60]

    def make(key: str) -> LifeboatTag:
        return LifeboatTag(op=f"conf-{run_id}", step=step, key=f"{key}-{uuid.uuid4().hex[:8]}")

    return make


class Janitor:
    """Deletes what a test (or the session) created, newest first, ignoring what is gone."""

    def __init__(self) -> None:
        self._undo: list[tuple[str, Callable[[], Awaitable[None]]]] = []

    def add(self, what: str, undo: Callable[[], Awaitable[None]]) -> None:
        self._undo.append((what, undo))

    async def clean(self) -> list[str]:
        failures: list[str] = []
        while self._undo:
            what, undo = self._undo.pop()
            try:
                await undo()
            except CloudError as exc:
                failures.append(f"{what}: {exc}")
        return failures


@pytest_asyncio.fixture
async def janitor() -> AsyncIterator[Janitor]:
    j = Janitor()
    yield j
    failures = await j.clean()
    assert not failures, f"cleanup failed: {failures}"


@pytest_asyncio.fixture(scope="session")
async def session_janitor() -> AsyncIterator[Janitor]:
    j = Janitor()
    yield j
    await j.clean()


@dataclass(frozen=True)
class Env:
    """What the target offers that the tests need (found, not assumed)."""

    flavor: models.Flavor
    volume_type: models.VolumeType | None
    group_type: models.GroupType | None
    external_network: models.Network | None


# Cinder keeps this group type for migrated consistency groups; generic groups use another.
RESERVED_GROUP_TYPES = frozenset({"default_cgsnapshot_type"})


@pytest_asyncio.fixture(scope="session")
async def env(
    cloud: CloudProject,
    admin_cloud: CloudProject,
    target: Target,
    run_id: str,
    session_janitor: Janitor,
) -> Env:
    """Find a flavor, volume and group types and an external network; when the target lacks a
    flavor or a usable group type and an admin entry is configured, create them for the session
    (a fresh real lab has neither; these are admin set-up, not driver operations)."""
    admin_conn: Any = admin_cloud.context.conn
    has_admin = target.admin_cloud != target.cloud
    flavors = await cloud.compute.list_flavors()
    if not flavors and has_admin:
        made = await admin_cloud.context.call(
            "create test flavor",
            lambda: admin_conn.compute.create_flavor(
                name=f"conf-{run_id}-tiny", ram=512, vcpus=1, disk=1, is_public=True
            ),
        )
        session_janitor.add(
            "test flavor",
            lambda: admin_cloud.context.call(
                "delete test flavor", admin_conn.compute.delete_flavor, made.id
            ),
        )
        flavors = await cloud.compute.list_flavors()
    if not flavors:
        pytest.skip("the target cloud has no flavor (and no admin entry to create one)")
    flavor = min(flavors, key=lambda f: (f.ram_mb, f.vcpus, f.disk_gb))
    vtypes = await cloud.block_storage.list_volume_types()
    if len(vtypes) < 2 and has_admin:
        # A second type lets the suite check that a group refuses a type it does not hold.
        with contextlib.suppress(CloudError):
            made_vt = await admin_cloud.context.call(
                "create test volume type",
                lambda: admin_conn.block_storage.create_type(
                    name=f"conf-{run_id}-second", is_public=True
                ),
            )
            session_janitor.add(
                "test volume type",
                lambda: admin_cloud.context.call(
                    "delete test volume type", admin_conn.block_storage.delete_type, made_vt.id
                ),
            )
            vtypes = await cloud.block_storage.list_volume_types()
    gtypes: tuple[models.GroupType, ...] = ()
    with contextlib.suppress(CloudError):
        gtypes = await cloud.block_storage.list_group_types()
    usable = [g for g in gtypes if g.name not in RESERVED_GROUP_TYPES]
    if not usable and has_admin:
        with contextlib.suppress(CloudError):
            made_gt = await admin_cloud.context.call(
                "create test group type",
                lambda: admin_conn.block_storage.create_group_type(
                    name=f"conf-{run_id}-group", is_public=True
                ),
            )
            session_janitor.add(
                "test group type",
                lambda: admin_cloud.context.call(
                    "delete test group type", admin_conn.block_storage.delete_group_type, made_gt.id
                ),
            )
            usable = [g for g in await cloud.block_storage.list_group_types() if g.id == made_gt.id]
    externals = [n for n in await cloud.network.list_networks() if n.is_external]
    return Env(
        flavor=flavor,
        volume_type=vtypes[0] if vtypes else None,
        group_type=usable[0] if usable else None,
        external_network=externals[0] if externals else None,
    )


@dataclass(frozen=True)
class BaseNet:
    network: models.Network
    subnet: models.Subnet


@pytest_asyncio.fixture(scope="session")
async def base_net(cloud: CloudProject, run_id: str, session_janitor: Janitor) -> BaseNet:
    tag = LifeboatTag(op=f"conf-{run_id}", step="base-net", key="net")
    net = await cloud.network.create_network(f"conf-{run_id}-net", tag=tag)
    session_janitor.add("base network", lambda: cloud.network.delete_network(net.id))
    subnet = await cloud.network.create_subnet(
        net.id,
        "10.77.0.0/24",
        name=f"conf-{run_id}-subnet",
        gateway_ip="10.77.0.1",
        allocation_pools=[("10.77.0.10", "10.77.0.200")],
        tag=LifeboatTag(op=f"conf-{run_id}", step="base-net", key="subnet"),
    )
    session_janitor.add("base subnet", lambda: cloud.network.delete_subnet(subnet.id))
    return BaseNet(net, subnet)


@dataclass(frozen=True)
class BootedServer:
    server: models.Server
    boot_volume: models.Volume
    port: models.Port
    tag: LifeboatTag


@pytest_asyncio.fixture(scope="session")
async def booted(
    cloud: CloudProject, env: Env, base_net: BaseNet, run_id: str, session_janitor: Janitor
) -> BootedServer:
    """One boot-from-volume server with a port and metadata, shared by the compute tests
    (a boot costs seconds on real OpenStack)."""
    op = f"conf-{run_id}"
    vol = await cloud.block_storage.create_volume(
        1,
        name=f"conf-{run_id}-root",
        bootable=True,
        tag=LifeboatTag(op=op, step="boot", key="root"),
    )
    session_janitor.add("boot volume", lambda: cloud.block_storage.delete_volume(vol.id))
    port = await cloud.network.create_port(
        base_net.network.id,
        name=f"conf-{run_id}-port",
        fixed_ips=[(base_net.subnet.id, "10.77.0.50")],
        tag=LifeboatTag(op=op, step="boot", key="port"),
    )
    session_janitor.add("boot port", lambda: cloud.network.delete_port(port.id))
    tag = LifeboatTag(op=op, step="boot", key="server")
    server = await cloud.compute.create_server(
        f"conf-{run_id}-vm",
        env.flavor.id or "",
        boot_volume_id=vol.id,
        port_ids=[port.id],
        metadata={"app": "conformance"},
        tag=tag,
    )
    session_janitor.add("server", lambda: cloud.compute.delete_server(server.id))
    return BootedServer(server, vol, port, tag)


async def add_interface(
    cloud: CloudProject, router_id: str, subnet_id: str, janitor: Janitor
) -> models.Port:
    """Connect a subnet to a router and register the undo."""
    port = await cloud.network.add_router_interface(router_id, subnet_id)
    janitor.add("interface", lambda: cloud.network.remove_router_interface(router_id, subnet_id))
    return port

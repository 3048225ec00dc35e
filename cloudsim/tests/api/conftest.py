"""Fixtures: real cloudsim sites over HTTP (one child process) and openstacksdk connections.

Helpers are fixtures (not importable functions) because the suite runs under pytest's
importlib import mode, where test directories are not on sys.path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import openstack
import pytest
from openstack.config import OpenStackConfig

from cloudsim.testing import SiteSet, running_sites


def _connect(sites: SiteSet, cloud: str) -> Any:
    """An openstacksdk connection (typed Any: its proxies are unions over API versions)."""
    cfg = OpenStackConfig(config_files=[str(sites.clouds_yaml)]).get_one(cloud=cloud)
    return openstack.connection.Connection(config=cfg)


def _image_id(conn: Any) -> str:
    img = conn.image.find_image("cirros")
    assert img is not None
    return str(img.id)


def _clouds_env(sites: SiteSet) -> dict[str, str]:
    """Environment for the openstack CLI: only our clouds.yaml, no stray OS_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(sites.clouds_yaml)
    return env


@pytest.fixture(scope="session")
def connect() -> Callable[[SiteSet, str], Any]:
    return _connect


@pytest.fixture(scope="session")
def image_id() -> Callable[[Any], str]:
    return _image_id


@pytest.fixture(scope="session")
def clouds_env() -> Callable[[SiteSet], dict[str, str]]:
    return _clouds_env


@pytest.fixture(scope="session")
def sites(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SiteSet]:
    with running_sites(["east", "west"], tmp_path_factory.mktemp("cloudsim")) as s:
        yield s


@pytest.fixture(scope="session")
def conn(sites: SiteSet) -> Iterator[Any]:
    c = _connect(sites, "east")
    yield c
    c.close()


@pytest.fixture(scope="session")
def admin_conn(sites: SiteSet) -> Iterator[Any]:
    c = _connect(sites, "east-admin")
    yield c
    c.close()


@pytest.fixture(scope="session")
def admin_http(sites: SiteSet) -> Iterator[httpx.Client]:
    with sites.sites["east"].admin() as client:
        yield client


@pytest.fixture
def private_net(conn: Any) -> str:
    net = conn.network.find_network("private")
    assert net is not None
    return str(net.id)

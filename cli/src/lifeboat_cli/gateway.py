"""One public endpoint for the embedded stack: the five apps behind one port, in the catalog.

``GatewayServer`` serves lifeboat_shared.service.gateway's dispatcher (``/policy/...``,
``/orchestrator/...``, ...) on one port beside the services' own ports. ``register_endpoint``
puts that base URL in a Keystone catalog under the ``disaster-recovery`` service type (cloudsim's
Keystone here; the same API calls as on a real Keystone), and ``write_clouds_yaml`` writes the
``lifeboat-embedded`` cloud an `openstack dr ...` client needs: the local Keystone's login,
nothing of Lifeboat's (the endpoint comes from the catalog).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import uvicorn
import yaml
from rich.console import Console
from starlette.types import ASGIApp

from lifeboat_cli.retrying import warn
from lifeboat_shared.service.auth import (
    ChainedTokenValidator,
    TokenValidator,
    make_token_validator,
)
from lifeboat_shared.service.gateway import SERVICE_TYPE, Gateway
from lifeboat_shared.service.keystone_auth import KeystoneTokenValidator
from lifeboat_shared.service.server import uvicorn_config
from lifeboat_shared.settings import LifeboatSettings

EMBEDDED_CLOUD = "lifeboat-embedded"
SERVICE_NAME = "lifeboat"


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class GatewayServer:
    """The dispatcher on its own port (0: a free one); ``url`` once started."""

    def __init__(
        self, apps: Mapping[str, ASGIApp], settings: LifeboatSettings, host: str, port: int
    ) -> None:
        config = uvicorn_config(Gateway(apps), settings, host=host, port=port, lifespan="off")
        self.server = _Server(config)
        self.url = f"http://{host}:{port}"
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._serve(), name="gateway")
        while not self.server.started:
            if self._task.done():
                raise RuntimeError(f"the gateway could not listen on {self.url}")
            await asyncio.sleep(0.05)
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"

    async def _serve(self) -> None:
        with contextlib.suppress(SystemExit):  # uvicorn exits when it cannot bind
            await self.server.serve()

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


def keystone_or_static(static: TokenValidator, auth: Mapping[str, Any]) -> ChainedTokenValidator:
    """The embedded services' validator: the static tokens first, then the local Keystone's
    tokens (validated with ``auth``'s admin login, as a deployment's service user would)."""
    keystone = KeystoneTokenValidator(
        auth_url=str(auth["auth_url"]),
        username=str(auth["username"]),
        password=str(auth["password"]),
        project_name=str(auth["project_name"]),
        cache_seconds=60.0,
    )
    return ChainedTokenValidator(static, keystone)


def register_endpoint(clouds_yaml: Path, admin_cloud: str, url: str) -> None:
    """Register (or re-point) Lifeboat's catalog entry: one service of type disaster-recovery,
    its public/internal/admin endpoints at ``url`` (blocking: openstacksdk)."""
    from openstack.config import OpenStackConfig
    from openstack.connection import Connection

    region = OpenStackConfig(config_files=[str(clouds_yaml)]).get_one(cloud=admin_cloud)
    conn = Connection(config=region)
    try:
        idn: Any = conn.identity
        service = next(iter(idn.services(type=SERVICE_TYPE)), None)
        if service is None:
            service = idn.create_service(
                name=SERVICE_NAME, type=SERVICE_TYPE, description="Lifeboat disaster recovery"
            )
        have = set()
        for ep in idn.endpoints(service_id=service.id):
            if ep.url == url:
                have.add(ep.interface)
            else:
                idn.delete_endpoint(ep)
        for interface in ("public", "internal", "admin"):
            if interface not in have:
                idn.create_endpoint(
                    service_id=service.id,
                    interface=interface,
                    url=url,
                    region_id=conn.config.get_region_name(),
                )
    finally:
        conn.close()


def write_clouds_yaml(path: Path, site_clouds_yaml: Path, login_cloud: str) -> Path:
    """``path``: the `lifeboat-embedded` cloud (the login of ``login_cloud`` in the sites'
    clouds.yaml); `openstack --os-cloud lifeboat-embedded dr ...` finds Lifeboat in its catalog."""
    clouds = yaml.safe_load(site_clouds_yaml.read_text())["clouds"]
    entry = dict(clouds[login_cloud])
    # it holds a Keystone password: owner-only, like the sites' own clouds.yaml should be
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(yaml.safe_dump({"clouds": {EMBEDDED_CLOUD: entry}}, sort_keys=False))
    os.chmod(path, 0o600)  # an existing file keeps its mode through O_CREAT
    return path


def embedded_validator(
    settings: LifeboatSettings, clouds_yaml: Path, admin_cloud: str
) -> ChainedTokenValidator:
    """The settings' own validator (static tokens), then ``admin_cloud``'s Keystone."""
    auth = yaml.safe_load(clouds_yaml.read_text())["clouds"][admin_cloud]["auth"]
    return keystone_or_static(make_token_validator(settings), auth)


async def publish(url: str, clouds_yaml: Path, admin_cloud: str, out: Path) -> Path:
    """Register ``url`` in ``admin_cloud``'s catalog and write the `lifeboat-embedded` cloud
    (a registration that fails is reported, not fatal: the APIs work without the catalog)."""
    try:
        await asyncio.to_thread(register_endpoint, clouds_yaml, admin_cloud, url)
    except Exception as exc:  # openstacksdk's errors have no common base worth naming
        warn(f"registering {url} in {admin_cloud}'s Keystone catalog failed: {exc}")
    return await asyncio.to_thread(write_clouds_yaml, out, clouds_yaml, admin_cloud)


def print_endpoint(console: Console, url: str, clouds: Path) -> None:
    console.print(
        f"one endpoint: [bold]{url}[/] (/policy, /replicator, /orchestrator, /verifier, "
        f"/billing), in the Keystone catalog as '{SERVICE_TYPE}'"
    )
    console.print(
        f"openstack: OS_CLIENT_CONFIG_FILE={clouds} openstack --os-cloud {EMBEDDED_CLOUD} "
        "dr plan list",
        soft_wrap=True,
    )

"""`lifeboat --os-cloud NAME`: find Lifeboat and authenticate from clouds.yaml.

The cloud's entry (openstack.config: OS_CLIENT_CONFIG_FILE, ./clouds.yaml,
~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml) gives the Keystone credentials; a
token is obtained with keystoneauth1, and Lifeboat's base URL is the catalog's endpoint of
service type ``disaster-recovery`` (``lifeboat_service_type`` in the entry to use another),
else the entry's own ``lifeboat_endpoint`` key. Each service is under ``<base>/<service>``
(``/policy``, ``/orchestrator``, ...: the one public endpoint).

The result is put in the environment variables the verbs already read (``LIFEBOAT_TOKEN``,
``LIFEBOAT_<SERVICE>_URL``), only where unset: an explicit flag or variable still wins.
"""

from __future__ import annotations

import os
from typing import Any, NoReturn

import typer

SERVICE_TYPE = "disaster-recovery"
SERVICES = ("policy", "replicator", "orchestrator", "verifier", "billing")


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: --os-cloud {message}", err=True)
    raise typer.Exit(2)


def resolve(cloud: str) -> tuple[str, str]:
    """(Lifeboat base URL, Keystone token) for the clouds.yaml entry ``cloud``."""
    import openstack.config
    import openstack.exceptions
    from keystoneauth1 import exceptions as ks_exc

    try:
        region: Any = openstack.config.OpenStackConfig().get_one(cloud=cloud)
    except (openstack.exceptions.ConfigException, ks_exc.ClientException) as exc:
        _fail(f"{cloud}: not usable from clouds.yaml ({exc})")
    session = region.get_session()
    try:
        token = session.get_token()
    except ks_exc.ClientException as exc:
        _fail(f"{cloud}: Keystone refused or is unreachable ({type(exc).__name__}: {exc})")
    if not token:
        _fail(f"{cloud}: Keystone gave no token")
    service_type = str(region.config.get("lifeboat_service_type") or SERVICE_TYPE)
    endpoint: str | None = None
    try:
        endpoint = session.get_endpoint(
            service_type=service_type,
            interface=region.get_interface() or "public",
            region_name=region.region_name or None,
        )
    except ks_exc.EndpointNotFound:
        endpoint = None
    endpoint = endpoint or region.config.get("lifeboat_endpoint")
    if not endpoint:
        _fail(
            f"{cloud}: no {service_type!r} endpoint in the catalog and no lifeboat_endpoint "
            "key in the cloud's entry"
        )
    return str(endpoint).rstrip("/"), str(token)


def use_cloud(cloud: str) -> None:
    """Point the verbs at the cloud's Lifeboat, with its token (unless set explicitly)."""
    base, token = resolve(cloud)
    os.environ.setdefault("LIFEBOAT_TOKEN", token)
    for service in SERVICES:
        os.environ.setdefault(f"LIFEBOAT_{service.upper()}_URL", f"{base}/{service}")

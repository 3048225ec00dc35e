"""Creations sent as JSON through openstacksdk's adapters (no SDK Resource objects).

Building an openstacksdk Resource for a request and again for its response costs milliseconds of
CPU per call (profiled: most of the orchestrator's CPU in a 1,000-VM evacuation went to the SDK
resources of volume, port and server creations). The proxies still provide auth, the catalog,
endpoint and microversion discovery; the body is the API's own, as the SDK would send it (same
microversions as the SDK's Server and Volume resources), and errors are the SDK's exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from openstack import exceptions as sdk_exc

from lifeboat_shared.cloud import rawlist


def _microversion(adapter: Any, client_max: str) -> str | None:
    return rawlist.max_microversion(adapter, client_max)  # cached on the proxy


def post_json(
    adapter: Any,
    path: str,
    key: str,
    body: Mapping[str, Any],
    *,
    microversion: str | None = None,
) -> dict[str, Any]:
    """POST ``{key: body}`` to ``path``; the response's ``key`` object (or {} without a body)."""
    resp = adapter.post(path, json={key: dict(body)}, microversion=microversion, raise_exc=False)
    sdk_exc.raise_from_response(resp)
    if not resp.content:
        return {}
    item = resp.json().get(key)
    return dict(item) if isinstance(item, Mapping) else {}


def nova_create_server(conn: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    """POST /servers. Nova answers only the id (and links, adminPass): the request's fields are
    merged under it so the caller sees the name and metadata it asked for, as the SDK does."""
    mv = _microversion(conn.compute, rawlist.NOVA_MAX_MICROVERSION)
    made = post_json(conn.compute, "/servers", "server", body, microversion=mv)
    return {**body, **made}


def cinder_create_volume(conn: Any, body: Mapping[str, Any]) -> dict[str, Any]:
    """POST /volumes (Cinder answers the whole volume)."""
    mv = _microversion(conn.block_storage, rawlist.CINDER_MAX_MICROVERSION)
    return post_json(conn.block_storage, "/volumes", "volume", body, microversion=mv)


def cinder_volume_action(conn: Any, volume_id: str, action: Mapping[str, Any]) -> None:
    """POST /volumes/{id}/action (os-set_bootable, ...): no body in the answer."""
    mv = _microversion(conn.block_storage, rawlist.CINDER_MAX_MICROVERSION)
    resp = conn.block_storage.post(
        f"/volumes/{volume_id}/action", json=dict(action), microversion=mv, raise_exc=False
    )
    sdk_exc.raise_from_response(resp)


def neutron_create(conn: Any, path: str, key: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """POST a Neutron resource (/ports, ...)."""
    return post_json(conn.network, path, key, body)


def neutron_set_tags(conn: Any, path: str, tags: Sequence[str]) -> list[str]:
    """PUT {path}/tags: replace the resource's Neutron tags; the tags now set."""
    resp = conn.network.put(f"{path}/tags", json={"tags": list(tags)}, raise_exc=False)
    sdk_exc.raise_from_response(resp)
    got = resp.json().get("tags") if resp.content else None
    return [str(t) for t in got] if isinstance(got, list) else list(tags)

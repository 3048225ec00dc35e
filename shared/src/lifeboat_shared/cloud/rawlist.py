"""Paginated list calls that return the API's JSON, through openstacksdk's own adapters.

Used where volume matters (inventory): the SDK's proxies still provide auth, the catalog,
endpoint and microversion discovery, but the body is read as JSON instead of being turned into
openstacksdk Resource objects, which costs milliseconds per item.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from openstack import exceptions as sdk_exc
from openstack import utils as sdk_utils

# Highest microversions we read: compute 2.47+ embeds flavor details in servers, block storage
# 3.13+ shows a volume's group_id.
NOVA_MAX_MICROVERSION = "2.100"
CINDER_MAX_MICROVERSION = "3.71"

_MAX_PAGES = 10_000  # a cloud that keeps sending "next" must not loop us forever


def max_microversion(adapter: Any, client_max: str) -> str | None:
    """The highest microversion both we and the service support (None: unversioned); kept on
    the proxy after the first lookup (the endpoint-data lookup behind it cost a quarter of a
    creation's CPU and as much as a status poll's; the SDK keeps that data for the session's
    life too)."""
    cache: dict[str, str | None] | None = getattr(adapter, "_lifeboat_microversions", None)
    if cache is None:
        cache = {}
        try:
            adapter._lifeboat_microversions = cache
        except AttributeError:  # an adapter that takes no attributes: look up every time
            cache = None
    if cache is not None and client_max in cache:
        return cache[client_max]
    found = sdk_utils.maximum_supported_microversion(adapter, client_max)
    version = str(found) if found is not None else None
    if cache is not None and version is not None:
        # Only a version the site told us: a lookup that failed (site down) answers None,
        # and keeping that would send unversioned requests until a restart.
        cache[client_max] = version
    return version


def _next_link(body: Mapping[str, Any], key: str) -> str | None:
    for link in body.get(f"{key}_links") or ():  # Nova, Cinder, Neutron
        if isinstance(link, Mapping) and link.get("rel") == "next" and link.get("href"):
            return str(link["href"])
    nxt = body.get("next")  # Glance
    return str(nxt) if isinstance(nxt, str) and nxt else None


def iter_json(
    adapter: Any,
    path: str,
    key: str,
    *,
    params: Mapping[str, Any] | None = None,
    microversion: str | None = None,
    strip_prefix: str | None = None,
) -> Iterator[Mapping[str, Any]]:
    """Yield every item of `key` from GET `path`, following next links.

    `strip_prefix` removes a version prefix from relative next links (Glance answers
    "/v2/images?marker=..." while the adapter's endpoint already ends in /v2).
    """
    url: str = path
    query: dict[str, Any] = dict(params or {})
    for _ in range(_MAX_PAGES):
        resp = adapter.get(url, params=query, microversion=microversion, raise_exc=False)
        sdk_exc.raise_from_response(resp)
        body = resp.json()
        yield from body.get(key) or ()
        nxt = _next_link(body, key)
        if not nxt:
            return
        parts = urlsplit(nxt)
        if parts.netloc:
            url, query = nxt, {}
        else:
            url = parts.path
            if strip_prefix and url.startswith(strip_prefix):
                url = url[len(strip_prefix) :]
            query = dict(parse_qsl(parts.query))
    raise sdk_exc.SDKException(f"listing {path}: more than {_MAX_PAGES} pages")


def get_json(
    adapter: Any, path: str, key: str, *, microversion: str | None = None
) -> Mapping[str, Any]:
    """One resource as JSON (status polls: ~4x cheaper than building an SDK Resource)."""
    resp = adapter.get(path, microversion=microversion, raise_exc=False)
    sdk_exc.raise_from_response(resp)
    item: Mapping[str, Any] = resp.json()[key]
    return item


def nova_get(conn: Any, path: str, key: str) -> Mapping[str, Any]:
    mv = max_microversion(conn.compute, NOVA_MAX_MICROVERSION)
    return get_json(conn.compute, path, key, microversion=mv)


def cinder_get(conn: Any, path: str, key: str) -> Mapping[str, Any]:
    mv = max_microversion(conn.block_storage, CINDER_MAX_MICROVERSION)
    return get_json(conn.block_storage, path, key, microversion=mv)


def nova(conn: Any, path: str, key: str, **params: Any) -> Iterator[Mapping[str, Any]]:
    mv = max_microversion(conn.compute, NOVA_MAX_MICROVERSION)
    return iter_json(conn.compute, path, key, params=params, microversion=mv)


def cinder(conn: Any, path: str, key: str, **params: Any) -> Iterator[Mapping[str, Any]]:
    mv = max_microversion(conn.block_storage, CINDER_MAX_MICROVERSION)
    return iter_json(conn.block_storage, path, key, params=params, microversion=mv)


def neutron(conn: Any, path: str, key: str, **params: Any) -> Iterator[Mapping[str, Any]]:
    return iter_json(conn.network, path, key, params=params)


def glance_images(conn: Any, **params: Any) -> Iterator[Mapping[str, Any]]:
    query = {"limit": 1000, **params}
    return iter_json(conn.image, "/images", "images", params=query, strip_prefix="/v2")


def matches(item: Mapping[str, Any], filters: Mapping[str, Any]) -> bool:
    """Apply scalar filters exactly on the client too: servers differ in which filters they
    honour (Nova's `name` is a regular expression), so a list never returns a near miss."""
    for key, wanted in filters.items():
        if isinstance(wanted, str | int | bool) and key in item and str(item[key]) != str(wanted):
            return False
    return True

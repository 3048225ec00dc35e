"""Version discovery documents and microversion parsing (what keystoneauth negotiates)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloudsim.errors import APIError, render
from cloudsim.state import Res

NOVA_MIN, NOVA_MAX = "2.1", "2.100"
CINDER_MIN, CINDER_MAX = "3.0", "3.71"


def _v(s: str) -> tuple[int, int]:
    major, minor = s.split(".")
    return int(major), int(minor)


def microversion(request: Request, service: str, default: str) -> tuple[int, int]:
    """The requested microversion (`OpenStack-API-Version: <service> X.Y`), 406 if unsupported."""
    hdr = request.headers.get("openstack-api-version")
    val = None
    if hdr:
        parts = hdr.split()
        if len(parts) == 2 and parts[0] == service:
            val = parts[1]
    if val is None:
        legacy = {
            "compute": "x-openstack-nova-api-version",
            "volume": "x-openstack-cinder-api-version",
        }
        val = request.headers.get(legacy.get(service, ""), None)
    if val is None:
        return _v(default)
    lo, hi = (NOVA_MIN, NOVA_MAX) if service == "compute" else (CINDER_MIN, CINDER_MAX)
    if val == "latest":
        return _v(hi)
    try:
        req = _v(val)
    except ValueError:
        raise APIError(400, f"Invalid API version request string {val!r}.") from None
    if not (_v(lo) <= req <= _v(hi)):
        raise APIError(
            406, f"Version {val} is not supported by the API. Minimum is {lo} and maximum is {hi}."
        )
    return req


def nova_version(base: str) -> Res:
    return {
        "id": "v2.1",
        "status": "CURRENT",
        "version": NOVA_MAX,
        "min_version": NOVA_MIN,
        "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": f"{base}/compute/v2.1/"}],
        "media-types": [
            {
                "base": "application/json",
                "type": "application/vnd.openstack.compute+json;version=2.1",
            }
        ],
    }


def cinder_version(base: str) -> Res:
    return {
        "id": "v3.0",
        "status": "CURRENT",
        "version": CINDER_MAX,
        "min_version": CINDER_MIN,
        "updated": "2023-08-31T00:00:00Z",
        "links": [{"rel": "self", "href": f"{base}/volume/v3/"}],
        "media-types": [
            {"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}
        ],
    }


def simple_versions(base: str, prefix: str, vid: str, status: str = "CURRENT") -> Res:
    return {
        "id": vid,
        "status": status,
        "links": [{"rel": "self", "href": f"{base}/{prefix}/{vid}/"}],
    }


class MicroversionMiddleware:
    """Rejects unsupported microversions (406) before routing, as Nova/Cinder do, and echoes
    the version served in `OpenStack-API-Version`."""

    SERVICES = {"compute": ("compute", NOVA_MIN), "volume": ("volume", CINDER_MIN)}

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seg = scope["path"].lstrip("/").split("/", 1)[0]
        svc = self.SERVICES.get(seg)
        if svc is None or scope["path"].rstrip("/") in (f"/{seg}", f"/{seg}/v2.1", f"/{seg}/v3"):
            await self.app(scope, receive, send)
            return
        try:
            major, minor = microversion(Request(scope), svc[0], svc[1])
        except APIError as err:
            await render(None, err, scope["path"])(scope, receive, send)
            return
        header = f"{svc[0]} {major}.{minor}".encode()

        async def send_with_version(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"openstack-api-version", header))
                headers.append((b"vary", b"OpenStack-API-Version"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_version)

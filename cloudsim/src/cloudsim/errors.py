"""API errors rendered in each OpenStack service's own body shape.

Clients (openstacksdk, keystoneauth, the openstack CLI) parse error bodies per service, so a 404
from Nova must look like Nova's and a 404 from Neutron like Neutron's; one exception type carries
the status and message and the renderer picks the shape from the URL prefix.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

# Nova/Cinder fault names by status code (as in nova.api.openstack.wsgi / cinder).
_NOVA_FAULTS = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    500: "computeFault",
    501: "notImplemented",
    503: "serviceUnavailable",
}
_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Request Entity Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}
_NEUTRON_TYPES = {
    400: "BadRequest",
    401: "NotAuthorized",
    403: "PolicyNotAuthorized",
    404: "NotFound",
    409: "Conflict",
    429: "OverQuota",
    503: "ServiceUnavailable",
}


class APIError(Exception):
    """An error response; `kind` overrides the service-specific fault name (e.g. Neutron types)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        kind: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.retry_after = retry_after


def bad_request(message: str) -> APIError:
    return APIError(400, message)


def not_found(what: str, ident: str) -> APIError:
    return APIError(404, f"{what} {ident} could not be found.")


def conflict(message: str) -> APIError:
    return APIError(409, message)


def service_of(path: str) -> str:
    """The service a URL path belongs to (first path segment)."""
    seg = path.lstrip("/").split("/", 1)[0]
    return seg or "root"


def error_body(service: str, err: APIError) -> tuple[str, str]:
    """(content, media type) of an error for `service`."""
    status, msg = err.status, err.message
    title = _TITLES.get(status, "Error")
    body: dict[str, Any]
    if service in ("compute", "volume"):
        name = err.kind or _NOVA_FAULTS.get(status, "computeFault")
        inner: dict[str, Any] = {"code": status, "message": msg}
        if err.retry_after is not None:
            inner["retryAfter"] = str(int(err.retry_after + 0.999))
        body = {name: inner}
    elif service == "network":
        body = {
            "NeutronError": {
                "type": err.kind or _NEUTRON_TYPES.get(status, "NeutronError"),
                "message": msg,
                "detail": "",
            }
        }
    elif service == "dns":
        body = {"code": status, "type": err.kind or title.lower().replace(" ", "_"), "message": msg}
    elif service == "image":
        # Glance (webob) answers with a plain-text page.
        return f"{status} {title}\n\n{msg}\n\n   ", "text/plain; charset=UTF-8"
    else:
        body = {"error": {"code": status, "title": title, "message": msg}}
    return json.dumps(body), "application/json"


def render(request: Request | None, err: APIError, path: str | None = None) -> Response:
    """The response for an APIError raised while serving `request` (or a path)."""
    p = path if path is not None else (request.url.path if request is not None else "/")
    content, media = error_body(service_of(p), err)
    headers: dict[str, str] = {}
    if err.retry_after is not None:
        headers["Retry-After"] = str(int(err.retry_after + 0.999))
    if err.status == 401 and service_of(p) == "identity":
        headers["WWW-Authenticate"] = 'Keystone uri="/identity"'
    return Response(content=content, status_code=err.status, media_type=media, headers=headers)

"""The service's path prefix: every service also answers under ``/<service>``.

``/orchestrator/v1/plans`` is ``/v1/plans`` of the orchestrator, ``/policy/healthz`` the policy's
``/healthz``: one base URL (a Kubernetes ingress routing by path prefix without rewriting, the
embedded gateway of ``lifeboat up``, the Keystone catalog's one endpoint) reaches all five. The
prefix goes into the ASGI ``root_path``, so routing, the authz rules (matched on the route's
template, ``/v1/...``), tenancy and limits see the same route either way, and the OpenAPI
document names the prefixed server.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

SERVICE_NAMES = ("policy", "replicator", "orchestrator", "verifier", "billing")


class ServicePrefix:
    """ASGI middleware: a request under ``/<service>`` is served as if the prefix were a mount."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.prefix = f"/{service}"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            root = scope.get("root_path", "")
            path: str = scope["path"]
            rest = path[len(root) :] if root and path.startswith(root) else path
            if rest == self.prefix or rest.startswith(self.prefix + "/"):
                scope = dict(scope, root_path=root + self.prefix)
        await self.app(scope, receive, send)

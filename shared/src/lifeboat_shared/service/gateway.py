"""One base URL for the five services: an ASGI dispatcher by the path's first segment.

``/policy/...`` goes to the policy app, ``/orchestrator/...`` to the orchestrator's, and so on;
each app serves its ``/<service>`` prefix itself (prefix.py), so nothing is rewritten (the same
routing as a Kubernetes ingress by path prefix). ``/`` answers the list of services and their
base URLs (a discovery document); any other path 404. The apps' lifespans are not run here:
whoever built them runs them (``lifeboat up`` serves each on its own port as well).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.types import ASGIApp, Receive, Scope, Send

SERVICE_TYPE = "disaster-recovery"


class Gateway:
    def __init__(self, apps: Mapping[str, ASGIApp]) -> None:
        self.apps = dict(apps)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] not in ("http", "websocket"):
            return
        path: str = scope["path"]
        name = path.split("/", 2)[1] if path.startswith("/") else ""
        app = self.apps.get(name)
        if app is not None:
            await app(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        if path in ("", "/"):
            await self._json(send, 200, self._index(scope))
            return
        await self._json(
            send,
            404,
            {"detail": f"path: {path!r} names no service; one of /{', /'.join(self.apps)}"},
        )

    def _index(self, scope: Scope) -> dict[str, object]:
        root = scope.get("root_path", "")
        return {
            "service_type": SERVICE_TYPE,
            "services": {
                name: {"path": f"{root}/{name}", "openapi": f"{root}/{name}/v1/openapi.json"}
                for name in self.apps
            },
        }

    @staticmethod
    async def _json(send: Send, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(data))]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    @staticmethod
    async def _lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

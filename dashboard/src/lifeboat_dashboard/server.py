"""Serving the dashboard: in-process beside the services (`lifeboat up`, `story`) or on its own
(`python -m lifeboat_dashboard`, configured from the environment: see config.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn

from lifeboat_dashboard.app import create_app
from lifeboat_dashboard.config import DashboardConfig


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the host process handles signals
        yield


class Dashboard:
    """A dashboard served on ``host:port`` (0: a free port) in the running event loop."""

    def __init__(self, config: DashboardConfig, host: str = "127.0.0.1", port: int = 0) -> None:
        app = create_app(config)
        self._server = _Server(
            uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
        )
        self._task: asyncio.Task[None] | None = None
        self.url = ""

    async def start(self) -> str:
        self._task = asyncio.create_task(self._server.serve(), name="dashboard")
        while not self._server.started:
            if self._task.done():
                self._task.result()  # its error
                raise RuntimeError("the dashboard could not start (is its port in use?)")
            await asyncio.sleep(0.05)
        host, port = self._server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self.url

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(SystemExit, asyncio.CancelledError):
                await self._task

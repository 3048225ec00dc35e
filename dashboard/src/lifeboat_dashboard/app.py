"""The dashboard's ASGI app: routes, static files, one shared HTTP client to the APIs."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from lifeboat_dashboard import actions, pages
from lifeboat_dashboard.config import DashboardConfig
from lifeboat_dashboard.web import HERE, SECURITY_HEADERS


async def healthz(_request: object) -> Response:
    return PlainTextResponse("ok", headers=SECURITY_HEADERS)


def create_app(config: DashboardConfig) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=5.0)) as client:
            app.state.http = client
            yield

    routes = [
        Route("/healthz", healthz),
        Route("/readyz", healthz),  # nothing to wait for: the APIs answer for themselves
        Route("/login", actions.login_page, methods=["GET"]),
        Route("/login", actions.login, methods=["POST"]),
        Route("/logout", actions.logout, methods=["POST"]),
        Route("/", pages.sites),
        Route("/groups", pages.groups),
        Route("/groups/{group_id}", pages.group),
        Route("/plans", pages.plans),
        Route("/plans/{plan_id}/confirm", actions.confirm_execution, methods=["GET"]),
        Route("/plans/{plan_id}/executions", actions.start_execution, methods=["POST"]),
        Route("/executions", pages.executions),
        Route("/executions/{execution_id}", pages.execution),
        Route("/executions/{execution_id}/live", pages.execution_live),
        Route("/evacuations", pages.evacuations),
        Route("/evacuations/live", pages.evacuations_live),
        Route("/evacuations/{evacuation_id}/confirm", actions.confirm_approval, methods=["GET"]),
        Route("/evacuations/{evacuation_id}/approve", actions.approve, methods=["POST"]),
        Route("/tests", pages.tests),
        Route("/usage", pages.usage),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.config = config
    return app

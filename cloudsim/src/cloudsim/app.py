"""The ASGI app of one site: every API router, error rendering and the fault middleware."""

from __future__ import annotations

import logging

from fastapi import FastAPI
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from cloudsim import (
    admin,
    admin_data,
    designate,
    glance,
    keystone,
    keystone_catalog,
    neutron,
    vpnaas,
)
from cloudsim.blockstore import BlockStoreError, ConflictError, NotFoundError
from cloudsim.cinder import attachments as cinder_attachments
from cloudsim.cinder import backups as cinder_backups
from cloudsim.cinder import groups as cinder_groups
from cloudsim.cinder import snapshots as cinder_snapshots
from cloudsim.cinder import volumes as cinder_volumes
from cloudsim.errors import APIError, render
from cloudsim.faults import FaultMiddleware, Faults, Partitions
from cloudsim.nova import actions as nova_actions
from cloudsim.nova import misc as nova_misc
from cloudsim.nova import servers as nova_servers
from cloudsim.seed import seed
from cloudsim.state import SiteConfig, SiteState
from cloudsim.versions import MicroversionMiddleware

log = logging.getLogger("cloudsim")


class Site:
    """A site: its state, faults and ASGI app (the multisite runner adds listeners)."""

    def __init__(self, config: SiteConfig, partitions: Partitions | None = None) -> None:
        self.config = config
        self.state = SiteState(config)
        seed(self.state)
        self.faults = Faults(partitions or Partitions())
        self.admin = admin.AdminControl(self.state, self.faults)
        self.app = create_app(self)


def create_app(site: Site) -> FastAPI:
    state = site.state
    app = FastAPI(
        title=f"cloudsim site {state.config.name}",
        docs_url=None,
        redoc_url=None,
        openapi_url="/cloudsim/openapi.json",
    )
    for mod in (
        keystone,
        keystone_catalog,
        nova_misc,
        nova_servers,
        nova_actions,
        cinder_volumes,
        cinder_snapshots,
        cinder_groups,
        cinder_backups,
        neutron,
        vpnaas,
        glance,
        designate,
    ):
        app.include_router(mod.router(state))
    app.include_router(cinder_attachments.router(state, site.faults.partitions))
    app.include_router(admin.router(site.admin))
    app.include_router(admin_data.router(site.admin))

    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> Response:
        return render(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        msg = {
            404: "The resource could not be found.",
            405: "The method is not allowed for the requested URL.",
        }.get(exc.status_code, str(exc.detail))
        return render(request, APIError(exc.status_code, msg))

    @app.exception_handler(NotFoundError)
    async def bs_missing(request: Request, exc: NotFoundError) -> Response:
        return render(request, APIError(404, str(exc)))

    @app.exception_handler(ConflictError)
    async def bs_conflict(request: Request, exc: ConflictError) -> Response:
        return render(request, APIError(409, str(exc)))

    @app.exception_handler(BlockStoreError)
    async def bs_error(request: Request, exc: BlockStoreError) -> Response:
        return render(request, APIError(400, str(exc)))

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return render(request, APIError(500, f"Unexpected error: {type(exc).__name__}"))

    app.add_middleware(MicroversionMiddleware)
    app.add_middleware(FaultMiddleware, state=state, faults=site.faults)
    return app

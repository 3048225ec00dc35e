"""FastAPI dependencies shared by every service's routes.

Routes open their transaction explicitly (``async with runtime.db.transaction()``), so the commit
is certain to happen before the response is sent, and state plus outbox rows commit together.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from lifeboat_shared.service.runtime import ServiceRuntime


def get_runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[ServiceRuntime, Depends(get_runtime)]

"""What a service is made of, as the shared runtime needs to know it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import APIRouter

from lifeboat_shared.bus.handlers import Handlers
from lifeboat_shared.settings import ServiceSettings

if TYPE_CHECKING:
    from lifeboat_shared.service.runtime import ServiceRuntime

BackgroundTask = Callable[["ServiceRuntime", asyncio.Event], Awaitable[None]]


@dataclass
class ServiceSpec:
    name: str
    settings: ServiceSettings
    migrations: str
    """Alembic script location (a directory inside the service package)."""
    description: str = ""
    routers: Sequence[APIRouter] = ()
    consumes: Sequence[str] = ()
    handlers: Handlers = field(default_factory=dict)
    background: Sequence[BackgroundTask] = ()

    @property
    def source(self) -> str:
        return f"/lifeboat/{self.name}"

"""The service skeleton shared by all five services."""

from lifeboat_shared.service.app import create_app
from lifeboat_shared.service.auth import CurrentPrincipal, Principal, StaticTokenValidator
from lifeboat_shared.service.deps import RuntimeDep
from lifeboat_shared.service.runtime import ServiceRuntime
from lifeboat_shared.service.spec import ServiceSpec

__all__ = [
    "CurrentPrincipal",
    "Principal",
    "RuntimeDep",
    "ServiceRuntime",
    "ServiceSpec",
    "StaticTokenValidator",
    "create_app",
]

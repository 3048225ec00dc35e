"""Lifeboat's cloud driver: an async, typed facade over openstacksdk.

Import from here; nothing above this package should import openstacksdk or keystoneauth.
"""

from lifeboat_shared.cloud import errors, models
from lifeboat_shared.cloud.backups import Backup
from lifeboat_shared.cloud.connection import SiteConfig
from lifeboat_shared.cloud.driver import CloudDriver, CloudProject
from lifeboat_shared.cloud.errors import (
    AuthFailed,
    BadRequest,
    CloudError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    OperationFailed,
    OperationTimedOut,
    QuotaExceeded,
    RateLimited,
    ServerError,
    Unavailable,
)
from lifeboat_shared.cloud.settings import CloudDriverSettings
from lifeboat_shared.cloud.tags import LifeboatTag

__all__ = [
    "AuthFailed",
    "Backup",
    "BadRequest",
    "CloudDriver",
    "CloudDriverSettings",
    "CloudError",
    "CloudProject",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "LifeboatTag",
    "NotFound",
    "OperationFailed",
    "OperationTimedOut",
    "QuotaExceeded",
    "RateLimited",
    "ServerError",
    "SiteConfig",
    "Unavailable",
    "errors",
    "models",
]

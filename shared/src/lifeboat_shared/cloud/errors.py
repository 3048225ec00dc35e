"""Lifeboat's own cloud errors.

Everything above the cloud adapter catches these, never openstacksdk or keystoneauth exception
types: that keeps the orchestrator and replicator independent of the SDK (and lets a retry policy
be written once, in terms of `RateLimited` and `Unavailable`). The translation from SDK exceptions
lives in `translate.py`; this module imports nothing from the SDK.
"""

from __future__ import annotations


class CloudError(Exception):
    """Base of every error the cloud driver raises.

    `status` is the HTTP status the cloud answered with (None when the request never got an
    answer); `request_id` is the cloud's request id, worth quoting to an operator.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        request_id: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.request_id = request_id
        self.operation = operation

    def __str__(self) -> str:
        parts = [self.message]
        if self.operation:
            parts.insert(0, f"{self.operation}:")
        if self.status is not None:
            parts.append(f"(HTTP {self.status})")
        if self.request_id:
            parts.append(f"[request {self.request_id}]")
        return " ".join(parts)


class NotFound(CloudError):
    """The resource (or the endpoint) does not exist."""


class Conflict(CloudError):
    """The resource is in a state that does not allow the request (HTTP 409)."""


class QuotaExceeded(CloudError):
    """The project's quota would be exceeded (Nova 403, Cinder 413, Neutron 409 OverQuota)."""


class BadRequest(CloudError):
    """The cloud rejected the request as malformed or invalid (HTTP 400 and other 4xx)."""


class Forbidden(CloudError):
    """Authenticated, but the policy forbids the request (HTTP 403 that is not a quota)."""


class AuthFailed(CloudError):
    """Authentication failed: wrong credentials, expired or rejected token (HTTP 401)."""


class RateLimited(CloudError):
    """The cloud asked us to slow down (HTTP 429); `retry_after` seconds if it said so."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        request_id: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, status=status, request_id=request_id, operation=operation)
        self.retry_after = retry_after


class Unavailable(CloudError):
    """The cloud or a service is unreachable or overloaded (connection refused, 502/503/504).

    `retry_after` is set when a 503 carried a Retry-After header.
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = None,
        request_id: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, status=status, request_id=request_id, operation=operation)
        self.retry_after = retry_after


class ServerError(CloudError):
    """The cloud failed internally (HTTP 500); not retried, since the outcome is unknown."""


class OperationFailed(CloudError):
    """An asynchronous operation ended in an error state (e.g. a volume went to `error`)."""


class OperationTimedOut(CloudError):
    """An asynchronous operation did not reach the wanted state in time."""


class InvalidInput(CloudError):
    """The caller passed something the driver refuses before calling the cloud."""


__all__ = [
    "AuthFailed",
    "BadRequest",
    "CloudError",
    "Conflict",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "OperationFailed",
    "OperationTimedOut",
    "QuotaExceeded",
    "RateLimited",
    "ServerError",
    "Unavailable",
]

"""The one place where openstacksdk / keystoneauth exceptions become Lifeboat's own.

Every SDK call the driver makes runs inside `translate_errors` (see `executor.SiteExecutor.call`),
so code above the adapter only ever sees `lifeboat_shared.cloud.errors` types. The mapping follows
the status code first, because the SDK raises a bare `HttpException` for most codes (413, 429,
503...), and the message second, because quotas come back as 403 (Nova), 413 (Cinder) or
409 (Neutron OverQuota) depending on the service.
"""

from __future__ import annotations

import email.utils
import functools
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from keystoneauth1 import exceptions as ks_exc
from openstack import exceptions as sdk_exc

from lifeboat_shared.cloud import errors

P = ParamSpec("P")
R = TypeVar("R")

_QUOTA_WORDS = ("quota", "overquota", "over_quota", "overlimit", "limit exceeded")


_SDK_CLASSES: tuple[tuple[type[sdk_exc.HttpException], type[errors.CloudError]], ...] = (
    (sdk_exc.NotFoundException, errors.NotFound),
    (sdk_exc.ConflictException, errors.Conflict),
    (sdk_exc.BadRequestException, errors.BadRequest),
    (sdk_exc.ForbiddenException, errors.Forbidden),
    (sdk_exc.PreconditionFailedException, errors.Conflict),
)


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _is_quota(message: str) -> bool:
    lowered = message.lower()
    return any(word in lowered for word in _QUOTA_WORDS)


def error_for_status(
    status: int,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    request_id: str | None = None,
    operation: str | None = None,
) -> errors.CloudError:
    """Pick the Lifeboat error for an HTTP status (and the message, for quotas)."""
    retry_after = parse_retry_after(
        next((v for k, v in (headers or {}).items() if k.lower() == "retry-after"), None)
    )
    if status == 429 or (status == 413 and retry_after is not None and not _is_quota(message)):
        return errors.RateLimited(
            message,
            retry_after=retry_after,
            status=status,
            request_id=request_id,
            operation=operation,
        )
    if status in (502, 503, 504):
        return errors.Unavailable(
            message,
            retry_after=retry_after,
            status=status,
            request_id=request_id,
            operation=operation,
        )
    cls: type[errors.CloudError]
    if status == 404:
        cls = errors.NotFound
    elif status == 401:
        cls = errors.AuthFailed
    elif status == 413 or (status in (403, 409) and _is_quota(message)):
        cls = errors.QuotaExceeded
    elif status == 403:
        cls = errors.Forbidden
    elif status == 409:
        cls = errors.Conflict
    elif 400 <= status < 500:
        cls = errors.BadRequest
    else:
        cls = errors.ServerError
    return cls(message, status=status, request_id=request_id, operation=operation)


def translate(exc: BaseException, operation: str | None = None) -> errors.CloudError | None:
    """The Lifeboat error for an SDK/keystoneauth exception, or None if it is not one."""
    if isinstance(exc, errors.CloudError):
        return exc
    if isinstance(exc, sdk_exc.HttpException) and exc.status_code is not None:
        response = exc.response
        # requests' headers are case-insensitive; keep them so ("retry-after" == "Retry-After").
        headers: Mapping[str, str] = response.headers if response is not None else {}
        message = str(exc.details or exc.message or exc)
        return error_for_status(
            exc.status_code,
            message,
            headers=headers,
            request_id=exc.request_id,
            operation=operation,
        )
    if isinstance(exc, sdk_exc.HttpException):
        # Raised by the SDK itself without a response (e.g. find_* that found nothing).
        message = str(exc.details or exc.message or exc)
        for sdk_cls, ours in _SDK_CLASSES:
            if isinstance(exc, sdk_cls):
                return ours(message, operation=operation)
        return errors.CloudError(message, operation=operation)
    if isinstance(exc, ks_exc.HttpError):
        headers = exc.response.headers if exc.response is not None else {}
        message = str(exc.details or exc.message)
        return error_for_status(
            exc.http_status,
            message,
            headers=headers,
            request_id=exc.request_id,
            operation=operation,
        )
    if isinstance(exc, ks_exc.ConnectionError):
        return errors.Unavailable(f"cannot reach the cloud: {exc}", operation=operation)
    if isinstance(exc, ks_exc.DiscoveryFailure | ks_exc.EndpointNotFound):
        return errors.Unavailable(f"service not found in the catalog: {exc}", operation=operation)
    if isinstance(
        exc, ks_exc.AuthorizationFailure | ks_exc.AuthPluginException | ks_exc.MissingAuthMethods
    ):
        return errors.AuthFailed(str(exc), operation=operation)
    if isinstance(exc, sdk_exc.ResourceTimeout):
        return errors.OperationTimedOut(str(exc), operation=operation)
    if isinstance(exc, sdk_exc.ResourceFailure):
        return errors.OperationFailed(str(exc), operation=operation)
    if isinstance(exc, sdk_exc.EndpointNotFound | sdk_exc.ServiceDiscoveryException):
        return errors.Unavailable(f"service not available: {exc}", operation=operation)
    if isinstance(exc, sdk_exc.ConfigException):
        return errors.InvalidInput(f"cloud configuration: {exc}", operation=operation)
    if isinstance(exc, sdk_exc.InvalidRequest | sdk_exc.InvalidResourceQuery):
        return errors.InvalidInput(str(exc), operation=operation)
    if isinstance(exc, sdk_exc.SDKException | ks_exc.ClientException):
        return errors.CloudError(str(exc), operation=operation)
    return None


@contextmanager
def translate_errors(operation: str | None = None) -> Iterator[None]:
    """Re-raise SDK/keystoneauth exceptions raised inside the block as Lifeboat errors."""
    try:
        yield
    except errors.CloudError:
        raise
    except Exception as exc:
        translated = translate(exc, operation)
        if translated is None:
            raise
        raise translated from exc


def translated(operation: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator form of `translate_errors` for synchronous SDK-calling functions."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with translate_errors(operation):
                return func(*args, **kwargs)

        return wrapper

    return decorate

"""The auth seam: every /v1 route depends on a TokenValidator, then on the authorizer (authz.py).

Validators: the embedded default's static tokens (`tokens_file`: SHA-256 digests of tokens mapped
to named principals with a project and roles; without one, `api_token` is the admin operator) and
Keystone (keystone_auth.py). A validator answers a Principal, None (401: unknown, expired or
revoked token) or raises IdentityUnavailable (503: the identity service cannot be asked).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Protocol

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

if TYPE_CHECKING:
    from lifeboat_shared.settings import LifeboatSettings

ROLES = ("reader", "member", "admin")


@dataclass(frozen=True)
class Principal:
    user_id: str
    project_id: str | None  # None: not scoped to one project (operator / admin)
    roles: frozenset[str]
    user_name: str | None = None
    scope: str = "project"  # project | domain | system | unscoped | operator
    expires_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


class IdentityUnavailable(Exception):
    """The identity service could not answer (down, timed out, refused our credentials)."""


class TokenValidator(Protocol):
    async def validate(self, token: str) -> Principal | None: ...


OPERATOR = Principal(
    user_id="operator", project_id=None, roles=frozenset(ROLES), user_name="operator",
    scope="operator",
)  # fmt: skip


class StaticTokenValidator:
    """One shared operator token (embedded default without a tokens file)."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def validate(self, token: str) -> Principal | None:
        if secrets.compare_digest(token.encode(), self._token):
            return OPERATOR
        return None


class ChainedTokenValidator:
    """The first validator that knows the token answers (the embedded default accepts its static
    tokens and the local cloud's Keystone tokens, so `openstack dr ...` works against it)."""

    def __init__(self, *validators: TokenValidator) -> None:
        self.validators = validators

    async def validate(self, token: str) -> Principal | None:
        for validator in self.validators:
            principal = await validator.validate(token)
            if principal is not None:
                return principal
        return None

    async def aclose(self) -> None:
        for validator in self.validators:
            closing = getattr(validator, "aclose", None)
            if closing is not None:
                await closing()


def make_token_validator(settings: LifeboatSettings) -> TokenValidator:
    """The validator the settings choose (`auth`, `tokens_file`, `keystone_*`)."""
    if settings.auth == "keystone":
        from lifeboat_shared.service.keystone_auth import KeystoneTokenValidator

        return KeystoneTokenValidator.from_settings(settings)
    if settings.tokens_file is not None:
        from lifeboat_shared.service.tokens_file import TokensFileValidator

        return TokensFileValidator.load(settings.tokens_file)
    return StaticTokenValidator(settings.api_token.get_secret_value())


_bearer = HTTPBearer(auto_error=False, description="Lifeboat API token (static or Keystone)")


async def require_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    token = credentials.credentials if credentials is not None else None
    if not token:
        # Keystone clients send X-Auth-Token; accept it as well as the bearer header.
        token = request.headers.get("x-auth-token") or None
    if token is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing bearer token: send 'Authorization: Bearer <token>' (or X-Auth-Token)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    validator: TokenValidator = request.app.state.token_validator
    try:
        principal = await validator.validate(token)
    except IdentityUnavailable as exc:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=f"cannot validate the token now: {exc}; retry later",
            headers={"Retry-After": "5"},
        ) from None
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="invalid, expired or revoked token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]

"""The auth seam: every /v1 route depends on a TokenValidator.

The embedded default validates a static bearer token from settings; Keystone token validation
(project-scoped tokens, roles admin/member/reader) plugs in later as another TokenValidator
without touching the routes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Annotated, Protocol

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer


@dataclass(frozen=True)
class Principal:
    user_id: str
    project_id: str | None  # None: not scoped to one project (operator / admin)
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles


class TokenValidator(Protocol):
    async def validate(self, token: str) -> Principal | None: ...


class StaticTokenValidator:
    """One shared operator token (embedded default)."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def validate(self, token: str) -> Principal | None:
        if secrets.compare_digest(token.encode(), self._token):
            return Principal(user_id="operator", project_id=None, roles=frozenset({"admin"}))
        return None


_bearer = HTTPBearer(auto_error=False, description="Lifeboat API token")


async def require_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing bearer token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    validator: TokenValidator = request.app.state.token_validator
    principal = await validator.validate(credentials.credentials)
    if principal is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="invalid or expired token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(require_principal)]

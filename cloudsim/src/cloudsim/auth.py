"""Token checks for the service APIs (what keystonemiddleware does in a real cloud)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from starlette.requests import Request

from cloudsim.errors import APIError
from cloudsim.state import SiteState, Token


@dataclass
class Ctx:
    """Who is calling: the validated token and the derived project/admin facts."""

    token: Token

    @property
    def project_id(self) -> str:
        return self.token.project_id

    @property
    def is_admin(self) -> bool:
        return self.token.is_admin

    @property
    def user_id(self) -> str:
        return str(self.token.user["id"])

    def can_see(self, project_id: str | None) -> bool:
        return self.is_admin or project_id == self.project_id


def lookup_token(state: SiteState, token_id: str | None) -> Token:
    if not token_id:
        raise APIError(401, "The request you have made requires authentication.")
    tok = state.tokens.get(token_id)
    if tok is None:
        raise APIError(401, "The request you have made requires authentication.")
    if tok.expires_ts < time.time():
        state.tokens.pop(token_id, None)
        raise APIError(401, "The request you have made requires authentication (token expired).")
    return tok


def context(state: SiteState, request: Request) -> Ctx:
    """Validate X-Auth-Token for a project-scoped service call; readers may only read."""
    tok = lookup_token(state, request.headers.get("x-auth-token"))
    if tok.project is None:
        raise APIError(401, "The request you have made requires a project-scoped token.")
    if request.method not in ("GET", "HEAD") and all(r["name"] == "reader" for r in tok.roles):
        raise APIError(403, "Policy doesn't allow this operation to be performed by a reader.")
    return Ctx(tok)


def check_project(ctx: Ctx, project_id: str) -> None:
    """URL project ids (Cinder) must be the token's own unless the caller is an admin."""
    if project_id != ctx.project_id and not ctx.is_admin:
        raise APIError(403, f"Policy doesn't allow access to project {project_id}.")

"""Project-scoped principals for tenancy tests: a token validator that maps test tokens to
principals of two projects, in front of the service's own validator (the admin token keeps
working). Installed on a running app with ``install_tenants(app)``."""

from __future__ import annotations

from fastapi import FastAPI

from lifeboat_shared.service.auth import Principal, TokenValidator

TENANT_A = "demo"  # cloudsim's seeded project: its servers are tenant A's
TENANT_B = "tenant-b"
TOKEN_A = "tenant-a-member-token"
TOKEN_B = "tenant-b-member-token"
AS_A = {"Authorization": f"Bearer {TOKEN_A}"}
AS_B = {"Authorization": f"Bearer {TOKEN_B}"}

PRINCIPALS = {
    TOKEN_A: Principal(user_id="alice", project_id=TENANT_A, roles=frozenset({"member"})),
    TOKEN_B: Principal(user_id="bob", project_id=TENANT_B, roles=frozenset({"member"})),
}


class TenantTokens:
    """The two tenants' tokens, then whatever the service validated before (its admin)."""

    def __init__(self, fallback: TokenValidator) -> None:
        self._fallback = fallback

    async def validate(self, token: str) -> Principal | None:
        return PRINCIPALS.get(token) or await self._fallback.validate(token)


def install_tenants(app: FastAPI) -> None:
    app.state.token_validator = TenantTokens(app.state.token_validator)

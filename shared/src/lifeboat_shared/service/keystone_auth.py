"""Keystone token validation, asynchronous (keystonemiddleware is WSGI-only).

The service authenticates with its own credentials (keystoneauth1 password auth), then validates
each caller's token with ``GET /v3/auth/tokens?nocatalog`` and ``X-Subject-Token``. A principal is
cached under the SHA-256 of the token until min(its expiry, keystone_cache_seconds). Keystone
unreachable, failing or refusing the service's credentials -> IdentityUnavailable (the API answers
503); an unknown, expired or revoked token -> None (401).
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from lifeboat_shared.service.auth import IdentityUnavailable, Principal

if TYPE_CHECKING:
    from lifeboat_shared.settings import LifeboatSettings

_CACHE_MAX = 10_000


def _scope(token: dict[str, Any]) -> str:
    for scope in ("project", "domain", "system"):
        if token.get(scope):
            return scope
    return "unscoped"


def principal_from_token(body: dict[str, Any]) -> Principal:
    """A principal from a Keystone v3 token body ({"token": {...}})."""
    token = body["token"]
    user = token.get("user") or {}
    project = token.get("project") or {}
    expires = token.get("expires_at")
    return Principal(
        user_id=str(user.get("id", "")),
        user_name=user.get("name"),
        project_id=project.get("id") or None,
        roles=frozenset(str(r["name"]) for r in token.get("roles") or [] if "name" in r),
        scope=_scope(token),
        expires_at=datetime.fromisoformat(expires.replace("Z", "+00:00")) if expires else None,
    )


class KeystoneTokenValidator:
    def __init__(
        self,
        *,
        auth_url: str,
        username: str,
        password: str,
        project_name: str,
        user_domain_name: str = "Default",
        project_domain_name: str = "Default",
        cache_seconds: float = 300.0,
        timeout_seconds: float = 5.0,
    ) -> None:
        self.auth_url = auth_url.rstrip("/")
        base = self.auth_url if self.auth_url.endswith("/v3") else self.auth_url + "/v3"
        self._validate_url = base + "/auth/tokens"
        self._auth = v3.Password(
            auth_url=self.auth_url,
            username=username,
            password=password,
            project_name=project_name,
            user_domain_name=user_domain_name,
            project_domain_name=project_domain_name,
        )
        self._session = ks_session.Session(auth=self._auth, timeout=timeout_seconds)
        self._cache_seconds = cache_seconds
        self._timeout = timeout_seconds
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._client: httpx.AsyncClient | None = None

    @classmethod
    def from_settings(cls, s: LifeboatSettings) -> KeystoneTokenValidator:
        assert s.keystone_auth_url and s.keystone_username and s.keystone_password
        return cls(
            auth_url=s.keystone_auth_url,
            username=s.keystone_username,
            password=s.keystone_password.get_secret_value(),
            project_name=s.keystone_project_name,
            user_domain_name=s.keystone_user_domain_name,
            project_domain_name=s.keystone_project_domain_name,
            cache_seconds=s.keystone_cache_seconds,
            timeout_seconds=s.keystone_timeout_seconds,
        )

    async def _service_token(self, *, renew: bool = False) -> str:
        def get() -> str:
            if renew:
                self._auth.invalidate()
            token = self._session.get_token()
            if not token:
                raise IdentityUnavailable("Keystone gave the service no token")
            return str(token)

        try:
            return await asyncio.to_thread(get)
        except ks_exc.Unauthorized:
            raise IdentityUnavailable(
                f"Keystone at {self.auth_url} refused the service's own credentials"
            ) from None
        except ks_exc.ClientException as exc:
            raise IdentityUnavailable(
                f"Keystone at {self.auth_url} unreachable or failing ({type(exc).__name__})"
            ) from None

    def _cached(self, key: str) -> Principal | None:
        hit = self._cache.get(key)
        if hit is None:
            return None
        if hit[1] <= time.monotonic():
            self._cache.pop(key, None)
            return None
        return hit[0]

    def _remember(self, key: str, principal: Principal) -> None:
        ttl = self._cache_seconds
        if principal.expires_at is not None:
            ttl = min(ttl, (principal.expires_at - datetime.now(UTC)).total_seconds())
        if ttl <= 0:
            return
        if len(self._cache) >= _CACHE_MAX:
            now = time.monotonic()
            for k in [k for k, (_, until) in self._cache.items() if until <= now]:
                del self._cache[k]
            while len(self._cache) >= _CACHE_MAX:
                del self._cache[next(iter(self._cache))]
        self._cache[key] = (principal, time.monotonic() + ttl)

    async def _ask(self, service_token: str, token: str) -> httpx.Response:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        try:
            return await self._client.get(
                self._validate_url,
                params={"nocatalog": "1"},
                headers={"X-Auth-Token": service_token, "X-Subject-Token": token},
            )
        except httpx.HTTPError as exc:
            raise IdentityUnavailable(
                f"Keystone at {self.auth_url} unreachable ({type(exc).__name__})"
            ) from None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def validate(self, token: str) -> Principal | None:
        key = hashlib.sha256(token.encode()).hexdigest()
        cached = self._cached(key)
        if cached is not None:
            return cached
        resp = await self._ask(await self._service_token(), token)
        if resp.status_code == 401:  # our own token expired or was revoked: once more
            resp = await self._ask(await self._service_token(renew=True), token)
            if resp.status_code == 401:
                raise IdentityUnavailable(
                    f"Keystone at {self.auth_url} refused the service's own token"
                )
        if resp.status_code == 404:
            return None  # unknown, expired or revoked
        if resp.status_code != 200:
            raise IdentityUnavailable(
                f"Keystone at {self.auth_url} answered {resp.status_code} to token validation"
            )
        try:
            principal = principal_from_token(resp.json())
        except (ValueError, KeyError, TypeError):
            raise IdentityUnavailable(
                f"Keystone at {self.auth_url} sent an unreadable token"
            ) from None
        if principal.expires_at is not None and principal.expires_at <= datetime.now(UTC):
            return None
        self._remember(key, principal)
        return principal

"""The services' public REST APIs, called with the signed-in user's token (their roles decide)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from lifeboat_dashboard.config import DashboardConfig

Role = Literal["reader", "member", "admin"]
# A plan id that cannot exist: a member's POST on it answers 404, a reader's 403 (authz first).
_PROBE_PLAN = "lifeboat-dashboard-role-probe-" + "0" * 8


class ApiError(Exception):
    """A service answered an error (or could not be reached); ``status`` 0 for the latter."""

    def __init__(self, service: str, status: int, detail: str) -> None:
        super().__init__(f"{service}: {status or 'unreachable'}: {detail}")
        self.service = service
        self.status = status
        self.detail = detail


class Unauthenticated(ApiError):
    """401: the token is unknown, expired or revoked."""


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):  # FastAPI's validation errors: name the field
        return "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', [])[1:])}: {d.get('msg')}"
            for d in detail
            if isinstance(d, dict)
        )
    return str(detail)[:300]


@dataclass
class Api:
    client: httpx.AsyncClient
    config: DashboardConfig
    token: str

    async def call(
        self,
        service: str,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        url = self.config.urls[service] + path
        try:
            r = await self.client.request(method, url, params=params, json=json, headers=headers)
        except httpx.HTTPError as exc:
            raise ApiError(service, 0, type(exc).__name__) from None
        if r.status_code == 401:
            raise Unauthenticated(service, 401, _detail(r))
        if r.status_code >= 400:
            raise ApiError(service, r.status_code, _detail(r))
        return r.json() if r.content else None

    async def get(self, service: str, path: str, **params: str) -> Any:
        return await self.call(service, "GET", path, params=params or None)

    async def role(self) -> Role:
        """The caller's role as the APIs see it: admin if it may list evacuations (an admin
        rule), member if refreshing a plan is refused as unknown (404) rather than forbidden."""
        await self.get("orchestrator", "/v1/sites")  # 401 here: a bad token
        try:
            await self.get("orchestrator", "/v1/evacuations")
            return "admin"
        except Unauthenticated:
            raise
        except ApiError as exc:
            if exc.status != 403:
                raise
        try:
            await self.call("orchestrator", "POST", f"/v1/plans/{_PROBE_PLAN}/refresh")
        except Unauthenticated:
            raise
        except ApiError as exc:
            if exc.status == 403:
                return "reader"
            if exc.status == 404:
                return "member"
            raise
        return "member"

    async def start_execution(
        self, plan_id: str, kind: str, key: str, test_id: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": kind}
        if test_id:
            body["test_id"] = test_id
        result: dict[str, Any] = await self.call(
            "orchestrator",
            "POST",
            f"/v1/plans/{plan_id}/executions",
            json=body,
            idempotency_key=key or str(uuid.uuid4()),
        )
        return result

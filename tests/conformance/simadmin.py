"""A small client for cloudsim's fault-injection admin API (only used when the target is
cloudsim; a real cloud has no such API and the fault tests skip there)."""

from __future__ import annotations

from typing import Any

import httpx

PREFIX = "/cloudsim/admin"


class SimAdmin:
    def __init__(self, admin_url: str, token: str) -> None:
        base = admin_url.rstrip("/")
        self._base = base if base.endswith(PREFIX) else base + PREFIX
        self._headers = {"X-Auth-Token": token}

    async def _request(self, method: str, path: str, body: Any = None) -> Any:
        async with httpx.AsyncClient(timeout=10) as client:
            resp = await client.request(method, self._base + path, json=body, headers=self._headers)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    async def set_rules(self, rules: list[dict[str, Any]]) -> None:
        await self._request("PUT", "/rules", {"rules": rules})

    async def clear_rules(self) -> None:
        await self._request("DELETE", "/rules")

    async def rate_limit(self, project: str, per_second: float, burst: float = 1) -> None:
        await self._request(
            "PUT", f"/rate-limits/{project}", {"per_second": per_second, "burst": burst}
        )

    async def clear_rate_limit(self, project: str) -> None:
        await self._request("DELETE", f"/rate-limits/{project}")

    async def down(self, mode: str = "503") -> None:
        await self._request("POST", "/down", {"mode": mode})

    async def up(self) -> None:
        await self._request("POST", "/up")

    async def set_quotas(self, project: str, quotas: dict[str, int]) -> None:
        await self._request("PUT", f"/quotas/{project}", quotas)

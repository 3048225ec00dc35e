"""Lifeboat's REST APIs through a keystoneauth session: one base URL from the catalog
(``disaster-recovery``), a path per service (``/policy``, ``/orchestrator``, ...)."""

from __future__ import annotations

from typing import Any

from keystoneauth1 import adapter
from keystoneauth1 import exceptions as ks_exc
from osc_lib import exceptions

SERVICE_TYPE = "disaster-recovery"


class Client:
    def __init__(
        self,
        session: Any,
        *,
        interface: str | None = None,
        region_name: str | None = None,
        endpoint_override: str | None = None,
    ) -> None:
        self.api = adapter.Adapter(
            session,
            service_type=SERVICE_TYPE,
            interface=interface or "public",
            region_name=region_name,
            endpoint_override=endpoint_override,
        )

    @property
    def endpoint(self) -> str:
        url = self.api.get_endpoint()
        if not url:
            raise exceptions.CommandError(
                f"no '{SERVICE_TYPE}' endpoint in the catalog: is Lifeboat registered in "
                "this cloud's Keystone?"
            )
        return str(url).rstrip("/")

    def request(
        self, method: str, service: str, path: str, *, json: Any = None, params: Any = None
    ) -> Any:
        url = f"{self.endpoint}/{service}/v1/{path}"
        try:
            resp = self.api.request(
                url, method, json=json, params=params, raise_exc=False, connect_retries=2
            )
        except ks_exc.ClientException as exc:
            raise exceptions.CommandError(f"{method} {url}: {exc}") from None
        if resp.status_code >= 400:
            raise exceptions.CommandError(f"{resp.status_code}: {_detail(resp)}")
        if resp.status_code == 204 or not resp.content:
            return None
        return resp.json()

    def get(self, service: str, path: str, **params: Any) -> Any:
        return self.request("GET", service, path, params={k: v for k, v in params.items() if v})

    def post(self, service: str, path: str, body: Any = None) -> Any:
        return self.request("POST", service, path, json=body if body is not None else {})

    def delete(self, service: str, path: str) -> Any:
        return self.request("DELETE", service, path)


def _detail(resp: Any) -> str:
    try:
        detail = resp.json().get("detail", resp.text)
    except (ValueError, AttributeError):
        return str(resp.text)[:300] or resp.reason
    if isinstance(detail, list):  # 422: [{loc, msg}]
        return "; ".join(
            f"{'.'.join(str(p) for p in d.get('loc', ()))}: {d.get('msg')}" for d in detail
        )
    return str(detail)

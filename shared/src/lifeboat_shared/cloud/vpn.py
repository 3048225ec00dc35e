"""Neutron VPNaaS (IPsec site-to-site): IKE/IPsec policies, VPN services, endpoint groups, site
connections, and a router's external gateway (a VPN service needs one).

VPNaaS resources have no Neutron tags: Lifeboat's mark goes into the description (atomic with
the creation), as for the other Neutron resources. A connection's PSK is sent to the cloud and
nowhere else: no operation name, result or error built here contains it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from lifeboat_shared.cloud import rawlist
from lifeboat_shared.cloud.context import ProjectContext
from lifeboat_shared.cloud.errors import NotFound
from lifeboat_shared.cloud.findcreate import find_or_create
from lifeboat_shared.cloud.tags import LifeboatTag

KINDS = {
    "ike_policy": ("/vpn/ikepolicies", "ikepolicies"),
    "ipsec_policy": ("/vpn/ipsecpolicies", "ipsecpolicies"),
    "vpn_service": ("/vpn/vpnservices", "vpnservices"),
    "endpoint_group": ("/vpn/endpoint-groups", "endpoint_groups"),
    "site_connection": ("/vpn/ipsec-site-connections", "ipsec_site_connections"),
}
"""Lifeboat's name of each VPNaaS kind -> (Neutron path, list key)."""

_SDK = {
    "ike_policy": ("vpn_ike_policies", "create_vpn_ike_policy", "delete_vpn_ike_policy"),
    "ipsec_policy": ("vpn_ipsec_policies", "create_vpn_ipsec_policy", "delete_vpn_ipsec_policy"),
    "vpn_service": ("vpn_services", "create_vpn_service", "delete_vpn_service"),
    "endpoint_group": (
        "vpn_endpoint_groups",
        "create_vpn_endpoint_group",
        "delete_vpn_endpoint_group",
    ),
    "site_connection": (
        "vpn_ipsec_site_connections",
        "create_vpn_ipsec_site_connection",
        "delete_vpn_ipsec_site_connection",
    ),
}


@dataclass(frozen=True)
class VpnResource:
    """One VPNaaS resource as Lifeboat needs it (never its PSK)."""

    kind: str
    id: str
    name: str
    description: str
    status: str | None = None
    external_ip: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _resource(kind: str, raw: Any) -> VpnResource:
    get = raw.get if isinstance(raw, dict) else (lambda k, d=None: getattr(raw, k, d))
    return VpnResource(
        kind=kind,
        id=str(get("id")),
        name=str(get("name") or ""),
        description=str(get("description") or ""),
        status=get("status"),
        external_ip=get("external_v4_ip"),
        extra={
            k: get(k)
            for k in ("router_id", "peer_address", "vpnservice_id", "type", "endpoints")
            if get(k) is not None
        },
    )


class VpnAPI:
    """Neutron VPNaaS operations of one (site, project)."""

    def __init__(self, ctx: ProjectContext) -> None:
        self._ctx = ctx

    @property
    def _neutron(self) -> Any:
        return self._ctx.conn.network

    async def list(self, kind: str) -> tuple[VpnResource, ...]:
        path, key = KINDS[kind]

        def job() -> tuple[VpnResource, ...]:
            return tuple(_resource(kind, d) for d in rawlist.neutron(self._ctx.conn, path, key))

        return await self._ctx.call(f"list {kind.replace('_', ' ')}s", job)

    async def create(self, kind: str, name: str, tag: LifeboatTag, **attrs: Any) -> VpnResource:
        """Find-or-create by the tag's description mark; ``attrs`` are Neutron's fields."""
        listing, create, _ = _SDK[kind]

        def find(t: LifeboatTag) -> VpnResource | None:
            items: Iterable[Any] = getattr(self._neutron, listing)()
            for res in items:
                if t.matches_marks(getattr(res, "description", None), None):
                    return _resource(kind, res)
            return None

        def make() -> VpnResource:
            made = getattr(self._neutron, create)(
                name=name, description=tag.description(None), **attrs
            )
            return _resource(kind, made)

        what = f"create {kind.replace('_', ' ')} {name}"
        found, _ = await find_or_create(self._ctx, what, tag, find, make)
        return found

    async def delete(self, kind: str, resource_id: str) -> None:
        method = _SDK[kind][2]
        call: Callable[[], Any] = lambda: getattr(self._neutron, method)(  # noqa: E731
            resource_id, ignore_missing=False
        )
        try:
            await self._ctx.call(f"delete {kind.replace('_', ' ')} {resource_id}", call)
        except NotFound:
            return

    async def set_router_gateway(
        self, router_id: str, network_id: str, *, enable_snat: bool = False
    ) -> str | None:
        """Give a router an external gateway (SNAT off by default: the VPN's tunnel endpoint
        only, no outbound path for the guests); returns the gateway's IP."""

        def job() -> str | None:
            rt = self._neutron.update_router(
                router_id,
                external_gateway_info={"network_id": network_id, "enable_snat": enable_snat},
            )
            info = rt.external_gateway_info or {}
            ips = info.get("external_fixed_ips") or []
            return str(ips[0]["ip_address"]) if ips else None

        return await self._ctx.call(f"set gateway of router {router_id}", job)

"""Neutron: networks, subnets, ports, routers, security groups and floating IPs.

Neutron resources have no metadata: Lifeboat's tag goes into the description (atomic with the
creation, so find-or-create works even if the process dies right after) and into Neutron tags
(set by a second request, for operators and tag filters; best effort).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from openstack import exceptions as sdk_exc

from lifeboat_shared.cloud import convert, models, rawcreate, rawlist
from lifeboat_shared.cloud.context import ProjectContext
from lifeboat_shared.cloud.errors import Conflict, InvalidInput, NotFound
from lifeboat_shared.cloud.findcreate import find_or_create
from lifeboat_shared.cloud.tags import LifeboatTag

M = TypeVar("M")


def _field(res: Any, name: str) -> Any:
    """A field of an SDK Resource or of a resource read as JSON."""
    return res.get(name) if isinstance(res, dict) else getattr(res, name, None)


def _described(description: str | None) -> dict[str, str]:
    # Neutron validates description as a string: send nothing rather than null.
    return {} if description is None else {"description": description}


class NetworkAPI:
    """Neutron operations of one (site, project)."""

    def __init__(self, ctx: ProjectContext) -> None:
        self._ctx = ctx

    @property
    def _neutron(self) -> Any:
        return self._ctx.conn.network

    # --- shared helpers --------------------------------------------------------------------

    async def _list(
        self, what: str, path: str, key: str, conv: Callable[[Any], M], **filters: Any
    ) -> tuple[M, ...]:
        """A Neutron list read as JSON; filters are Neutron query parameters (applied exactly)."""

        def job() -> tuple[M, ...]:
            raw = rawlist.neutron(self._ctx.conn, path, key, **filters)
            return tuple(conv(d) for d in raw if rawlist.matches(d, filters))

        return await self._ctx.call(f"list {what}", job)

    async def _create(
        self,
        what: str,
        tag: LifeboatTag | None,
        candidates: Callable[[], Iterable[Any]],
        create: Callable[[str | None], Any],
        conv: Callable[[Any], M],
        description: str | None,
        fresh: bool = False,
        json_path: str | None = None,
    ) -> M:
        """find-or-create for a Neutron resource; `create` gets the description to set.

        ``json_path`` (e.g. "/ports"): `create` returns the API's JSON, and the tags are set
        the same way."""

        def find(t: LifeboatTag) -> M | None:
            for res in candidates():
                if t.matches_marks(_field(res, "description"), _field(res, "tags")):
                    return conv(res)
            return None

        def make() -> M:
            res = create(tag.description(description) if tag else description)
            if tag is not None:
                # Tags are a convenience on top of the description mark: a cloud without the
                # tag extension still gets idempotent creation.
                with contextlib.suppress(sdk_exc.SDKException):
                    if json_path is not None:  # made as JSON (rawcreate): tagged as JSON
                        res["tags"] = rawcreate.neutron_set_tags(
                            self._ctx.conn, f"{json_path}/{res['id']}", tag.neutron_tags()
                        )
                    else:
                        res = self._neutron.set_tags(res, tag.neutron_tags())
            return conv(res)

        made, _ = await find_or_create(self._ctx, f"create {what}", tag, find, make, fresh=fresh)
        return made

    async def _delete(self, what: str, method: str, resource_id: str) -> None:
        try:
            await self._ctx.call(
                f"delete {what} {resource_id}",
                lambda: getattr(self._neutron, method)(resource_id, ignore_missing=False),
            )
        except NotFound:
            return

    # --- networks and subnets --------------------------------------------------------------

    async def list_networks(self, **filters: Any) -> tuple[models.Network, ...]:
        return await self._list("networks", "/networks", "networks", convert.network, **filters)

    async def get_network(self, network_id: str) -> models.Network:
        return await self._ctx.call(
            f"get network {network_id}",
            lambda: convert.network(self._neutron.get_network(network_id)),
        )

    async def create_network(
        self,
        name: str,
        *,
        description: str | None = None,
        tag: LifeboatTag | None = None,
        mtu: int | None = None,
    ) -> models.Network:
        attrs: dict[str, Any] = {"name": name}
        if mtu is not None:
            attrs["mtu"] = mtu
        return await self._create(
            f"network {name}",
            tag,
            lambda: self._neutron.networks(name=name),
            lambda desc: self._neutron.create_network(**attrs, **_described(desc)),
            convert.network,
            description,
        )

    async def delete_network(self, network_id: str) -> None:
        await self._delete("network", "delete_network", network_id)

    async def list_subnets(self, **filters: Any) -> tuple[models.Subnet, ...]:
        return await self._list("subnets", "/subnets", "subnets", convert.subnet, **filters)

    async def create_subnet(
        self,
        network_id: str,
        cidr: str,
        *,
        name: str,
        ip_version: int = 4,
        gateway_ip: str | None = None,
        enable_dhcp: bool = True,
        allocation_pools: Sequence[tuple[str, str]] = (),
        dns_nameservers: Sequence[str] = (),
        description: str | None = None,
        tag: LifeboatTag | None = None,
    ) -> models.Subnet:
        attrs: dict[str, Any] = {
            "network_id": network_id,
            "cidr": cidr,
            "name": name,
            "ip_version": ip_version,
            "is_dhcp_enabled": enable_dhcp,
        }
        if gateway_ip is not None:
            attrs["gateway_ip"] = gateway_ip
        if allocation_pools:
            attrs["allocation_pools"] = [{"start": s, "end": e} for s, e in allocation_pools]
        if dns_nameservers:
            attrs["dns_nameservers"] = list(dns_nameservers)
        return await self._create(
            f"subnet {name}",
            tag,
            lambda: self._neutron.subnets(network_id=network_id, name=name),
            lambda desc: self._neutron.create_subnet(**attrs, **_described(desc)),
            convert.subnet,
            description,
        )

    async def delete_subnet(self, subnet_id: str) -> None:
        await self._delete("subnet", "delete_subnet", subnet_id)

    # --- ports -----------------------------------------------------------------------------

    async def list_ports(self, **filters: Any) -> tuple[models.Port, ...]:
        return await self._list("ports", "/ports", "ports", convert.port, **filters)

    async def get_port(self, port_id: str) -> models.Port:
        return await self._ctx.call(
            f"get port {port_id}", lambda: convert.port(self._neutron.get_port(port_id))
        )

    async def create_port(
        self,
        network_id: str,
        *,
        name: str,
        fixed_ips: Sequence[tuple[str, str | None]] = (),
        security_group_ids: Sequence[str] | None = None,
        mac_address: str | None = None,
        description: str | None = None,
        tag: LifeboatTag | None = None,
        fresh: bool = False,
    ) -> models.Port:
        """A port with chosen (subnet_id, ip) fixed IPs (ip None = any free address)."""
        # Found, created and tagged as JSON (see rawcreate): an evacuation makes one per VM NIC.
        attrs: dict[str, Any] = {"network_id": network_id, "name": name}
        if fixed_ips:
            attrs["fixed_ips"] = [
                {"subnet_id": s, **({"ip_address": ip} if ip else {})} for s, ip in fixed_ips
            ]
        if security_group_ids is not None:
            attrs["security_groups"] = list(security_group_ids)
        if mac_address is not None:
            attrs["mac_address"] = mac_address
        conn = self._ctx.conn
        return await self._create(
            f"port {name}",
            tag,
            lambda: rawlist.neutron(conn, "/ports", "ports", network_id=network_id, name=name),
            lambda desc: rawcreate.neutron_create(
                conn, "/ports", "port", {**attrs, **_described(desc)}
            ),
            convert.port,
            description,
            fresh,
            json_path="/ports",
        )

    async def delete_port(self, port_id: str) -> None:
        await self._delete("port", "delete_port", port_id)

    # --- routers ---------------------------------------------------------------------------

    async def list_routers(self, **filters: Any) -> tuple[models.Router, ...]:
        return await self._list("routers", "/routers", "routers", convert.router, **filters)

    async def create_router(
        self,
        name: str,
        *,
        external_network_id: str | None = None,
        description: str | None = None,
        tag: LifeboatTag | None = None,
    ) -> models.Router:
        attrs: dict[str, Any] = {"name": name}
        if external_network_id is not None:
            attrs["external_gateway_info"] = {"network_id": external_network_id}
        return await self._create(
            f"router {name}",
            tag,
            lambda: self._neutron.routers(name=name),
            lambda desc: self._neutron.create_router(**attrs, **_described(desc)),
            convert.router,
            description,
        )

    async def add_router_interface(self, router_id: str, subnet_id: str) -> models.Port:
        """Connect a subnet to a router; an existing interface on that subnet is returned."""

        def job() -> models.Port:
            for res in self._neutron.ports(device_id=router_id):
                if any(ip.get("subnet_id") == subnet_id for ip in res.fixed_ips or ()):
                    return convert.port(res)
            made = self._neutron.add_interface_to_router(router_id, subnet=subnet_id)
            return convert.port(self._neutron.get_port(made["port_id"]))

        return await self._ctx.call(f"add subnet {subnet_id} to router {router_id}", job)

    async def remove_router_interface(self, router_id: str, subnet_id: str) -> None:
        try:
            await self._ctx.call(
                f"remove subnet {subnet_id} from router {router_id}",
                lambda: self._neutron.remove_interface_from_router(router_id, subnet=subnet_id),
            )
        except NotFound:
            return

    async def delete_router(self, router_id: str) -> None:
        await self._delete("router", "delete_router", router_id)

    # --- security groups -------------------------------------------------------------------

    async def list_security_groups(self, **filters: Any) -> tuple[models.SecurityGroup, ...]:
        return await self._list(
            "security groups",
            "/security-groups",
            "security_groups",
            convert.security_group,
            **filters,
        )

    async def get_security_group(self, group_id: str) -> models.SecurityGroup:
        return await self._ctx.call(
            f"get security group {group_id}",
            lambda: convert.security_group(self._neutron.get_security_group(group_id)),
        )

    async def create_security_group(
        self, name: str, *, description: str | None = None, tag: LifeboatTag | None = None
    ) -> models.SecurityGroup:
        return await self._create(
            f"security group {name}",
            tag,
            lambda: self._neutron.security_groups(name=name),
            lambda desc: self._neutron.create_security_group(name=name, description=desc or ""),
            convert.security_group,
            description,
        )

    async def create_security_group_rule(
        self,
        security_group_id: str,
        *,
        direction: str = "ingress",
        protocol: str | None = None,
        port_range_min: int | None = None,
        port_range_max: int | None = None,
        remote_ip_prefix: str | None = None,
        remote_group_id: str | None = None,
        ethertype: str = "IPv4",
    ) -> models.SecurityGroupRule:
        """Add a rule; an identical existing rule is returned (Neutron answers 409 for it)."""
        if direction not in ("ingress", "egress"):
            raise InvalidInput("direction must be 'ingress' or 'egress'")
        attrs: dict[str, Any] = {
            "security_group_id": security_group_id,
            "direction": direction,
            "ether_type": ethertype,
        }
        optional = {
            "protocol": protocol,
            "port_range_min": port_range_min,
            "port_range_max": port_range_max,
            "remote_ip_prefix": remote_ip_prefix,
            "remote_group_id": remote_group_id,
        }
        attrs.update({k: v for k, v in optional.items() if v is not None})

        def same(rule: models.SecurityGroupRule) -> bool:
            return (
                rule.direction == direction
                and (rule.ethertype or "IPv4") == ethertype
                and rule.protocol == protocol
                and rule.port_range_min == port_range_min
                and rule.port_range_max == port_range_max
                and rule.remote_ip_prefix == remote_ip_prefix
                and rule.remote_group_id == remote_group_id
            )

        def job() -> models.SecurityGroupRule:
            for res in self._neutron.security_group_rules(security_group_id=security_group_id):
                rule = convert.security_group_rule(res)
                if same(rule):
                    return rule
            return convert.security_group_rule(self._neutron.create_security_group_rule(**attrs))

        try:
            return await self._ctx.call(f"add rule to security group {security_group_id}", job)
        except Conflict:
            return await self._ctx.call(f"add rule to security group {security_group_id}", job)

    async def delete_security_group(self, group_id: str) -> None:
        await self._delete("security group", "delete_security_group", group_id)

    # --- floating IPs ----------------------------------------------------------------------

    async def list_floating_ips(self, **filters: Any) -> tuple[models.FloatingIP, ...]:
        return await self._list(
            "floating IPs", "/floatingips", "floatingips", convert.floating_ip, **filters
        )

    async def create_floating_ip(
        self,
        floating_network_id: str,
        *,
        port_id: str | None = None,
        fixed_ip_address: str | None = None,
        description: str | None = None,
        tag: LifeboatTag | None = None,
    ) -> models.FloatingIP:
        attrs: dict[str, Any] = {"floating_network_id": floating_network_id}
        if port_id is not None:
            attrs["port_id"] = port_id
        if fixed_ip_address is not None:
            attrs["fixed_ip_address"] = fixed_ip_address
        return await self._create(
            "floating IP",
            tag,
            lambda: self._neutron.ips(floating_network_id=floating_network_id),
            lambda desc: self._neutron.create_ip(**attrs, **_described(desc)),
            convert.floating_ip,
            description,
        )

    async def associate_floating_ip(
        self, floating_ip_id: str, port_id: str | None, *, fixed_ip_address: str | None = None
    ) -> models.FloatingIP:
        """Point a floating IP at a port (None disassociates); repeating it is harmless."""
        attrs: dict[str, Any] = {"port_id": port_id}
        if fixed_ip_address is not None:
            attrs["fixed_ip_address"] = fixed_ip_address
        return await self._ctx.call(
            f"associate floating IP {floating_ip_id}",
            lambda: convert.floating_ip(self._neutron.update_ip(floating_ip_id, **attrs)),
        )

    async def delete_floating_ip(self, floating_ip_id: str) -> None:
        await self._delete("floating IP", "delete_ip", floating_ip_id)

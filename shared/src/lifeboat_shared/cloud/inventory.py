"""Inventory of a project: one list call per resource kind, all at once.

A 1,000-VM project must inventory in about a second, so: no per-item GETs (volume attachments
come from the volumes' own `attachments` field and the servers' `attached_volumes`, flavors from
the servers' embedded flavor plus one flavor list), every list running concurrently on the site's
thread pool, each read as JSON (see rawlist.py) and converted to models in its worker thread.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from lifeboat_shared.cloud import convert, models, rawlist
from lifeboat_shared.cloud.context import ProjectContext

M = TypeVar("M")


class InventoryAPI:
    def __init__(self, ctx: ProjectContext) -> None:
        self._ctx = ctx
        #: seconds each list call took in the last inventory (for benchmarks and logs)
        self.last_timings: dict[str, float] = {}

    async def _timed_list(
        self, what: str, source: Callable[[], Iterable[Any]], conv: Callable[[Any], M]
    ) -> tuple[M, ...]:
        def job() -> tuple[M, ...]:
            started = time.perf_counter()
            result = tuple(conv(r) for r in source())
            self.last_timings[what] = time.perf_counter() - started
            return result

        return await self._ctx.call(f"inventory: list {what}", job)

    async def inventory(self) -> models.Inventory:
        conn = self._ctx.conn
        project_id = await self._ctx.call("inventory: project id", lambda: conn.current_project_id)
        self.last_timings = {}

        def nova(path: str, key: str) -> Iterable[Any]:
            return rawlist.nova(conn, path, key)

        def cinder(path: str, key: str) -> Iterable[Any]:
            return rawlist.cinder(conn, path, key)

        def neutron(path: str, key: str, **params: Any) -> Iterable[Any]:
            return rawlist.neutron(conn, path, key, **params)

        def glance() -> Iterable[Any]:
            return rawlist.glance_images(conn)

        spawn = asyncio.create_task
        t_servers = spawn(
            self._timed_list("servers", lambda: nova("/servers/detail", "servers"), convert.server)
        )
        t_flavors = spawn(
            self._timed_list("flavors", lambda: nova("/flavors/detail", "flavors"), convert.flavor)
        )
        t_images = spawn(self._timed_list("images", glance, convert.image))
        t_volumes = spawn(
            self._timed_list(
                "volumes", lambda: cinder("/volumes/detail", "volumes"), convert.volume
            )
        )
        t_ports = spawn(
            self._timed_list(
                "ports", lambda: neutron("/ports", "ports", project_id=project_id), convert.port
            )
        )
        t_networks = spawn(
            self._timed_list("networks", lambda: neutron("/networks", "networks"), convert.network)
        )
        t_subnets = spawn(
            self._timed_list("subnets", lambda: neutron("/subnets", "subnets"), convert.subnet)
        )
        t_groups = spawn(
            self._timed_list(
                "security groups",
                lambda: neutron("/security-groups", "security_groups", project_id=project_id),
                convert.security_group,
            )
        )
        t_fips = spawn(
            self._timed_list(
                "floating IPs",
                lambda: neutron("/floatingips", "floatingips", project_id=project_id),
                convert.floating_ip,
            )
        )
        # gather, not a TaskGroup: the caller gets the first CloudError itself, not a group.
        await asyncio.gather(
            t_servers,
            t_flavors,
            t_images,
            t_volumes,
            t_ports,
            t_networks,
            t_subnets,
            t_groups,
            t_fips,
        )
        flavors = t_flavors.result()
        by_name = {f.name: f.id for f in flavors}
        servers = tuple(
            s.model_copy(
                update={"flavor": s.flavor.model_copy(update={"id": by_name[s.flavor.name]})}
            )
            if s.flavor is not None and s.flavor.id is None and s.flavor.name in by_name
            else s
            for s in t_servers.result()
        )
        return models.Inventory(
            project_id=str(project_id),
            servers=servers,
            flavors=flavors,
            images=t_images.result(),
            volumes=t_volumes.result(),
            ports=t_ports.result(),
            networks=t_networks.result(),
            subnets=t_subnets.result(),
            security_groups=t_groups.result(),
            floating_ips=t_fips.result(),
        )

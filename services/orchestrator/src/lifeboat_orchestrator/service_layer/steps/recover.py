"""Bring one member up at the recovery site: its volumes from the CP's DR snapshots (or backups,
UC7), its ports with their addresses, then the server (boot from volume), and a floating IP if
the plan wants one. Standalone volumes (UC7) are restored on their own, then given to the
stateless member they attach to.

Every creation carries the execution, step and a key (volume, port, server), so a step killed
half-way and run again finds what it made instead of making it twice.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from lifeboat_orchestrator.domain.plan import CapturedServer, Placement
from lifeboat_orchestrator.service_layer.steps.context import StepEnv, StepFailed
from lifeboat_shared.cloud import CloudProject, models
from lifeboat_shared.contracts.messages import CpMember


def _cp_members(env: StepEnv) -> dict[str, CpMember]:
    """CP members by the volume id they were replicated from."""
    return {m.source_volume_id: m for cp in env.cps.values() for m in cp.members}


def _placement(env: StepEnv, server_id: str) -> Placement:
    placed = env.plan.state.placement.get(server_id)
    if placed is not None:
        return placed
    captured = env.plan.capture.servers[server_id]
    return Placement(
        site=env.plan.spec.source_site,
        server_id=server_id,
        volumes={v.volume_id: v.volume_id for v in captured.volumes},
    )


async def _volumes(
    env: StepEnv, project: CloudProject, server: CapturedServer, bubble: bool
) -> dict[str, str]:
    members = _cp_members(env)
    placed = _placement(env, server.server_id)
    jobs = []
    for vol in server.volumes:
        current = placed.volumes.get(vol.volume_id, vol.volume_id)
        member = members.get(current)
        if member is None:
            raise StepFailed(
                f"volume {vol.volume_id} of {server.name} is not in the consistency point"
            )
        disk = (vol.device or "disk").rsplit("/", 1)[-1]
        name = f"{'bubble-' if bubble else ''}{server.name}-{disk}"
        jobs.append(
            _copy_of(
                env,
                project,
                member,
                name=name,
                boot=vol.boot,
                key=vol.volume_id,
                source=vol.volume_id,
            )
        )
    made = await asyncio.gather(*jobs)
    return {v.volume_id: m.id for v, m in zip(server.volumes, made, strict=True)}


async def _copy_of(
    env: StepEnv,
    project: CloudProject,
    member: CpMember,
    *,
    name: str,
    boot: bool,
    key: str,
    source: str,
) -> models.Volume:
    """A new volume at the DR site holding ``member`` as it was at the CP: its backup restored
    (backup strategy, UC7) or a volume from its replica snapshot (blocks strategy)."""
    tag = env.tag(f"vol-{key}")
    if member.backup_id is not None:
        return await project.block_storage.restore_backup(member.backup_id, name=name, tag=tag)
    return await project.block_storage.create_volume(
        member.size_gib,
        name=name,
        snapshot_id=member.replica_snapshot_id,
        bootable=boot,
        metadata={"lifeboat:source-volume": source},
        tag=tag,
        fresh=env.fresh,
    )


async def restore_volume(env: StepEnv) -> dict[str, Any]:
    """UC7: a standalone volume of the plan, restored at the DR site from the CP."""
    vid = env.step.params["volume"]
    member = _cp_members(env).get(vid)
    if member is None:
        raise StepFailed(f"volume {vid} is not in the consistency point of any plan group")
    project = await env.project(env.site)
    prefix = "bubble-" if env.execution.kind == "test-failover" else ""
    made = await _copy_of(
        env, project, member, name=f"{prefix}{vid}", boot=False, key=vid, source=vid
    )
    return {"volume_id": made.id, "source_volume_id": vid, "backup_id": member.backup_id}


async def _ports(env: StepEnv, project: CloudProject, server: CapturedServer) -> list[str]:
    net = env.network()
    port_ids = []
    for i, port in enumerate(server.ports):
        network_id = net["networks"].get(port.network_id)
        if network_id is None:
            raise StepFailed(f"no DR network for {port.network_name} of {server.name}")
        mode = net["ip_modes"].get(port.network_id, "keep")
        fixed: list[tuple[str, str | None]] = []
        for cidr, ip in port.fixed_ips:
            subnet = net["subnets"].get(f"{port.network_id}|{cidr}")
            if subnet is None:
                continue
            if mode == "keep":
                fixed.append((subnet, ip))
            elif mode == "new":
                fixed.append((subnet, None))
        groups = [
            net["security_groups"][g] for g in port.security_groups if g in net["security_groups"]
        ]
        made = await project.network.create_port(
            network_id,
            name=f"{server.name}-{i}",
            fixed_ips=fixed,
            security_group_ids=groups,
            tag=env.tag(f"port-{i}"),
            fresh=env.fresh,
        )
        port_ids.append(made.id)
    return port_ids


async def recover(env: StepEnv) -> dict[str, Any]:
    sid = env.step.params["server"]
    server = env.plan.capture.servers.get(sid)
    if server is None:
        raise StepFailed(f"server {sid} was not captured; refresh the plan")
    bubble = env.execution.kind == "test-failover"
    project = await env.project(env.site)
    volumes, ports = await asyncio.gather(
        _volumes(env, project, server, bubble), _ports(env, project, server)
    )
    flavor_name = env.plan.spec.flavor_mappings.get(server.flavor, server.flavor)
    flavor_id = await env.flavor_id(project, flavor_name)
    boot = volumes[server.volumes[0].volume_id]
    data = [volumes[v.volume_id] for v in server.volumes[1:]]
    metadata = dict(server.metadata)
    metadata.update({"lifeboat:plan": env.plan.id[:255], "lifeboat:source-server": sid})
    created = await project.compute.create_server(
        f"{'bubble-' if bubble else ''}{server.name}",
        flavor_id,
        boot_volume_id=boot,
        data_volume_ids=data,
        port_ids=ports,
        metadata=metadata,
        key_name=server.key_name,
        tag=env.tag("server"),
        fresh=env.fresh,
    )
    floating = None
    if env.plan.spec.floating_ips and not bubble and ports and env.plan.spec.external_network:
        nets = await project.network.list_networks()
        ext = next((n for n in nets if env.plan.spec.external_network in (n.id, n.name)), None)
        if ext is None:
            raise StepFailed(f"external network {env.plan.spec.external_network} not found")
        fip = await project.network.create_floating_ip(ext.id, port_id=ports[0], tag=env.tag("fip"))
        floating = fip.floating_ip_address
    addresses = [a.address for a in created.addresses]
    return {
        "server_id": created.id,
        "name": created.name,
        "volumes": volumes,
        "ports": ports,
        "addresses": addresses,
        "floating_ip": floating,
        "active_at": time.time(),
    }


async def stateless(env: StepEnv) -> dict[str, Any]:
    """UC8: a fresh server from the member's template, with its user data."""
    spec = next(
        m for t in env.plan.spec.tiers for m in t.stateless if m.name == env.step.params["member"]
    )
    index = int(env.step.params["index"])
    project = await env.project(env.site)
    net = env.network()
    source_net = next(
        (n for n in env.plan.capture.networks.values() if spec.network in (n.network_id, n.name)),
        None,
    )
    if source_net is None or source_net.network_id not in net["networks"]:
        raise StepFailed(f"stateless {spec.name}: no DR network for {spec.network}")
    images = await project.image.list_images()
    image = next((i for i in images if spec.image in (i.id, i.name)), None)
    if image is None:
        raise StepFailed(f"stateless {spec.name}: image {spec.image} not found at the DR site")
    flavor = await project.compute.find_flavor(spec.flavor)
    prefix = "bubble-" if env.execution.kind == "test-failover" else ""
    port = await project.network.create_port(
        net["networks"][source_net.network_id],
        name=f"{prefix}{spec.name}-{index}",
        tag=env.tag("port-0"),
    )
    tier = next(t for t in env.plan.spec.tiers if spec in t.stateless)
    disks = [  # UC7: standalone volumes restored for this member, as data disks
        env.result_of(f"volume:{v.volume_id}")["volume_id"]
        for v in tier.volumes
        if v.attach_to == spec.name
    ]
    created = await project.compute.create_server(
        f"{prefix}{spec.name}-{index}",
        flavor.id or spec.flavor,
        image_id=image.id,
        data_volume_ids=disks,
        port_ids=[port.id],
        user_data=spec.user_data,
        metadata={**spec.metadata, "lifeboat:plan": env.plan.id[:255]},
        tag=env.tag("server"),
    )
    return {
        "server_id": created.id,
        "name": created.name,
        "volumes": dict(
            zip([v.volume_id for v in tier.volumes if v.attach_to == spec.name], disks, strict=True)
        ),
        "ports": [port.id],
        "addresses": [a.address for a in created.addresses],
        "active_at": time.time(),
    }

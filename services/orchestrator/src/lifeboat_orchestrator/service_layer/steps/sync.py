"""Steps at the protected site and with the replicator: stop the source servers, take the final
consistency point (planned migration, failback), replicate back (reprotect)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lifeboat_orchestrator.domain.plan import Placement
from lifeboat_orchestrator.service_layer.steps.context import StepEnv, StepFailed
from lifeboat_orchestrator.service_layer.steps.recover import _placement
from lifeboat_shared.contracts.messages import ReplicateNow, ReplicationSpec


async def stop_source(env: StepEnv) -> dict[str, Any]:
    """Shut a source server down cleanly: nothing is written after the final CP."""
    placed = _placement(env, env.step.params["server"])
    project = await env.project(env.execution.source_site)
    server = await project.compute.stop_server(placed.server_id)
    return {"server_id": placed.server_id, "status": server.status}


def current_specs(env: StepEnv) -> dict[str, ReplicationSpec]:
    specs = env.execution.params.get("specs", {})
    return {g: ReplicationSpec.model_validate(s) for g, s in specs.items()}


async def final_sync(env: StepEnv) -> dict[str, Any]:
    """One more CP per group, taken after the servers stopped; recover from it."""
    started = env.step.started_at or datetime.now(UTC)
    specs = current_specs(env)
    if not specs:
        raise StepFailed("no replication spec known for the plan's groups (no tick seen yet)")
    out: dict[str, Any] = {}
    legs: dict[str, str] = env.execution.params.get("legs", {})
    for group, spec in specs.items():
        request = f"{env.execution.id}.final-sync.{group}"[:128]
        await env.emit(
            ReplicateNow(
                group_id=legs.get(group, group),  # a leg to an extra target: its own chain
                request_id=request,
                requested_by=f"orchestrator:{env.execution.kind}",
                trigger="replicate-now",
                spec=spec,
            ),
            request,
        )
        cp = await env.wait_cp(group, env.execution.target_site, started, env.sync_timeout)
        env.cps[group] = cp
        out[group] = cp.id
    return {"cps": out}


def reverse_spec(env: StepEnv) -> tuple[str, ReplicationSpec]:
    """The running copy (at the execution's source) replicated to the old site (its target),
    seeded with the old site's volumes so that only differences travel."""
    plan = env.plan
    now_at = env.execution.source_site
    back_to = env.execution.target_site
    forward = next(iter(current_specs(env).values()), None)
    sites = env.sites
    if now_at not in sites or back_to not in sites:
        raise StepFailed("both sites must be in the site registry")
    seeds: dict[str, str] = {}
    servers: list[str] = []
    for sid in plan.spec.servers:
        running = plan.state.placement.get(sid)
        old = plan.state.previous.get(sid)
        if running is None:
            raise StepFailed(f"server {sid} has no placement at {now_at}")
        servers.append(running.server_id)
        if old is not None:
            for orig, vol in running.volumes.items():
                if orig in old.volumes:
                    seeds[vol] = old.volumes[orig]
    group = f"{plan.id[:100]}.reverse"
    # The forward spec's quiesce, retention, bandwidth and encryption carry over; sites,
    # servers and seeds are the reverse direction's.
    base = forward or ReplicationSpec(
        project_id=plan.spec.project_id, source=sites[now_at].ref, target=sites[back_to].ref
    )
    spec = base.model_copy(
        update={
            "project_id": plan.spec.project_id,
            "source": sites[now_at].ref,
            "target": sites[back_to].ref,
            "servers": servers,
            "volumes": [],
            "member_groups": [],
            "seed_volumes": seeds,
            "bind_address": None,  # the forward sender's address means nothing at the other site
        }
    )
    return group, spec


async def reverse_sync(env: StepEnv) -> dict[str, Any]:
    started = env.step.started_at or datetime.now(UTC)
    group, spec = reverse_spec(env)
    request = f"{env.execution.id}.reverse-sync"[:128]
    await env.emit(
        ReplicateNow(
            group_id=group,
            request_id=request,
            requested_by="orchestrator:reprotect",
            trigger="replicate-now",
            spec=spec,
        ),
        request,
    )
    cp = await env.wait_cp(group, env.execution.target_site, started, env.sync_timeout)
    return {
        "group": group,
        "spec": spec.model_dump(mode="json"),
        "cp": cp.id,
        "bytes_sent": sum(m.bytes_sent for m in cp.members),
        "bytes_changed": sum(m.bytes_changed for m in cp.members),
    }


async def keep_divergent(env: StepEnv) -> dict[str, Any]:
    """Snapshot the losing side's volumes before anything overwrites or abandons them (UC6):
    divergent data is kept, never silently discarded."""
    sid = env.step.params["server"]
    sides = _losing_sides(env)
    kept: list[str] = []
    for site, placed in sides:
        if placed is None:
            continue
        project = await env.project(site)
        for orig, vol in placed.volumes.items():
            snap = await project.block_storage.create_snapshot(
                vol,
                name=f"lifeboat-divergent-{env.execution.id[:8]}-{orig[:8]}",
                force=True,
                tag=env.tag(f"keep-{site}-{orig}"),
            )
            kept.append(snap.id)
    return {"server": sid, "snapshots": kept}


def _losing_sides(env: StepEnv) -> list[tuple[str, Placement | None]]:
    sid = env.step.params["server"]
    state = env.plan.state
    if env.execution.kind == "reprotect":
        return [(env.execution.target_site, state.previous.get(sid))]
    policy = env.execution.params.get("resolution") or env.plan.spec.split_brain.reconcile
    primary = (env.execution.source_site, state.placement.get(sid))
    dr = (env.execution.target_site, state.dr_copy.get(sid))
    if policy == "keep-primary":
        return [dr]
    if policy == "keep-dr":
        return [primary]
    return [primary, dr]


async def release_old(env: StepEnv) -> dict[str, Any]:
    """Delete the old copy's server at the site becoming the DR site; its volumes stay (they
    are the seeds of the reverse replication, and carry the divergent-data snapshots)."""
    sid = env.step.params["server"]
    old = env.plan.state.previous.get(sid)
    if old is None:
        return {"server": sid, "deleted": None}
    project = await env.project(env.execution.target_site)
    await project.compute.delete_server(old.server_id)
    # Its ports too: they hold the addresses a failback will want back. Found by address (not by
    # device, which the deletion cleared), so a re-run after a crash still finds them.
    captured = env.plan.capture.servers.get(sid)
    wanted = {ip for p in (captured.ports if captured else []) for _cidr, ip in p.fixed_ips}
    freed = []
    for port in await project.network.list_ports():
        if port.device_id not in (None, "", old.server_id):
            continue
        if any(ip.ip_address in wanted for ip in port.fixed_ips):
            await project.network.delete_port(port.id)
            freed.append(port.id)
    return {"server": sid, "deleted": old.server_id, "ports_deleted": freed}

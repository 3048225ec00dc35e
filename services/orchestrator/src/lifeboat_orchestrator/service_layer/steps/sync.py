"""Steps at the protected site and with the replicator: stop the source servers, take the final
consistency point (planned migration, failback), replicate back (reprotect)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lifeboat_orchestrator.domain.lifecycle import reverse_group_id
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
    if not env.plan.spec.servers:
        return {"cps": {}, "skipped": "stateless members only: nothing to sync"}  # UC8
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


def reverse_specs(env: StepEnv) -> dict[str, tuple[str, ReplicationSpec]]:
    """Per forward group: (its reverse group, the spec replicating the servers now running at
    the execution's source back to the old site, seeded with the old site's volumes so that
    only differences travel)."""
    plan = env.plan
    now_at = env.execution.source_site
    back_to = env.execution.target_site
    sites = env.sites
    if now_at not in sites or back_to not in sites:
        raise StepFailed("both sites must be in the site registry")
    forward = current_specs(env)
    out: dict[str, tuple[str, ReplicationSpec]] = {}
    for group in plan.spec.groups:
        spec = forward.get(group)
        members = _members(env, spec, single=len(plan.spec.groups) == 1)
        if not members:
            continue  # stateless only, or none of the plan's servers: nothing to send back
        servers: list[str] = []
        seeds: dict[str, str] = {}
        for sid in members:
            running = plan.state.placement.get(sid)
            if running is None:
                raise StepFailed(f"server {sid} has no placement at {now_at}")
            servers.append(running.server_id)
            old = plan.state.previous.get(sid)
            for orig, vol in running.volumes.items():
                if old is not None and orig in old.volumes:
                    seeds[vol] = old.volumes[orig]
        # The forward spec's quiesce, retention, bandwidth and encryption carry over; sites,
        # servers and seeds are the reverse direction's.
        base = spec or ReplicationSpec(
            project_id=plan.spec.project_id, source=sites[now_at].ref, target=sites[back_to].ref
        )
        out[group] = (
            reverse_group_id(group),
            base.model_copy(
                update={
                    "project_id": plan.spec.project_id,
                    "source": sites[now_at].ref,
                    "target": sites[back_to].ref,
                    "servers": sorted(servers),
                    "volumes": [],
                    "member_groups": [],
                    "seed_volumes": seeds,
                    "bind_address": None,  # the forward sender's address means nothing here
                }
            ),
        )
    if not out:
        raise StepFailed("none of the plan's groups protects a server to replicate back")
    return out


def _members(env: StepEnv, spec: ReplicationSpec | None, *, single: bool) -> list[str]:
    """The plan's servers (original ids) a forward group protects: those whose copy left behind
    is one of the group's servers; a plan of one group whose spec is unknown: all of them."""
    state = env.plan.state
    if spec is None:
        if single:
            return list(env.plan.spec.servers)
        raise StepFailed("no replication spec known for the plan's groups (no tick seen yet)")
    named = set(spec.servers)
    out = []
    for sid in env.plan.spec.servers:
        left = state.previous.get(sid)
        if sid in named or (left is not None and left.server_id in named):
            out.append(sid)
    return out


async def reverse_sync(env: StepEnv) -> dict[str, Any]:
    """One seeded CP per reverse group; the policy service takes the groups over at commit."""
    if not env.plan.spec.servers:  # UC8: stateless members only, nothing replicates back
        return {
            "groups": {},
            "specs": {},
            "members": {},
            "cps": {},
            "bytes_sent": 0,
            "bytes_changed": 0,
        }
    started = env.step.started_at or datetime.now(UTC)
    plans = reverse_specs(env)
    for group, (reverse, spec) in plans.items():
        request = f"{env.execution.id}.reverse-sync.{group}"[:128]
        await env.emit(
            ReplicateNow(
                group_id=reverse,
                request_id=request,
                requested_by="orchestrator:reprotect",
                trigger="replicate-now",
                spec=spec,
            ),
            request,
        )
    cps: dict[str, str] = {}
    sent = changed = 0
    for _group, (reverse, _spec) in plans.items():
        cp = await env.wait_cp(reverse, env.execution.target_site, started, env.sync_timeout)
        cps[reverse] = cp.id
        sent += sum(m.bytes_sent for m in cp.members)
        changed += sum(m.bytes_changed for m in cp.members)
    return {
        "groups": {g: r for g, (r, _s) in plans.items()},
        "specs": {r: s.model_dump(mode="json") for r, s in plans.values()},
        "members": {r: s.servers for r, s in plans.values()},
        "cps": cps,
        "bytes_sent": sent,
        "bytes_changed": changed,
    }


async def keep_divergent(env: StepEnv) -> dict[str, Any]:
    """Snapshot the losing side's volumes before anything overwrites or abandons them (UC6):
    divergent data is kept, never silently discarded."""
    sid = env.step.params["server"]
    sides = _losing_sides(env)
    kept: list[str] = []
    by_site: dict[str, dict[str, str]] = {}
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
            by_site.setdefault(site, {})[vol] = snap.id
    # Where each side's data went: site -> {volume: snapshot}.
    return {"server": sid, "snapshots": kept, "by_site": by_site}


def _losing_sides(env: StepEnv) -> list[tuple[str, Placement | None]]:
    """The copies whose data a reconcile (or reprotect) must keep as snapshots: the losing side,
    both sides under keep-both (the primary as captured when it never moved)."""
    sid = env.step.params["server"]
    state = env.plan.state
    if env.execution.kind == "reprotect":
        return [(env.execution.target_site, state.previous.get(sid))]
    policy = resolution(env)
    primary = (env.execution.source_site, _placement(env, sid))
    dr = (env.execution.target_site, state.dr_copy.get(sid))
    if policy == "keep-primary":
        return [dr]
    if policy == "keep-dr":
        return [primary]
    return [primary, dr]


def resolution(env: StepEnv) -> str:
    return str(env.execution.params.get("resolution") or env.plan.spec.split_brain.reconcile)


async def stop_losing(env: StepEnv) -> dict[str, Any]:
    """Reconcile: stop the copy that will not go on (keep-primary: the DR copy; keep-dr: the
    primary; keep-both: the DR copy unless the plan keeps it running) before its snapshots."""
    sid = env.step.params["server"]
    policy = resolution(env)
    state = env.plan.state
    placed: Placement | None
    if policy == "keep-dr":
        site, placed = env.execution.source_site, _placement(env, sid)
    elif policy == "keep-both" and env.plan.spec.split_brain.keep_both_dr_copy == "keep-running":
        return {"server": sid, "stopped": None}
    else:
        site, placed = env.execution.target_site, state.dr_copy.get(sid)
    if placed is None:
        return {"server": sid, "stopped": None}
    project = await env.project(site)
    server = await project.compute.stop_server(placed.server_id)
    return {"server": sid, "site": site, "stopped": placed.server_id, "status": server.status}


async def release_old(env: StepEnv) -> dict[str, Any]:
    """Delete the old copy's server at the site becoming the DR site; its volumes stay (they
    are the seeds of the replication towards it, and carry the divergent-data snapshots).
    Reprotect releases the copy left behind at failover (``previous``); failback releases the
    DR copy it stopped (``copy: placement``), whose volumes seed the forward groups again."""
    sid = env.step.params["server"]
    if env.step.params.get("copy") == "placement":
        old = env.plan.state.placement.get(sid)
        site = env.execution.source_site
    else:
        old = env.plan.state.previous.get(sid)
        site = env.execution.target_site
    if old is None:
        return {"server": sid, "deleted": None}
    project = await env.project(site)
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

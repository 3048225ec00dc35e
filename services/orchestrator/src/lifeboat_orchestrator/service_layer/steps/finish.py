"""The last steps: re-point DNS, record where the application now runs (commit), and resolve a
split brain."""

from __future__ import annotations

from typing import Any

from lifeboat_orchestrator.domain.plan import Placement, PlanState
from lifeboat_orchestrator.service_layer.steps.context import StepEnv, StepFailed


def recovered(env: StepEnv) -> dict[str, Placement]:
    out: dict[str, Placement] = {}
    for step in env.execution.steps:
        if step.action != "recover":
            continue
        result = env.result_of(step.id)
        out[step.params["server"]] = Placement(
            site=env.execution.target_site,
            server_id=result["server_id"],
            volumes=dict(result["volumes"]),
        )
    return out


async def dns(env: StepEnv) -> dict[str, Any]:
    """Point each record at its server's recovered address (floating IP first)."""
    if not env.plan.spec.dns:
        return {"records": 0}
    dns_site = env.plan.spec.dns_site or env.execution.target_site
    project = await env.project(dns_site)
    done = []
    for record in env.plan.spec.dns:
        result = env.result_of(f"recover:{record.server}")
        address = result.get("floating_ip") or next(iter(result.get("addresses", [])), None)
        if address is None:
            raise StepFailed(
                f"dns: server {record.server} has no address to point {record.name} at"
            )
        zone = await project.dns.find_zone(record.zone)
        if zone is None:
            raise StepFailed(f"dns: zone {record.zone} not found at {dns_site}")
        await project.dns.upsert_recordset(
            zone.id, record.name, type="A", records=[address], ttl=record.ttl
        )
        done.append({"name": record.name, "address": address})
    return {"records": len(done), "set": done}


def _state_after(env: StepEnv) -> PlanState:
    state = env.plan.state
    kind = env.execution.kind
    if kind in ("failover", "planned-migration", "failback"):
        if env.execution.params.get("degraded"):
            # Split brain, both online (UC6): the primary keeps running; the DR copy too.
            return state.model_copy(update={"status": "split-brain", "dr_copy": recovered(env)})
        placement = state.placement or {
            sid: Placement(
                site=env.execution.source_site,
                server_id=sid,
                volumes={v.volume_id: v.volume_id for v in c.volumes},
            )
            for sid, c in env.plan.capture.servers.items()
        }
        return PlanState(
            status="failed-over",
            active_site=env.execution.target_site,
            protected_to=None,
            placement=recovered(env),
            previous=placement,
        )
    if kind == "reprotect":
        sync = env.result_of("reverse-sync")
        return state.model_copy(
            update={
                "status": "reprotected",
                "protected_to": env.execution.target_site,
                "reverse_group": sync["group"],
                "reverse_spec": sync["spec"],
            }
        )
    if kind == "reconcile":
        resolve = env.result_of("resolve")
        return PlanState.model_validate(resolve["state"])
    raise StepFailed(f"nothing to commit for {kind}")


async def commit(env: StepEnv) -> dict[str, Any]:
    """Computes the plan's new state; the runner saves it with the step, in one transaction."""
    return {"plan_state": _state_after(env).model_dump(mode="json")}


async def resolve(env: StepEnv) -> dict[str, Any]:
    """UC6 reconcile, after the losing side's volumes were snapshotted (keep-divergent)."""
    state = env.plan.state
    policy = env.execution.params.get("resolution") or env.plan.spec.split_brain.reconcile
    removed: list[str] = []
    if policy == "keep-primary":
        project = await env.project(env.execution.target_site)
        for placed in state.dr_copy.values():
            await project.compute.delete_server(placed.server_id)
            removed.append(placed.server_id)
        new = state.model_copy(update={"status": "protected", "dr_copy": {}})
    elif policy == "keep-dr":
        project = await env.project(env.execution.source_site)
        for placed in state.placement.values():
            await project.compute.stop_server(placed.server_id)
        new = PlanState(
            status="failed-over",
            active_site=env.execution.target_site,
            placement=dict(state.dr_copy),
            previous=dict(state.placement),
        )
    else:  # keep-both: the DR copy lives on outside the plan
        new = state.model_copy(update={"status": "protected", "dr_copy": {}})
    return {"policy": policy, "removed": removed, "state": new.model_dump(mode="json")}

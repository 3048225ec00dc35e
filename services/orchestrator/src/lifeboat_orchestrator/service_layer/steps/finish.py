"""The last steps: re-point DNS, record where the application now runs (commit), and resolve a
split brain."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lifeboat_orchestrator.domain import lifecycle
from lifeboat_orchestrator.domain.execution import Execution, StepState
from lifeboat_orchestrator.domain.plan import Placement, PlanState
from lifeboat_orchestrator.service_layer.steps.context import StepEnv, StepFailed
from lifeboat_shared.contracts.messages import ProtectionChange, SplitBrainDetected


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
    if kind == "failback":
        # Home again and protected again: forward, from the servers failback made.
        return PlanState(
            status="protected",
            active_site=env.execution.target_site,
            protected_to=env.execution.source_site,
            placement=recovered(env),
        )
    if kind in ("failover", "planned-migration"):
        if env.execution.params.get("degraded"):
            # Split brain, both online (UC6): the primary keeps running; the DR copy too.
            return state.model_copy(update={"status": "split-brain", "dr_copy": recovered(env)})
        return PlanState(
            status="failed-over",
            active_site=env.execution.target_site,
            protected_to=None,
            placement=recovered(env),
            previous=_placement_now(env),
        )
    if kind == "reprotect":
        sync = env.result_of("reverse-sync")
        return state.model_copy(
            update={
                "status": "reprotected",
                "protected_to": env.execution.target_site,
                "reverse_groups": dict(sync["groups"]),
                "reverse_specs": dict(sync["specs"]),
            }
        )
    if kind == "reconcile":
        resolve = env.result_of("resolve")
        return PlanState.model_validate(resolve["state"])
    raise StepFailed(f"nothing to commit for {kind}")


def _placement_now(env: StepEnv) -> dict[str, Placement]:
    """Where each server runs before this execution (a plan never moved: as captured)."""
    return env.plan.state.placement or {
        sid: Placement(
            site=env.execution.source_site,
            server_id=sid,
            volumes={v.volume_id: v.volume_id for v in c.volumes},
        )
        for sid, c in env.plan.capture.servers.items()
    }


def _protection(env: StepEnv, new: PlanState) -> list[ProtectionChange]:
    state = env.plan.state
    kind = env.execution.kind
    groups = list(env.plan.spec.groups)
    if kind in ("failover", "planned-migration"):
        if state.status == "reprotected":  # the reverse direction's copy stopped
            return lifecycle.suspend(list(state.reverse_groups.values()), "failover")
        reason = "split-brain" if env.execution.params.get("degraded") else "failover"
        return lifecycle.suspend(groups, reason)
    if kind == "reprotect":
        sync = env.result_of("reverse-sync")
        members = {
            g: list(sync["members"][r]) for g, r in sync["groups"].items() if r in sync["members"]
        }
        return lifecycle.reverse(
            members, running_at=env.execution.source_site, back_to=env.execution.target_site
        )
    if kind == "failback":
        return lifecycle.failed_back(
            groups,
            list(state.reverse_groups.values()),
            before=state.previous,
            after=new.placement,
            dr_copy=state.placement,
        )
    if kind == "reconcile" and new.status == "protected":
        return lifecycle.resumed(groups, "reconcile")
    return []


async def commit(env: StepEnv) -> dict[str, Any]:
    """Computes the plan's new state and what it does to the protection; the runner saves the
    state with the step and sends the changes in ``ExecutionCompleted``, in one transaction."""
    new = _state_after(env)
    return {
        "plan_state": new.model_dump(mode="json"),
        "protection": [c.model_dump(mode="json") for c in _protection(env, new)],
    }


def protection_of(execution: Execution) -> list[ProtectionChange]:
    """The changes the commit step computed (none when the execution did not commit)."""
    for step in execution.steps:
        if step.action == "commit" and step.state is StepState.SUCCEEDED:
            return [ProtectionChange.model_validate(c) for c in step.result.get("protection", [])]
    return []


async def resolve(env: StepEnv) -> dict[str, Any]:
    """UC6 reconcile, after the losing copy stopped and its volumes (both copies' under
    keep-both) were snapshotted: says where each side's data went and what runs on."""
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
        new = PlanState(
            status="failed-over",
            active_site=env.execution.target_site,
            placement=dict(state.dr_copy),
            previous=_placement_now(env),
        )
    else:  # keep-both: the DR copy lives on outside the plan (stopped unless the plan says)
        new = state.model_copy(
            update={"status": "protected", "dr_copy": {}, "detached": dict(state.dr_copy)}
        )
    kept: dict[str, dict[str, str]] = {}
    for step in env.execution.steps:
        if step.action == "keep-divergent":
            for site, snaps in env.result_of(step.id).get("by_site", {}).items():
                kept.setdefault(site, {}).update(snaps)
    await env.emit(
        SplitBrainDetected(
            plan_id=env.plan.id,
            project_id=env.plan.spec.project_id,
            primary_site=env.execution.source_site,
            dr_site=env.execution.target_site,
            resolution=policy,
            kept_snapshots=sorted(s for snaps in kept.values() for s in snaps.values()),
            at=datetime.now(UTC),
        ),
        f"{env.execution.id[:100]}.split-brain",
    )
    return {
        "policy": policy,
        "removed": removed,
        "kept": kept,
        "detached": {sid: p.server_id for sid, p in new.detached.items()},
        "state": new.model_dump(mode="json"),
    }

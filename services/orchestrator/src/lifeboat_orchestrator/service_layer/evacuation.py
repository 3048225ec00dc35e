"""Evacuation (UC9): many plans leave one site, for one or several target sites, in waves that an
operator approves, with a limit on how many plans fail over at once, and a live summary.

An evacuation is a small state machine in one row: its waves, each plan's target and execution.
The runner advances it on every pass; executions are started with ids derived from the
evacuation and the plan, so a pass repeated after a crash starts nothing twice.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from lifeboat_orchestrator.adapters.catalog import CatalogRepository
from lifeboat_orchestrator.adapters.executions import ExecutionRepository
from lifeboat_orchestrator.adapters.orm import evacuations as t
from lifeboat_orchestrator.adapters.plans import PlanRepository
from lifeboat_orchestrator.domain.targets import qualifying, why_none
from lifeboat_orchestrator.service_layer.executions import (
    ExecutionRejected,
    cp_need_of,
    direction,
    start_execution,
)
from lifeboat_orchestrator.service_layer.targets import coverage
from lifeboat_shared.persistence.types import aware


class EvacuationSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_site: str = Field(min_length=1, max_length=128)
    plans: list[Annotated[str, Field(min_length=1, max_length=255)]] | None = Field(
        default=None,
        max_length=1000,
        description="Plan ids or names (default: every plan running there)",
    )
    target_sites: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(
        default=None,
        max_length=16,
        description="Spread plans over these (each plan to one of its own recovery sites, the "
        "least loaded by VMs); default: over each plan's own recovery sites. Only sites holding "
        "a verified consistency point of every group of the plan are chosen; a plan with none "
        "is listed in not_evacuable with the reason",
    )
    wave_size: int = Field(default=10, ge=1, le=10000, description="Plans per wave")
    max_parallel: int = Field(default=10, ge=1, le=10000, description="Plans failing over at once")
    kind: Literal["failover", "planned-migration"] = "failover"
    approval: Literal["each-wave", "none"] = "each-wave"
    project_id: str | None = Field(
        default=None,
        max_length=128,
        description="Only this project's plans: a tenant's evacuation is always its token's "
        "project's (another one is refused, 403); an admin's covers every project unless it "
        "names one",
    )


class EvacuationInvalid(ValueError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


async def create_evacuation(session: AsyncSession, spec: EvacuationSpec) -> dict[str, Any]:
    plans_repo = PlanRepository(session)
    every = await plans_repo.all(spec.project_id)
    if spec.plans:
        chosen = [p for p in every if p.id in spec.plans or p.spec.name in spec.plans]
        unknown = set(spec.plans) - {p.id for p in chosen} - {p.spec.name for p in chosen}
        if unknown:
            raise EvacuationInvalid(f"unknown plans: {', '.join(sorted(unknown))}", "plans")
    else:
        chosen = [p for p in every if p.state.active_site == spec.source_site]
    if not chosen:
        raise EvacuationInvalid(f"no plan runs at {spec.source_site}", "source_site")
    load: dict[str, int] = {s: 0 for s in spec.target_sites or []}
    entries: list[dict[str, Any]] = []
    stranded: list[dict[str, Any]] = []
    catalog = CatalogRepository(session)
    for plan in sorted(chosen, key=lambda p: -len(p.capture.servers)):
        at, targets, groups = direction(plan)
        if at != spec.source_site:
            raise EvacuationInvalid(f"plan {plan.spec.name} runs at {at}", "plans")
        allowed = [s for s in targets if not spec.target_sites or s in spec.target_sites]
        if not allowed:
            raise EvacuationInvalid(
                f"plan {plan.spec.name} cannot go to any of {spec.target_sites or targets}",
                "target_sites",
            )
        # Only where every group has a verified CP (UC3a x UC9): elsewhere the plan would be
        # rejected when its wave starts.
        need = await cp_need_of(catalog, plan, groups)
        cover = await coverage(catalog, groups, allowed, needing=need.needed)
        planned = spec.kind == "planned-migration"
        able = qualifying(cover, planned=planned)
        if not able:
            stranded.append(
                {
                    "plan_id": plan.id,
                    "name": plan.spec.name,
                    "vms": len(plan.capture.servers),
                    "reason": why_none(cover, planned=planned),
                }
            )
            continue
        target = min(able, key=lambda s: (load.get(s, 0), able.index(s)))
        load[target] = load.get(target, 0) + len(plan.capture.servers)
        entries.append(
            {
                "plan_id": plan.id,
                "name": plan.spec.name,
                "vms": len(plan.capture.servers),
                "target_site": target,
                "execution_id": None,
                "state": "pending",
                "error": None,
            }
        )
    if not entries:
        raise EvacuationInvalid(
            "no plan can be evacuated: "
            + "; ".join(f"{p['name']}: {p['reason']}" for p in stranded),
            "consistency_points",
        )
    waves = [
        {
            "index": i // spec.wave_size,
            "state": "awaiting-approval" if spec.approval == "each-wave" else "approved",
            "plans": entries[i : i + spec.wave_size],
        }
        for i in range(0, len(entries), spec.wave_size)
    ]
    now = datetime.now(UTC)
    evacuation = {
        "id": str(uuid.uuid4()),
        "spec": spec.model_dump(mode="json"),
        "state": "running",
        "waves": waves,
        "not_evacuable": stranded,
        "created_at": now,
        "updated_at": now,
    }
    await session.execute(sa.insert(t).values(**evacuation))
    return evacuation


def _row(r: sa.Row[Any]) -> dict[str, Any]:
    m = dict(r._mapping)
    m["created_at"] = aware(m["created_at"])
    m["updated_at"] = aware(m["updated_at"])
    m["not_evacuable"] = m.get("not_evacuable") or []
    return m


async def get_evacuation(
    session: AsyncSession, evacuation_id: str, *, for_update: bool = False
) -> dict[str, Any] | None:
    """``for_update`` locks the row: the runner's pass and an operator's approval both rewrite
    the waves, and neither may overwrite the other's change with a stale copy."""
    q = sa.select(t).where(t.c.id == evacuation_id)
    if for_update:
        q = q.with_for_update()
    row = (await session.execute(q)).first()
    return _row(row) if row else None


async def list_evacuations(session: AsyncSession) -> list[dict[str, Any]]:
    rows = await session.execute(sa.select(t).order_by(t.c.created_at.desc()).limit(100))
    return [_row(r) for r in rows]


async def approve_next(session: AsyncSession, evacuation_id: str) -> dict[str, Any] | None:
    evac = await get_evacuation(session, evacuation_id, for_update=True)
    if evac is None:
        return None
    for wave in evac["waves"]:
        if wave["state"] == "awaiting-approval":
            wave["state"] = "approved"
            break
        if wave["state"] != "done":
            raise EvacuationInvalid(f"wave {wave['index']} is still {wave['state']}", "wave")
    else:
        raise EvacuationInvalid("no wave is waiting for approval", "wave")
    await _save(session, evac)
    return evac


async def _save(session: AsyncSession, evac: dict[str, Any]) -> None:
    evac["updated_at"] = datetime.now(UTC)
    await session.execute(
        sa.update(t)
        .where(t.c.id == evac["id"])
        .values(state=evac["state"], waves=evac["waves"], updated_at=evac["updated_at"])
    )


async def advance(session: AsyncSession, evac: dict[str, Any], requested_by: str) -> bool:
    """One step of the state machine; returns True if an execution was started."""
    spec = EvacuationSpec.model_validate(evac["spec"])
    executions = ExecutionRepository(session)
    started = False
    before = json.dumps([evac["state"], evac["waves"]], sort_keys=True)
    for wave in evac["waves"]:
        if wave["state"] == "done":
            continue
        if wave["state"] == "awaiting-approval":
            break
        wave["state"] = "running"
        watching = [e["execution_id"] for e in wave["plans"] if e["state"] == "running"]
        states = await executions.states(watching)
        for entry in wave["plans"]:
            if entry["execution_id"] in states:
                state, error = states[entry["execution_id"]]
                if state != "running":
                    entry["state"], entry["error"] = state, error
        running = sum(1 for w in evac["waves"] for e in w["plans"] if e["state"] == "running")
        for entry in wave["plans"]:
            if running >= spec.max_parallel:
                break
            if entry["state"] != "pending":
                continue
            try:
                execution, _ = await start_execution(
                    session,
                    execution_id=f"{evac['id'][:36]}.{entry['plan_id'][:80]}",
                    plan_id=entry["plan_id"],
                    kind=spec.kind,
                    requested_by=requested_by,
                    target_site=entry["target_site"],
                )
            except ExecutionRejected as exc:
                entry["state"], entry["error"] = "rejected", str(exc)
                continue
            entry["execution_id"], entry["state"] = execution.id, "running"
            running += 1
            started = True
        if all(e["state"] not in ("pending", "running") for e in wave["plans"]):
            wave["state"] = "done"
            continue
        break
    if all(w["state"] == "done" for w in evac["waves"]):
        ended = [e["state"] for w in evac["waves"] for e in w["plans"]]
        evac["state"] = outcome(ended, len(evac.get("not_evacuable") or []))
    if json.dumps([evac["state"], evac["waves"]], sort_keys=True) != before:
        await _save(session, evac)
    return started


def outcome(states: list[str], left_behind: int) -> str:
    """The end state once every wave is done: failed if a plan that was sent did not succeed;
    incomplete if all did but some plans stayed behind (no site held their CPs)."""
    if any(state != "succeeded" for state in states):
        return "failed"
    return "incomplete" if left_behind else "succeeded"


def summary(evac: dict[str, Any]) -> dict[str, Any]:
    entries = [e for w in evac["waves"] for e in w["plans"]]
    counts: dict[str, int] = {}
    for e in entries:
        counts[e["state"]] = counts.get(e["state"], 0) + 1
    by_target: dict[str, int] = {}
    for e in entries:
        by_target[e["target_site"]] = by_target.get(e["target_site"], 0) + e["vms"]
    stranded = evac.get("not_evacuable") or []
    return {
        "plans": len(entries),
        "not_evacuable": [{"name": p["name"], "reason": p["reason"]} for p in stranded],
        "vms_left_behind": sum(p["vms"] for p in stranded),
        "vms": sum(e["vms"] for e in entries),
        "vms_recovered": sum(e["vms"] for e in entries if e["state"] == "succeeded"),
        "by_state": counts,
        "vms_by_target": by_target,
        "waves": [
            {"index": w["index"], "state": w["state"], "plans": len(w["plans"])}
            for w in evac["waves"]
        ],
        "elapsed_seconds": (evac["updated_at"] - evac["created_at"]).total_seconds(),
    }

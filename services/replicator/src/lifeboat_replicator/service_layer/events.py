"""The events a cycle emits, with deterministic ids (a re-run commit can never emit twice)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from lifeboat_replicator.domain.model import ConsistencyPoint, ReplicationCycle
from lifeboat_replicator.service_layer.quiesce import QuiesceAlert
from lifeboat_shared.contracts.envelope import Envelope
from lifeboat_shared.contracts.messages import (
    ConsistencyPointCreated,
    ConsistencyPointFailed,
    ConsistencyPointPruned,
    CpMember,
    QuiesceFailed,
    QuiesceFailure,
    ReplicationSpec,
    SiteLinkObserved,
    UsageRecorded,
)
from lifeboat_shared.contracts.messages.billing import METRIC_UNITS
from lifeboat_shared.service.runtime import ServiceRuntime

GIB = 1024**3


def cp_created(
    runtime: ServiceRuntime,
    cycle: ReplicationCycle,
    cp: ConsistencyPoint,
    spec: ReplicationSpec,
    *,
    previous: ConsistencyPoint | None,
    retained: Sequence[ConsistencyPoint] = (),
) -> list[Envelope]:
    """``retained``: the group's unpruned CPs when this one commits (for ``stored_gb_hours``)."""
    members = [
        CpMember(
            source_volume_id=m.volume_id,
            server_id=m.server_id,
            device=m.device,
            size_gib=m.size_gib,
            source_snapshot_id=m.source_snapshot_id or "",
            replica_volume_id=m.replica_volume_id,
            replica_snapshot_id=m.replica_snapshot_id,
            bytes_changed=m.bytes_changed,
            bytes_sent=m.bytes_sent,
            seeded=m.seeded_from is not None,
            backup_id=m.backup_id,
            source_backup_id=m.source_backup_id,
            backup_incremental=m.backup_incremental,
        )
        for m in cp.members
    ]
    out = [
        runtime.envelope(
            ConsistencyPointCreated(
                group_id=cp.group_id,
                consistency_point_id=cp.id,
                project_id=cp.project_id,
                member_groups=list(cp.member_groups),
                source_site=cp.source_site,
                target_site=cp.target_site,
                consistency=cp.consistency.value,
                taken_at=cp.taken_at,
                created_at=cp.created_at,
                members=members,
                bytes_sent=cp.bytes_sent,
                consistency_reason=cp.consistency_reason,
                quiesce_failures=[
                    QuiesceFailure(server_id=f.server_id, reason=f.reason)
                    for f in cp.quiesce_failures
                ],
            ),
            event_id=f"cp-created-{cycle.id}",
        )
    ]
    out += _usage(runtime, cp, spec, previous, retained)
    return out


GB = 10**9


def stored_bytes(cp: ConsistencyPoint, retained: Sequence[ConsistencyPoint]) -> int:
    """Bytes the DR site keeps for a group (see the README, "Emits"): the replica volumes'
    provisioned size (this CP's members) plus the changed bytes of each retained (unpruned) CP
    snapshot before this one, a snapshot holding about the blocks its CP changed."""
    provisioned = sum(m.size_gib for m in cp.members) * GIB
    return provisioned + sum(p.bytes_changed for p in retained if p.id != cp.id)


def _usage(
    runtime: ServiceRuntime,
    cp: ConsistencyPoint,
    spec: ReplicationSpec,
    previous: ConsistencyPoint | None,
    retained: Sequence[ConsistencyPoint],
) -> list[Envelope]:
    """Usage per project: bytes sent by this CP; GB stored at the DR site since the previous CP
    (protected VMs are the policy service's usage, per window)."""
    rows = [("replicated_bytes", Decimal(cp.bytes_sent), cp.taken_at)]
    if previous is not None:
        start = previous.created_at
        hours = Decimal(max(0.0, (cp.created_at - start).total_seconds())) / Decimal(3600)
        gb = Decimal(stored_bytes(cp, retained)) / Decimal(GB)
        rows.append(("stored_gb_hours", gb * hours, start))
    return [
        runtime.envelope(
            UsageRecorded(
                usage_id=f"{metric}-{cp.id}",
                project_id=cp.project_id,
                group_id=cp.group_id,
                site_id=spec.target.site_id,
                metric=metric,
                quantity=quantity.quantize(Decimal("0.000001")),
                period_start=period_start,
                period_end=cp.created_at,
                unit=METRIC_UNITS[metric],
                resource_id=cp.group_id,
            ),
            event_id=f"usage-{metric}-{cp.id}",
        )
        for metric, quantity, period_start in rows
    ]


def cp_failed(runtime: ServiceRuntime, cycle: ReplicationCycle, stage: str) -> Envelope:
    return runtime.envelope(
        ConsistencyPointFailed(
            group_id=cycle.group_id,
            project_id=cycle.project_id,
            stage=stage,
            reason=(cycle.error or "unknown")[:2000],
            failed_at=cycle.finished_at or datetime.now(UTC),
        ),
        event_id=f"cp-failed-{cycle.id}",
    )


def quiesce_failed(
    runtime: ServiceRuntime, cycle: ReplicationCycle, alert: QuiesceAlert
) -> Envelope:
    spec = ReplicationSpec.model_validate(cycle.spec)
    return runtime.envelope(
        QuiesceFailed(
            group_id=cycle.group_id,
            project_id=cycle.project_id,
            cycle_id=cycle.id,
            failed_servers=list(alert.failed_servers),
            rule=spec.quiesce.on_failure,
            outcome=alert.outcome,
            reason=alert.reason[:2000] or "quiesce failed",
            at=datetime.now(UTC),
            failures=[
                QuiesceFailure(server_id=f.server_id, reason=f.reason) for f in alert.failures
            ],
        ),
        event_id=f"quiesce-failed-{cycle.id}",
    )


def cp_pruned(runtime: ServiceRuntime, cp: ConsistencyPoint) -> Envelope:
    return runtime.envelope(
        ConsistencyPointPruned(
            group_id=cp.group_id,
            consistency_point_id=cp.id,
            project_id=cp.project_id,
            at=datetime.now(UTC),
        ),
        event_id=f"cp-pruned-{cp.id}",
    )


def link_observed(
    runtime: ServiceRuntime,
    cycle: ReplicationCycle,
    *,
    reachable: bool,
    observer: str,
    detail: str,
) -> Envelope:
    """UC6: whether this cycle attempt reached the target site's receiver (one per attempt that
    tried the link), for the orchestrator's view of partitions."""
    spec = ReplicationSpec.model_validate(cycle.spec)
    return runtime.envelope(
        SiteLinkObserved(
            source_site=spec.source.site_id,
            target_site=spec.target.site_id,
            reachable=reachable,
            observer=observer,
            detail=detail[:300],
            at=datetime.now(UTC),
        )
    )

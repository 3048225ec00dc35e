"""The usage step: protected VM-hours and GB-hours per group and closed window, via the outbox.

One pass (under ``MeterRepository.lock``, so two replicas never meter the same time twice)
advances every group's meter to ``now`` (``domain.usage``) and stages a ``UsageRecorded`` per
metric for each window that closed with protected time in it. The usage id is
``<metric>-<group>-<window start, epoch seconds>``: a pass re-run after a crash, a restart or a
second replica names the same window the same way, and billing keeps each id once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from lifeboat_policy.adapters.repository import GroupRepository
from lifeboat_policy.adapters.usage import MeterRepository
from lifeboat_policy.domain.model import ProtectionGroup
from lifeboat_policy.domain.usage import ClosedWindow, Meter, Protected, advance, window_start
from lifeboat_shared.contracts.envelope import Envelope
from lifeboat_shared.contracts.messages import ConsistencyPointCreated, UsageRecorded
from lifeboat_shared.contracts.messages.billing import METRIC_UNITS
from lifeboat_shared.persistence.outbox import add_to_outbox
from lifeboat_shared.service.runtime import ServiceRuntime

GIB = 1024**3
RETIRED = Protected(active=False, servers=0, volume_bytes=0)


def protected_now(group: ProtectionGroup, volume_bytes: int) -> Protected:
    return Protected(
        active=not group.suspended,
        servers=len(group.members.servers),
        volume_bytes=volume_bytes,
    )


async def emit_usage(
    runtime: ServiceRuntime, window_seconds: int, now: datetime | None = None
) -> list[ClosedWindow]:
    now = now or datetime.now(UTC)
    closed: list[ClosedWindow] = []
    async with runtime.db.transaction() as session:
        meters = MeterRepository(session)
        await meters.lock()
        known = await meters.all()
        sizes = await meters.volume_bytes()
        groups = {g.id: g for g in await GroupRepository(session).query()}
        for group in groups.values():
            state = protected_now(group, sizes.get(group.id, 0))
            meter = known.get(group.id)
            if meter is None:
                start = window_start(now, window_seconds)
                since = group.created_at if group.created_at >= start else now
                meter = Meter(group.id, group.project_id, group.source_site, start, since, state)
                closed += advance(meter, now, window_seconds, state)
                await meters.add(meter)
            else:
                closed += advance(meter, now, window_seconds, state)
                await meters.save(meter)
        gone = []
        for group_id, meter in known.items():
            if group_id in groups:
                continue
            closed += advance(meter, now, window_seconds, RETIRED)
            if meter.active_seconds:
                await meters.save(meter)  # its last window closes later
            else:
                gone.append(group_id)
        await meters.delete(gone)
        await add_to_outbox(session, [e for w in closed for e in _events(runtime, w)])
    return closed


def _events(runtime: ServiceRuntime, window: ClosedWindow) -> list[Envelope]:
    stamp = int(window.start.timestamp())
    out = []
    for metric, quantity in (
        ("protected_vm_hours", window.vm_hours),
        ("protected_gb_hours", window.gb_hours),
    ):
        usage_id = f"{metric}-{window.group_id}-{stamp}"
        event = UsageRecorded(
            usage_id=usage_id,
            project_id=window.project_id,
            group_id=window.group_id,
            site_id=window.site_id,
            metric=metric,
            quantity=quantity,
            period_start=window.start,
            period_end=window.end,
            unit=METRIC_UNITS[metric],
            resource_id=window.group_id,
        )
        out.append(runtime.envelope(event, event_id=f"usage-{usage_id}"))
    return out


async def record_volume_bytes(
    meters: MeterRepository, message: ConsistencyPointCreated, groups: list[ProtectionGroup]
) -> None:
    """The size of each group's protected volumes, from its newest CP's members (a set's CP
    covers several groups: each counts the volumes of its own servers and volumes)."""
    for group in groups:
        servers, volumes = set(group.members.servers), set(group.members.volumes)
        size = sum(
            m.size_gib * GIB
            for m in message.members
            if m.source_volume_id in volumes or (m.server_id and m.server_id in servers)
        )
        await meters.set_volume_bytes(group.id, size)

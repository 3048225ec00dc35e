"""The usage step: DR VM-hours and vCPU-hours of servers running at a DR site, via the outbox.

A server runs at a DR site from the commit of a failover or planned migration (the plan's
placement names it at a site other than the plan's ``source_site``; a split brain's DR copy too)
until the commit of the failback that releases it (the placement is home again). Bubble tests
are the verifier's usage, and stateless members (made from templates, outside the placement) are
not metered. One pass, under ``DrMeterRepository.lock``, advances every meter to ``now``
(``domain.usage``) and stages a usage per metric for each window that closed with running time:
usage id ``<metric>-<plan>-<server>-<window start, epoch seconds>``, the same whichever replica
or restart stages it. vCPUs: the recovered server's flavor (the captured flavor through the
plan's ``flavor_mappings``), looked up once at the DR site over openstacksdk.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from lifeboat_orchestrator.adapters.catalog import CatalogRepository
from lifeboat_orchestrator.adapters.plans import Plan, PlanRepository
from lifeboat_orchestrator.adapters.usage import DrMeterRepository
from lifeboat_orchestrator.domain.usage import DrMeter, DrWindow, advance, window_start
from lifeboat_orchestrator.service_layer.wiring import clouds_for
from lifeboat_shared.cloud import CloudError
from lifeboat_shared.contracts.envelope import Envelope
from lifeboat_shared.contracts.messages import UsageRecorded
from lifeboat_shared.contracts.messages.billing import METRIC_UNITS
from lifeboat_shared.persistence.outbox import add_to_outbox
from lifeboat_shared.service.runtime import ServiceRuntime

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DrServer:
    plan: Plan
    server_id: str
    site_id: str
    flavor: str


def dr_servers(plan: Plan) -> dict[tuple[str, str], DrServer]:
    """The plan's servers running at a site other than its home (``source_site``)."""
    home = plan.spec.source_site
    out: dict[tuple[str, str], DrServer] = {}
    for placements in (plan.state.placement, plan.state.dr_copy):
        for original, placed in placements.items():
            if placed.site == home:
                continue
            captured = plan.capture.servers.get(original)
            flavor = captured.flavor if captured else ""
            flavor = plan.spec.flavor_mappings.get(flavor, flavor)
            out[(plan.id, placed.server_id)] = DrServer(plan, placed.server_id, placed.site, flavor)
    return out


async def emit_dr_usage(
    runtime: ServiceRuntime, window_seconds: int, now: datetime | None = None
) -> list[DrWindow]:
    now = now or datetime.now(UTC)
    async with runtime.db.read() as session:
        plans = await PlanRepository(session).all()
        known = await DrMeterRepository(session).all()
        sites = await CatalogRepository(session).sites()
    running = {k: v for p in plans for k, v in dr_servers(p).items()}
    vcpus: dict[tuple[str, str], int] = {}
    for key, server in running.items():
        if key in known or (server.site_id, server.flavor) in vcpus:
            continue
        site = sites.get(server.site_id)
        try:
            if site is None:
                raise CloudError(f"site {server.site_id} is not in the site registry")
            project = await clouds_for(runtime).project(site.ref)
            flavor = await project.compute.find_flavor(server.flavor)
        except (CloudError, OSError) as exc:  # metered from the pass that finds it
            log.warning("DR usage of %s: flavor %s: %s", server.server_id, server.flavor, exc)
            continue
        vcpus[(server.site_id, server.flavor)] = flavor.vcpus
    closed: list[DrWindow] = []
    async with runtime.db.transaction() as session:
        meters = DrMeterRepository(session)
        await meters.lock()
        known = await meters.all()
        # Under the lock, what runs at a DR site now: the read above may predate a failback
        # another replica already metered to its end (flavors looked up outside stay valid).
        plans = await PlanRepository(session).all()
        running = {k: v for p in plans for k, v in dr_servers(p).items()}
        for key, server in running.items():
            meter = known.get(key)
            if meter is None:
                cpus = vcpus.get((server.site_id, server.flavor))
                if cpus is None:
                    continue
                start = window_start(now, window_seconds)
                since = server.plan.updated_at if server.plan.updated_at >= start else now
                meter = DrMeter(
                    server.plan.id,
                    server.server_id,
                    server.plan.spec.project_id,
                    server.site_id,
                    cpus,
                    start,
                    min(since, now),
                    running=True,
                )
                closed += advance(meter, now, window_seconds, True)
                await meters.add(meter)
            else:
                closed += advance(meter, now, window_seconds, True)
                await meters.save(meter)
        for key, meter in known.items():
            if key in running:
                continue
            closed += advance(meter, now, window_seconds, False)
            if meter.seconds:
                await meters.save(meter)  # its last window closes later
            else:
                await meters.delete(meter)
        await add_to_outbox(session, [e for w in closed for e in _events(runtime, w)])
    return closed


def _events(runtime: ServiceRuntime, window: DrWindow) -> list[Envelope]:
    m = window.meter
    stamp = int(window.start.timestamp())
    out = []
    quantities = (("dr_vm_hours", window.vm_hours), ("dr_vcpu_hours", window.vcpu_hours))
    for metric, quantity in quantities:
        usage_id = f"{metric}-{m.plan_id}-{m.server_id}-{stamp}"
        event = UsageRecorded(
            usage_id=usage_id,
            project_id=m.project_id,
            site_id=m.site_id,
            metric=metric,
            quantity=quantity,
            period_start=window.start,
            period_end=window.end,
            unit=METRIC_UNITS[metric],
            resource_id=m.server_id,
            plan_id=m.plan_id,
        )
        out.append(runtime.envelope(event, event_id=f"usage-{usage_id}"))
    return out

"""REST API of the billing service: the usage ledger per project."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from lifeboat_billing.adapters.repository import LedgerRepository
from lifeboat_billing.domain.model import UsageEntry, totals_by_metric
from lifeboat_shared.service import CurrentPrincipal, RuntimeDep
from lifeboat_shared.service.tenancy import FORBIDDEN_PROJECT, listed_project

router = APIRouter(tags=["usage"])


class UsageOut(BaseModel):
    usage_id: str
    project_id: str
    site_id: str
    group_id: str | None
    metric: str
    quantity: Decimal
    period_start: datetime
    period_end: datetime
    unit: str | None = None
    resource_id: str | None = None
    plan_id: str | None = None
    event_id: str | None = None
    billed_period: str | None = None
    adjustment: bool = False


def usage_out(e: UsageEntry) -> UsageOut:
    return UsageOut(
        usage_id=e.usage_id,
        project_id=e.project_id,
        site_id=e.site_id,
        group_id=e.group_id,
        metric=e.metric,
        quantity=e.quantity,
        period_start=e.period_start,
        period_end=e.period_end,
        unit=e.unit,
        resource_id=e.resource_id,
        plan_id=e.plan_id,
        event_id=e.event_id,
        billed_period=e.billed_period,
        adjustment=e.adjustment,
    )


class UsageReport(BaseModel):
    project_id: str | None
    totals: dict[str, Decimal]
    entries: list[UsageOut]


@router.get(
    "/usage",
    summary="The caller's project's usage ledger and totals per metric (an admin: every "
    "project's, or project_id's)",
    responses=FORBIDDEN_PROJECT,
)
async def usage(
    runtime: RuntimeDep,
    who: CurrentPrincipal,
    project_id: Annotated[
        str | None,
        Query(
            max_length=64,
            description="Admins: only this project (default: all). Others get their token's "
            "project; naming another one is refused (403)",
        ),
    ] = None,
) -> UsageReport:
    project = listed_project(who, project_id)
    async with runtime.db.read() as session:
        entries = await LedgerRepository(session).entries(project)
    return UsageReport(
        project_id=project,
        totals=totals_by_metric(entries),
        entries=[usage_out(e) for e in entries],
    )

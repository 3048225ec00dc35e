"""REST API: invoices per project and month (drafts while open, frozen once closed), reports over
any range, the usage behind a line, CSV export. A tenant sees only its own project (404 else)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from pydantic import AwareDatetime, BaseModel

from lifeboat_billing.domain.invoice import Invoice
from lifeboat_billing.domain.periods import EARLIEST, LATEST, PERIOD_PATTERN
from lifeboat_billing.entrypoints.api import UsageOut, usage_out
from lifeboat_billing.service_layer import invoicing
from lifeboat_billing.settings import BillingSettings
from lifeboat_shared.persistence.outbox import add_to_outbox
from lifeboat_shared.service import CurrentPrincipal, RuntimeDep
from lifeboat_shared.service.auth import Principal
from lifeboat_shared.service.tenancy import FORBIDDEN_PROJECT, can_see, listed_project

router = APIRouter(tags=["invoices"])

ProjectPath = Annotated[
    str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$", description="Project")
]
PeriodPath = Annotated[str, Path(pattern=PERIOD_PATTERN, description="UTC month, YYYY-MM")]
Format = Annotated[
    Literal["json", "csv"], Query(description="json (default) or csv (one row per line)")
]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such project (for the caller), period or line"}
}
CSV_BODY: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"}
}


class LineOut(BaseModel):
    line_id: str
    kind: str
    metric: str
    unit: str
    group_id: str | None
    plan_id: str | None
    adjusts_period: str | None
    quantity: Decimal
    amount: Decimal
    usage_count: int
    card_versions: list[int]


class InvoiceOut(BaseModel):
    id: str
    project_id: str
    period: str
    start: datetime
    end: datetime
    status: str
    currency: str
    total: Decimal
    closed_at: datetime | None
    lines: list[LineOut]


def invoice_out(inv: Invoice) -> InvoiceOut:
    return InvoiceOut(
        id=inv.id,
        project_id=inv.project_id,
        period=inv.period,
        start=inv.start,
        end=inv.end,
        status=inv.status,
        currency=inv.currency,
        total=inv.total,
        closed_at=inv.closed_at,
        lines=[
            LineOut(
                line_id=x.line_id,
                kind=x.kind,
                metric=x.metric,
                unit=x.unit,
                group_id=x.group_id,
                plan_id=x.plan_id,
                adjusts_period=x.adjusts_period,
                quantity=x.quantity,
                amount=x.amount,
                usage_count=x.usage_count,
                card_versions=list(x.card_versions),
            )
            for x in inv.lines
        ],
    )


CSV_COLUMNS = [
    "invoice_id",
    "project_id",
    "period",
    "status",
    "currency",
    "line_id",
    "kind",
    "metric",
    "unit",
    "group_id",
    "plan_id",
    "adjusts_period",
    "quantity",
    "amount",
    "usage_count",
    "card_versions",
]


def invoice_csv(inv: Invoice) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    head = [inv.id, inv.project_id, inv.period, inv.status, inv.currency]
    for x in inv.lines:
        writer.writerow(
            [
                *head,
                x.line_id,
                x.kind,
                x.metric,
                x.unit,
                x.group_id or "",
                x.plan_id or "",
                x.adjusts_period or "",
                x.quantity,
                x.amount,
                x.usage_count,
                " ".join(str(v) for v in x.card_versions),
            ]
        )
    writer.writerow([*head, "total", "", "", "", "", "", "", "", inv.total, "", ""])
    return out.getvalue()


def _answer(inv: Invoice, fmt: str) -> InvoiceOut | Response:
    if fmt == "csv":
        return Response(
            invoice_csv(inv),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="invoice-{inv.id}.csv"'},
        )
    return invoice_out(inv)


def _visible(who: Principal, project_id: str) -> None:
    if not can_see(who, project_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"project_id: {project_id} not found")


def _currency(settings: object) -> str:
    assert isinstance(settings, BillingSettings)
    return settings.currency


@router.get(
    "/invoices",
    summary="Invoices of the caller's project (an admin: every project's, or project_id's): "
    "closed months frozen, open months as drafts",
    responses=FORBIDDEN_PROJECT,
)
async def list_invoices(
    runtime: RuntimeDep,
    who: CurrentPrincipal,
    project_id: Annotated[
        str | None, Query(max_length=64, description="Admins: only this project")
    ] = None,
) -> list[InvoiceOut]:
    project = listed_project(who, project_id)
    async with runtime.db.read() as session:
        found = await invoicing.invoices(session, project, _currency(runtime.settings))
    return [invoice_out(i) for i in found]


@router.get(
    "/invoices/{project_id}/{period}",
    summary="A project's invoice of a month (draft while open); format=csv exports it",
    response_model=InvoiceOut,
    responses={**NOT_FOUND, **CSV_BODY},
)
async def show_invoice(
    project_id: ProjectPath,
    period: PeriodPath,
    runtime: RuntimeDep,
    who: CurrentPrincipal,
    format: Format = "json",
) -> InvoiceOut | Response:
    _visible(who, project_id)
    async with runtime.db.read() as session:
        found = await invoicing.invoice(session, project_id, period, _currency(runtime.settings))
    return _answer(found, format)


@router.post(
    "/invoices/{project_id}/{period}/close",
    summary="Close a month: freeze its invoice and emit InvoiceIssued (later usage of it is "
    "billed in the next open month as an adjustment)",
    responses={
        **NOT_FOUND,
        409: {"description": "period: closed already, or not ended yet"},
    },
)
async def close_invoice(
    project_id: ProjectPath, period: PeriodPath, runtime: RuntimeDep, who: CurrentPrincipal
) -> InvoiceOut:
    _visible(who, project_id)
    try:
        async with runtime.db.transaction() as session:
            frozen, event = await invoicing.close(
                session, project_id, period, _currency(runtime.settings)
            )
            await add_to_outbox(session, [runtime.envelope(event)])
    except (invoicing.PeriodClosed, invoicing.NothingToClose) as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
    return invoice_out(frozen)


@router.get(
    "/invoices/{project_id}/{period}/lines/{line_id}/usage",
    summary="The usage events behind one invoice line (each with the id of its event)",
    responses=NOT_FOUND,
)
async def line_usage(
    project_id: ProjectPath,
    period: PeriodPath,
    line_id: Annotated[str, Path(min_length=1, max_length=400)],
    runtime: RuntimeDep,
    who: CurrentPrincipal,
) -> list[UsageOut]:
    _visible(who, project_id)
    async with runtime.db.read() as session:
        found = await invoicing.invoice(session, project_id, period, _currency(runtime.settings))
        entries = await invoicing.line_usage(session, found, line_id)
    if entries is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"line_id: no line {line_id}")
    return [usage_out(e) for e in entries]


@router.get(
    "/invoice-reports/{project_id}",
    summary="A project's rated usage starting in [start, end), in lines per metric and group "
    "(any range; not an invoice); format=csv exports it",
    response_model=InvoiceOut,
    responses={**NOT_FOUND, **CSV_BODY, 422: {"description": "end: not after start"}},
)
async def invoice_report(
    project_id: ProjectPath,
    start: Annotated[AwareDatetime, Query(description="Range start (inclusive)")],
    end: Annotated[AwareDatetime, Query(description="Range end (exclusive)")],
    runtime: RuntimeDep,
    who: CurrentPrincipal,
    format: Format = "json",
) -> InvoiceOut | Response:
    _visible(who, project_id)
    if not (EARLIEST <= start < LATEST and EARLIEST < end <= LATEST):
        raise HTTPException(
            422,
            detail=[
                {
                    "loc": ["query", "start" if not EARLIEST <= start < LATEST else "end"],
                    "msg": "start and end must be between 1970-01-01 and 2999-12-01 (UTC)",
                    "type": "value_error",
                }
            ],
        )
    if end <= start or (end - start).days > 3700:
        raise HTTPException(
            422,
            detail=[
                {
                    "loc": ["query", "end"],
                    "msg": "end must be after start, at most ~10 years later",
                    "type": "value_error",
                }
            ],
        )
    async with runtime.db.read() as session:
        found = await invoicing.report(session, project_id, start, end, _currency(runtime.settings))
    return _answer(found, format)

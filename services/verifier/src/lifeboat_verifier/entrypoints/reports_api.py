"""REST API of the verifier: signed test reports and the key that signs them."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, HTTPException, Path, Query, Response
from pydantic import BaseModel, Field

from lifeboat_shared.service import CurrentPrincipal, RuntimeDep
from lifeboat_shared.service.tenancy import FORBIDDEN_PROJECT, can_see, listed_project
from lifeboat_verifier.adapters.reports_repository import TestReportRepository
from lifeboat_verifier.adapters.signing import SigningKeyError
from lifeboat_verifier.domain.evidence import SignedReport, render_html
from lifeboat_verifier.service_layer.wiring import signing_key_for

router = APIRouter(tags=["test-reports"])


class TestReportSummary(BaseModel):
    __test__ = False

    report_id: str
    run_id: str = Field(description="The bubble test run the report is the evidence of")
    plan_id: str
    project_id: str
    passed: bool = Field(description="The run's verdict")
    started_by: str
    finished_at: datetime
    issued_at: datetime
    key_fingerprint: str = Field(description="sha256:<hex> of the public key that signed it")


class SigningKeyOut(BaseModel):
    alg: Literal["Ed25519"] = "Ed25519"
    public_key_pem: str = Field(description="SubjectPublicKeyInfo PEM")
    key_fingerprint: str = Field(description="sha256:<hex> of the raw 32-byte public key")


NO_KEY: dict[int | str, dict[str, Any]] = {
    503: {"description": "The signing key cannot be loaded (signing_key_file)"}
}


@router.get(
    "/test-reports",
    summary="Signed reports of the caller's project's bubble test runs (an admin: all, or "
    "project_id's), newest first",
    responses=FORBIDDEN_PROJECT,
)
async def list_reports(
    runtime: RuntimeDep,
    who: CurrentPrincipal,
    plan_id: Annotated[str | None, Query(max_length=128)] = None,
    project_id: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many")] = 100,
) -> list[TestReportSummary]:
    project = listed_project(who, project_id)
    async with runtime.db.read() as session:
        rows = await TestReportRepository(session).list(plan_id, project_id=project, limit=limit)
    return [
        TestReportSummary(
            report_id=r.report_id,
            run_id=r.run_id,
            plan_id=r.plan_id,
            project_id=r.project_id,
            passed=r.passed,
            started_by=r.started_by,
            finished_at=r.finished_at,
            issued_at=r.issued_at,
            key_fingerprint=r.key_fingerprint,
        )
        for r in rows
    ]


_DOCUMENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The signed document (JSON: {report, signature}), or its HTML page",
        "model": SignedReport,
        "content": {"text/html": {"schema": {"type": "string"}}},
    },
}


@router.get(
    "/test-reports/{report_id}",
    summary="A signed test report (by report id or run id): the JSON document, or with "
    "format=html (or Accept: text/html) the page a person reads",
    response_class=Response,
    responses=_DOCUMENT_RESPONSES,
)
async def get_report(
    runtime: RuntimeDep,
    who: CurrentPrincipal,
    report_id: Annotated[
        str, Path(max_length=128, description="A report id, or the id of the run it reports")
    ],
    output: Annotated[
        Literal["json", "html"] | None,
        Query(
            alias="format",
            description="json (default) or html; without it, Accept: text/html gives html",
        ),
    ] = None,
    accept: Annotated[str | None, Header(max_length=1024, include_in_schema=False)] = None,
) -> Response:
    async with runtime.db.read() as session:
        stored = await TestReportRepository(session).get(report_id)
    if stored is None or not can_see(who, stored.project_id):
        raise HTTPException(404, detail=f"report_id: no test report {report_id!r}")
    as_html = output == "html" or (
        output is None and accept is not None and "text/html" in accept.lower()
    )
    if not as_html:
        # the stored bytes, exactly as signed and stored (canonical JSON)
        return Response(stored.document, media_type="application/json")
    signed = SignedReport.model_validate(json.loads(stored.document))
    return Response(
        render_html(signed.report, signed.signature), media_type="text/html; charset=utf-8"
    )


@router.get(
    "/signing-key",
    summary="The deployment's report signing key: public key PEM and fingerprint (verify "
    "reports offline with it)",
    responses=NO_KEY,
)
async def get_signing_key(runtime: RuntimeDep, who: CurrentPrincipal) -> SigningKeyOut:
    del who  # any authenticated reader
    try:
        key = signing_key_for(runtime)
    except SigningKeyError as exc:
        raise HTTPException(503, detail=str(exc)) from None
    return SigningKeyOut(public_key_pem=key.public_pem, key_fingerprint=key.fingerprint)

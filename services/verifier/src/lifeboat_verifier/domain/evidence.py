"""Evidence of a bubble test run and the report that carries it. Pure Python (pydantic, jinja2).

A run's evidence (``RunEvidence``: its plan, CP, timings, RTO/RPO, every check with its timing
and output excerpt, the resources it created and removed, who started it) becomes a ``Report``
once the verifier issues it: the evidence plus a report id, when and by which deployment it was
issued, and the format version. The signed payload is the report's canonical JSON
(``canonical_json``: sorted keys, no whitespace, UTF-8), so any change to any field, however
small, changes the bytes the signature covers. ``render_html`` is the page a person reads.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from functools import cache
from typing import Annotated, Any, Final, Literal

import jinja2
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

REPORT_FORMAT: Final = "lifeboat.test-report/v1"
SIGNATURE_ALG: Final = "Ed25519"
OUTPUT_EXCERPT_MAX = 2000
_TRUNCATED = "\n[... truncated]"


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]
"""A timezone-aware datetime (a naive one is refused), kept in UTC."""


def _excerpt(value: Any) -> Any:
    """A check's output, cut to OUTPUT_EXCERPT_MAX characters (marked) instead of refused."""
    if isinstance(value, str) and len(value) > OUTPUT_EXCERPT_MAX:
        return value[: OUTPUT_EXCERPT_MAX - len(_TRUNCATED)] + _TRUNCATED
    return value


Id = Annotated[str, Field(min_length=1, max_length=128)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CheckEvidence(_Strict):
    """One check of a run: what it checked, its verdict, how long it took and what it saw."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    kind: Annotated[str, Field(min_length=1, max_length=32, description="boot, tcp, http, ...")]
    target: Annotated[str, Field(max_length=500, description="server, address, URL, volume")]
    passed: bool
    attempts: Annotated[int, Field(ge=0, le=10_000)]
    started_at: UtcDatetime
    finished_at: UtcDatetime
    duration_seconds: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    output_excerpt: Annotated[
        str,
        BeforeValidator(_excerpt),
        Field(max_length=OUTPUT_EXCERPT_MAX, description="cut to 2000 characters"),
    ] = ""
    reason: Annotated[str | None, Field(max_length=2000)] = None


class RunEvidence(_Strict):
    """What a bubble test run proved, as the report records it."""

    run_id: Id
    definition_id: Id | None = None
    plan_id: Id
    project_id: Id
    site_ids: list[Id]
    started_by: Annotated[str, Field(min_length=1, max_length=256)]
    cp_id: Id | None = None
    cp_taken_at: UtcDatetime | None = None
    started_at: UtcDatetime
    ready_at: UtcDatetime | None = None
    finished_at: UtcDatetime
    passed: bool
    rto_seconds: Annotated[float | None, Field(ge=0, allow_inf_nan=False)] = None
    rpo_seconds: Annotated[float | None, Field(ge=0, allow_inf_nan=False)] = None
    checks: list[CheckEvidence]
    resources_created: list[Annotated[str, Field(max_length=500)]] = Field(default_factory=list)
    resources_removed: list[Annotated[str, Field(max_length=500)]] = Field(default_factory=list)
    cleanup_ok: bool


class Report(_Strict):
    """A run's evidence as issued by a deployment: what is signed."""

    format: Literal["lifeboat.test-report/v1"] = REPORT_FORMAT
    report_id: Id
    issued_at: UtcDatetime
    issuer: Annotated[str, Field(min_length=1, max_length=128, description="deployment name")]
    evidence: RunEvidence

    def payload(self) -> bytes:
        """The signed bytes: this report's canonical JSON."""
        return canonical_json(self.model_dump(mode="json"))


class ReportSignature(_Strict):
    alg: Literal["Ed25519"] = SIGNATURE_ALG
    key_fingerprint: Annotated[str, Field(max_length=80, description="sha256:<hex> of the key")]
    value: Annotated[str, Field(max_length=200, description="base64 of the 64-byte signature")]


class SignedReport(_Strict):
    """The document a report is stored, served and verified as."""

    report: Report
    signature: ReportSignature


def canonical_json(value: Any) -> bytes:
    """One byte string per JSON value: keys sorted, no whitespace, UTF-8, no NaN/Infinity."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


@cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("lifeboat_verifier.domain", "templates"),
        autoescape=True,  # every value of a report is escaped (check output is untrusted)
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["seconds"] = _seconds
    env.filters["when"] = _when
    return env


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value:.0f} s ({value / 60:.1f} min)"


def _when(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def render_html(report: Report, signature: ReportSignature | None = None) -> str:
    """The report as a page a person reads: verdict, plan, CP, RTO/RPO, the checks with their
    timing and output, the resources created and removed, who started it, the signature."""
    return _templates().get_template("report.html.j2").render(r=report, sig=signature)

"""Request and response bodies of the test-definition API (bounded, with 422s naming fields)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lifeboat_shared.hooks import HOOK_NAME
from lifeboat_verifier.domain.schedule import valid_cron

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.\- ]*$"
Name = Field(min_length=1, max_length=128, pattern=NAME)
GUEST_COMMANDS = ("hostname", "uptime", "check-consistency")


def _check_cron(v: str | None) -> str | None:
    if v is not None and not valid_cron(v):
        raise ValueError("not a cron expression (5 fields, e.g. '0 3 * * 0')")
    return v


class CheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Name
    kind: Literal["boot", "tcp", "http", "command", "data", "hook"]
    tier: str | None = Field(default=None, max_length=128, description="Only this tier's servers")
    member: str | None = Field(
        default=None, max_length=128, description="Only the copy of this source server"
    )
    timeout_seconds: float = Field(default=60, gt=0, le=3600, description="Per attempt")
    retries: int = Field(default=2, ge=0, le=20, description="Attempts after the first")
    retry_delay_seconds: float = Field(default=2, ge=0, le=600)
    marker: str | None = Field(
        default=None, max_length=256, description="boot: text the console log must show"
    )
    port: int | None = Field(default=None, ge=1, le=65535, description="tcp: the port")
    path: str = Field(default="/health", max_length=1024, pattern=r"^/", description="http")
    status: int = Field(default=200, ge=100, le=599, description="http: the expected status")
    body_regex: str | None = Field(default=None, max_length=1024, description="http: body pattern")
    command: str | None = Field(
        default=None, max_length=64, description=f"command: one of {', '.join(GUEST_COMMANDS)}"
    )
    output_regex: str | None = Field(default=None, max_length=1024)
    hook: str | None = Field(
        default=None, max_length=64, description="hook: an installed hook's name (never a command)"
    )

    @field_validator("body_regex", "output_regex")
    @classmethod
    def _regex(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return v

    @model_validator(mode="after")
    def _kind_fields(self) -> CheckIn:
        if self.kind == "tcp" and self.port is None:
            raise ValueError("port: a tcp check needs a port")
        if self.kind == "command" and self.command not in GUEST_COMMANDS:
            raise ValueError(f"command: a command check needs one of {', '.join(GUEST_COMMANDS)}")
        if self.kind == "hook" and (self.hook is None or not re.match(HOOK_NAME, self.hook)):
            raise ValueError("hook: a hook check needs an installed hook's name")
        if self.tier and self.member:
            raise ValueError("tier: give a tier or a member, not both")
        return self


class DefinitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Name
    plan_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")
    schedule: str | None = Field(
        default=None, max_length=128, description="cron (e.g. '0 3 * * 0' weekly); null: on demand"
    )
    consistency_point_id: str | None = Field(
        default=None, max_length=64, description="null: the newest"
    )
    target_site: str | None = Field(default=None, max_length=128, description="null: the plan's")
    checks: list[CheckIn] = Field(default_factory=list, max_length=100)
    enabled: bool = True
    project_id: str | None = Field(default=None, max_length=128, description="admins only")

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        return _check_cron(v)

    @field_validator("checks")
    @classmethod
    def _unique(cls, v: list[CheckIn]) -> list[CheckIn]:
        names = [c.name for c in v]
        if len(set(names)) != len(names):
            raise ValueError("check names must be unique within a definition")
        return v


class DefinitionPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=128, pattern=NAME)
    schedule: str | None = Field(default=None, max_length=128)
    on_demand: bool | None = Field(default=None, description="true: drop the schedule")
    consistency_point_id: str | None = Field(default=None, max_length=64)
    target_site: str | None = Field(default=None, max_length=128)
    checks: list[CheckIn] | None = Field(default=None, max_length=100)
    enabled: bool | None = None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        return _check_cron(v)


class DefinitionOut(BaseModel):
    definition_id: str
    project_id: str
    plan_id: str
    name: str
    schedule: str | None
    consistency_point_id: str | None
    target_site: str | None
    checks: list[dict[str, Any]]
    enabled: bool
    next_due_at: datetime | None
    created_by: str
    created_at: datetime


class RunOut(BaseModel):
    test_id: str = Field(description="The run id (the orchestrator's test-failover execution)")
    plan_id: str
    definition_id: str | None
    project_id: str | None
    site_id: str | None
    network_id: str | None
    server_ids: list[str]
    phase: str = Field(description="requested | ready | cleaning | done")
    status: str = Field(description="awaiting-checks | passed | failed")
    started_by: str
    started_at: datetime | None
    ready_at: datetime | None
    finished_at: datetime | None
    rto_seconds: float | None
    rpo_seconds: float | None
    failover_error: str | None
    cleanup: str
    cleanup_attempts: int
    checks: list[dict[str, Any]]
    evidence: dict[str, Any] | None = Field(description="RunEvidence-shaped dict, when done")

"""Test definitions: what a tenant wants proven about a recovery plan, and when. Pure Python.

A definition names a plan, a schedule (a cron expression, or none: on demand only), which
consistency point to recover (the newest, or a chosen one) and its checks. Each check targets
the whole plan, one tier or one member (a source server id) and has its own timeout and
retries (boot-time flakiness: a service that answers after 20 s is not a failure).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class CheckKind(StrEnum):
    BOOT = "boot"  # ACTIVE, and the console log shows `marker` (if given)
    TCP = "tcp"  # `port` accepts a connection
    HTTP = "http"  # GET `path` answers `status` and its body matches `body_regex`
    COMMAND = "command"  # `command` in the guest succeeds (and its output matches)
    DATA = "data"  # volumes hold the CP's bytes; the application data is consistent
    HOOK = "hook"  # a named hook of the deployment runs and succeeds


@dataclass(frozen=True)
class CheckSpec:
    name: str
    kind: CheckKind
    tier: str | None = None  # None (and no member): every server of the bubble
    member: str | None = None  # a source server id
    timeout_seconds: float = 60.0
    retries: int = 2
    retry_delay_seconds: float = 2.0
    marker: str | None = None
    port: int | None = None
    path: str = "/health"
    status: int = 200
    body_regex: str | None = None
    command: str | None = None
    output_regex: str | None = None
    hook: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: v for k, v in self.__dict__.items() if v is not None}
        out["kind"] = self.kind.value
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CheckSpec:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["kind"] = CheckKind(known["kind"])
        return cls(**known)


@dataclass
class TestDefinition:
    __test__ = False

    definition_id: str
    project_id: str
    plan_id: str
    name: str
    created_by: str
    created_at: datetime
    schedule: str | None = None  # cron; None: on demand only
    consistency_point_id: str | None = None  # None: the newest
    target_site: str | None = None  # None: the plan's recovery site
    checks: list[CheckSpec] = field(default_factory=list)
    enabled: bool = True
    next_due_at: datetime | None = None  # None: not scheduled

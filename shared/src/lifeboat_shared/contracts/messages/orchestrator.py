"""Messages to and from the orchestrator: recovery executions and bubble tests.

An execution is one run of a recovery plan: an unplanned failover, a planned migration, a test
failover in a bubble (and its teardown), a reprotect or a failback. Operators start them through
the orchestrator's API; other services (the verifier, automation) through ``StartExecution``.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lifeboat_shared.contracts import topics
from lifeboat_shared.contracts.base import Command, Event, register
from lifeboat_shared.contracts.messages._fields import Id, Timestamp

ExecutionKind = Literal[
    "failover",
    "planned-migration",
    "test-failover",
    "test-cleanup",
    "reprotect",
    "failback",
    "reconcile",
]
ExecutionOutcome = Literal["succeeded", "failed", "cancelled"]


@register
class StartExecution(Command):
    """Run a recovery plan (the verifier's seam: ``test-failover`` starts a bubble test)."""

    topic = topics.ORCHESTRATOR_COMMANDS

    execution_id: Id = Field(description="Idempotency key: a second command with it is a no-op")
    plan_id: Id
    execution_kind: ExecutionKind
    target_site: Id | None = Field(
        default=None, description="Default: the plan's recovery site (UC3a: one of its targets)"
    )
    consistency_point_id: Id | None = Field(default=None, description="Default: the newest")
    test_id: Id | None = Field(default=None, description="test-cleanup: the test to tear down")
    requested_by: str = Field(min_length=1, max_length=255)
    project_id: Id | None = Field(
        default=None, description="Owning project (tenant isolation); None from older producers"
    )

    def partition_key(self) -> str:
        return self.plan_id


@register
class ExecutionStepProgressed(Event):
    topic = topics.ORCHESTRATOR_EVENTS

    execution_id: Id
    plan_id: Id
    execution_kind: ExecutionKind
    step: str = Field(min_length=1, max_length=255)
    status: Literal["started", "succeeded", "failed", "skipped"]
    done: int = Field(ge=0)
    total: int = Field(ge=0)
    at: Timestamp
    project_id: Id | None = Field(
        default=None, description="Owning project (tenant isolation); None from older producers"
    )

    def partition_key(self) -> str:
        return self.plan_id


ProtectionAction = Literal["suspend", "resume", "protect-reverse", "retire"]


class ProtectionChange(BaseModel):
    """What an execution did to a plan's protection, for the policy service to apply (the
    orchestrator owns the plan's lifecycle; the policy service owns groups and their ticks).

    - ``suspend``: the group's source copy is no longer the live data (failover, split brain).
    - ``resume``: replicate again; members replaced first (``replace_servers``/``_volumes``: the
      servers and volumes Lifeboat re-created, old id -> new id), then seeded from
      ``seed_volumes`` (source volume -> DR-side volume holding the same data).
    - ``protect-reverse``: a new group ``group_id`` replicating ``servers`` from ``source_site``
      to ``target_site`` under the policy and project of ``reverse_of``, on its own RPO schedule.
    - ``retire``: the group is no longer needed (a reverse group after failback): deleted.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    group_id: Id
    action: ProtectionAction
    reason: str = Field(min_length=1, max_length=32, description="failover, failback, ...")
    reverse_of: Id | None = None
    source_site: Id | None = None
    target_site: Id | None = None
    servers: list[Id] = Field(default_factory=list, max_length=10000)
    replace_servers: dict[Id, Id] = Field(default_factory=dict)
    replace_volumes: dict[Id, Id] = Field(default_factory=dict)
    seed_volumes: dict[Id, Id] = Field(default_factory=dict)


@register
class ExecutionCompleted(Event):
    topic = topics.ORCHESTRATOR_EVENTS

    execution_id: Id
    plan_id: Id
    execution_kind: ExecutionKind
    source_site: Id
    target_site: Id
    outcome: ExecutionOutcome
    groups: list[Id] = Field(
        default_factory=list, description="Protection groups of the plan (policy suspends them)"
    )
    recovery_point: Timestamp | None = Field(description="taken_at of the CP recovered from")
    rpo_seconds: float | None = Field(
        default=None,
        description=(
            "Data lost: from the recovery point to when the source stopped (unplanned "
            "failover: its last healthy probe, else its declaration down; planned migration "
            "and failback: the servers' stop, 0 when the final sync's CP came after it)"
        ),
    )
    decision_seconds: float | None = Field(
        default=None,
        description=(
            "Unplanned failover: from the source stopping to the failover's start (the time "
            "taken to decide; it loses no data)"
        ),
    )
    source_stopped_at: Timestamp | None = Field(
        default=None, description="When the source stopped: the end of the data-loss window"
    )
    rto_seconds: float | None = Field(
        default=None, description="From the execution's start (or the site's failure) to done"
    )
    error: str | None = Field(default=None, max_length=2000)
    completed_at: Timestamp
    protection: list[ProtectionChange] = Field(
        default_factory=list,
        description=(
            "How the plan's protection changed (succeeded executions); empty from an older "
            "orchestrator: the policy service then suspends ``groups`` after a failover"
        ),
    )
    project_id: Id | None = Field(
        default=None, description="Owning project (tenant isolation); None from older producers"
    )

    def partition_key(self) -> str:
        return self.plan_id


class BubbleEndpoint(BaseModel):
    """A recovered server inside the bubble and how a checker reaches it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    server_id: Id
    name: str = Field(max_length=255)
    source_server_id: Id | None = None
    addresses: list[str] = Field(default_factory=list)
    site_id: Id | None = Field(
        default=None,
        description="Where this server runs (a linked test spans sites); None: the event's site",
    )


@register
class BubbleReady(Event):
    """A test copy of a plan booted in an isolated network; the verifier may run its checks."""

    topic = topics.ORCHESTRATOR_EVENTS

    test_id: Id
    plan_id: Id
    site_id: Id
    network_id: Id
    server_ids: list[Id] = Field(min_length=1)
    endpoints: list[BubbleEndpoint] = Field(default_factory=list)
    entry_point: str | None = Field(
        default=None, description="The one way in: the entry router/port id of the bubble"
    )
    linked_sites: list[Id] = Field(
        default_factory=list,
        description="Other DR sites whose bubbles this one is linked to by IPsec (UC3b)",
    )
    ready_at: Timestamp
    expires_at: Timestamp | None = None
    project_id: Id | None = Field(
        default=None, description="Owning project (tenant isolation); None from older producers"
    )

    def partition_key(self) -> str:
        return self.site_id


@register
class BubbleRemoved(Event):
    topic = topics.ORCHESTRATOR_EVENTS

    test_id: Id
    plan_id: Id
    site_id: Id
    reason: Literal["requested", "expired"]
    resources_deleted: int = Field(ge=0)
    at: Timestamp
    project_id: Id | None = Field(
        default=None, description="Owning project (tenant isolation); None from older producers"
    )

    def partition_key(self) -> str:
        return self.site_id


@register
class SplitBrainDetected(Event):
    """Both copies of a plan ran at once (UC6): the losing side's data was kept as snapshots."""

    topic = topics.ORCHESTRATOR_EVENTS

    plan_id: Id
    primary_site: Id
    dr_site: Id
    resolution: Literal["keep-primary", "keep-dr", "keep-both"]
    kept_snapshots: list[Id] = Field(default_factory=list)
    at: Timestamp
    project_id: Id | None = Field(
        default=None, description="Owning project (tenant isolation); None from older producers"
    )

    def partition_key(self) -> str:
        return self.plan_id

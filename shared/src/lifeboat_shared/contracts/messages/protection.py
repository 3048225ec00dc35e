"""What the replicator needs to know to protect a group, carried inside the policy's ticks.

Event-carried state: the policy service owns protection groups, policies and sites; each tick (or
replicate-now request) carries a frozen copy of the group's replication spec, so the replicator
keeps no copy of policy data and a cycle always runs with the spec that was current when it was
asked for.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, IPvAnyAddress

from lifeboat_shared.contracts.messages._fields import Id

CloudName = str
"""A cloud name from clouds.yaml (the site's credentials never travel in events)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SiteRef(_Frozen):
    """Where a site is: its clouds.yaml entry and the receiver of its data link."""

    site_id: Id
    cloud: CloudName = Field(min_length=1, max_length=255)
    data_endpoint: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.\-\[\]:]+:[0-9]{1,5}$",
        description="host:port of the site's data receiver (the DR end of a replication link)",
    )


class HookAction(_Frozen):
    """A pre-freeze or post-thaw step (UC5b): a webhook, or a command hook the operator
    installed on the replicator host (``LIFEBOAT_REPLICATOR_HOOKS``), referenced by name."""

    kind: Literal["webhook", "command"]
    url: HttpUrl | None = None
    name: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$",
        description="kind command: the name of a hook installed on the replicator host",
    )
    command: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Deprecated, never run: the API refuses it and the replicator fails a hook "
        "that still carries one (install a named hook instead)",
    )
    timeout_seconds: float = Field(
        default=30, gt=0, le=3600, description="Webhooks; a command hook has its installed timeout"
    )


class QuiesceHook(_Frozen):
    pre_freeze: HookAction
    post_thaw: HookAction


class QuiesceSpec(_Frozen):
    method: Literal["none", "guest-agent", "hook"] = "none"
    on_failure: Literal["crash-consistent", "retry", "skip"] = "crash-consistent"
    retries: int = Field(default=0, ge=0, le=10)
    hook: QuiesceHook | None = None


class RetentionSpec(_Frozen):
    """Keep the newest ``keep_last`` CPs plus the newest CP of each of the last N hours, days
    and weeks; the base the next diff needs is always kept."""

    keep_last: int = Field(default=3, ge=1, le=1000)
    hourly: int = Field(default=0, ge=0, le=1000)
    daily: int = Field(default=0, ge=0, le=1000)
    weekly: int = Field(default=0, ge=0, le=1000)


class ReplicationSpec(_Frozen):
    """Everything one replication cycle of a group (or application set) needs."""

    project_id: Id
    source: SiteRef
    target: SiteRef
    servers: list[Id] = Field(default_factory=list, description="Replicated with all their volumes")
    volumes: list[Id] = Field(default_factory=list, description="Single volumes")
    member_groups: list[Id] = Field(
        default_factory=list,
        description="For an application set: the groups that share its consistency point",
    )
    quiesce: QuiesceSpec = QuiesceSpec()
    retention: RetentionSpec = RetentionSpec()
    seed_volumes: dict[Id, Id] = Field(
        default_factory=dict,
        description="Source volume -> an existing volume at the target to start from (UC5c "
        "seeding from a backup or shipped disk; reprotect's reverse direction): verified by "
        "hashes, only differences sent",
    )
    bandwidth_bytes_per_s: int | None = Field(default=None, gt=0)
    bind_address: IPvAnyAddress | None = None
    encryption_required: bool = True
    strategy: Literal["blocks", "backup"] = Field(
        default="blocks",
        description="How data reaches the DR site: 'blocks' streams changed blocks to replica "
        "volumes over the data link; 'backup' (UC7) backs each snapshot up with Cinder "
        "(incremental after the first), exports the backup record and imports it at the DR "
        "site, where a point in time is restored on demand (needs a backup store both sites "
        "share, and admin clouds '<cloud>-admin' for record export/import)",
    )


Trigger = Literal["rpo", "schedule", "replicate-now", "detach", "shutdown", "resume"]

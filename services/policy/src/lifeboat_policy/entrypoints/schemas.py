"""Request and response bodies of the REST API. Every field is validated here, so a bad value
is refused with a 422 whose ``loc`` names it before any use case runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from croniter import croniter
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyAddress,
    ValidationInfo,
    field_validator,
    model_validator,
)

from lifeboat_shared.contracts.messages import QuiesceSpec, RetentionSpec

Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:\-]+$")]
Name = Annotated[str, Field(min_length=1, max_length=255)]
MAX_RPO = 31 * 24 * 3600
Replication = Annotated[
    Literal["consistency-points", "none (stateless)"],
    Field(
        description="consistency-points: CPs on the policy's RPO schedule. none (stateless): the "
        "group has only stateless templates (UC8); nothing replicates, it is never ticked and "
        "never breaches its RPO; the orchestrator re-creates it from its templates at failover"
    ),
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# sites ------------------------------------------------------------------------------------------
class SiteUpdate(_In):
    cloud: str = Field(min_length=1, max_length=255, description="Cloud name in clouds.yaml")
    role: Literal["protected", "recovery", "both"]
    data_endpoint: str | None = Field(
        default=None,
        max_length=261,
        pattern=r"^[A-Za-z0-9_.\-\[\]:]+:[0-9]{1,5}$",
        description="host:port of the site's replication receiver",
    )
    region: str | None = Field(default=None, max_length=255)

    @field_validator("data_endpoint")
    @classmethod
    def _port(cls, value: str | None) -> str | None:
        if value is not None and not 0 < int(value.rsplit(":", 1)[1]) < 65536:
            raise ValueError("port must be 1..65535")
        return value


class SiteCreate(SiteUpdate):
    site_id: Id


class SiteOut(BaseModel):
    site_id: str
    cloud: str
    role: str
    data_endpoint: str | None
    region: str | None
    created_at: datetime
    updated_at: datetime


# policies ---------------------------------------------------------------------------------------
NO_COMMAND_LINES = (
    "the API takes no command line; the operator installs the hook on each replicator host "
    '(LIFEBOAT_REPLICATOR_HOOKS=\'{"<name>": {"argv": [...], "timeout_seconds": 30}}\') '
    'and the policy names it: {"kind": "command", "name": "<name>"}'
)


class ReplicateOn(_In):
    """UC4: take a CP when a protected VM shuts down or a volume is detached."""

    detach: bool = False
    shutdown: bool = False


class PolicyCreate(_In):
    name: Name
    rpo_seconds: int | None = Field(default=None, ge=1, le=MAX_RPO, description="RPO target")
    cron: str | None = Field(
        default=None,
        max_length=255,
        validate_default=True,
        description="Cron schedule in UTC instead of an RPO (e.g. '0 2 * * 0': weekly, UC5)",
    )
    retention: RetentionSpec = RetentionSpec()
    quiesce: QuiesceSpec = QuiesceSpec()
    bandwidth_bytes_per_s: int | None = Field(default=None, gt=0, description="UC2d cap")
    bind_address: IPvAnyAddress | None = Field(default=None, description="UC5a data link")
    encryption_required: bool = True
    replicate_on: ReplicateOn = ReplicateOn()
    strategy: Literal["blocks", "backup"] = Field(
        default="blocks",
        description="UC7: 'blocks' streams changed blocks to replica volumes over the data "
        "link; 'backup' takes each CP as a Cinder backup of the group's snapshot (incremental "
        "after the first), exports its record and imports it at the DR site, where "
        "`POST /v1/restores` (replicator) restores a point in time into new volumes",
    )

    @field_validator("cron")
    @classmethod
    def _one_cadence(cls, value: str | None, info: ValidationInfo) -> str | None:
        rpo = info.data.get("rpo_seconds")
        if value is not None and rpo is not None:
            raise ValueError("give either rpo_seconds or cron, not both")
        if value is None and rpo is None and "rpo_seconds" in info.data:
            raise ValueError("give rpo_seconds or cron")
        if value is not None:
            if not croniter.is_valid(value):
                raise ValueError(f"not a valid cron expression: {value!r}")
            it = croniter(value, datetime.now(UTC))
            if it.get_next(datetime) == it.get_next(datetime):
                raise ValueError("the schedule never fires")
        return value

    @field_validator("quiesce")
    @classmethod
    def _hook(cls, value: QuiesceSpec) -> QuiesceSpec:
        size = len(value.model_dump_json())
        if size > QUIESCE_BUDGET:
            raise ValueError(f"{size} bytes, over the {QUIESCE_BUDGET} a policy's quiesce may use")
        if value.method == "hook" and value.hook is None:
            raise ValueError("hook: required when method is 'hook'")
        if value.method != "hook" and value.hook is not None:
            raise ValueError("hook: only with method 'hook'")
        if value.on_failure == "retry" and value.retries < 1:
            raise ValueError("retries: at least 1 when on_failure is 'retry'")
        if value.hook is not None:
            for name in ("pre_freeze", "post_thaw"):
                action = getattr(value.hook, name)
                if action.command is not None:
                    raise ValueError(f"hook.{name}.command: {NO_COMMAND_LINES}")
                if action.kind == "webhook" and (action.url is None or action.name):
                    raise ValueError(f"hook.{name}: a webhook needs url (and no name)")
                if action.kind == "command" and (not action.name or action.url):
                    raise ValueError(
                        f"hook.{name}: a command hook needs name (a hook installed on the "
                        "replicator host) and no url"
                    )
        return value

    def webhook_urls(self) -> dict[str, str]:
        """Field path -> URL of each quiesce webhook, for the egress check at create time."""
        hook = self.quiesce.hook
        if hook is None:
            return {}
        return {
            f"quiesce.hook.{name}.url": str(action.url)
            for name, action in (("pre_freeze", hook.pre_freeze), ("post_thaw", hook.post_thaw))
            if action.kind == "webhook" and action.url is not None
        }

    def spec(self) -> dict[str, Any]:
        data = self.model_dump(
            mode="json",
            include={
                "retention",
                "quiesce",
                "bandwidth_bytes_per_s",
                "bind_address",
                "encryption_required",
                "replicate_on",
                "strategy",
            },
        )
        return data


class PolicyOut(BaseModel):
    id: str
    name: str
    rpo_seconds: int | None
    cron: str | None
    rpo_target_seconds: int
    retention: dict[str, Any]
    quiesce: dict[str, Any]
    bandwidth_bytes_per_s: int | None
    bind_address: str | None
    encryption_required: bool
    replicate_on: dict[str, bool]
    strategy: Literal["blocks", "backup"] = Field(
        default="blocks", description="How CPs reach the DR site: 'blocks' or 'backup' (UC7)"
    )
    created_at: datetime


# groups -----------------------------------------------------------------------------------------
class StatelessIn(_In):
    name: Name
    image: str = Field(min_length=1, max_length=255)
    flavor: str = Field(min_length=1, max_length=255)
    user_data: str | None = Field(default=None, max_length=65536)


class MembersIn(_In):
    servers: list[Id] = Field(default_factory=list, max_length=1000)
    volumes: list[Id] = Field(default_factory=list, max_length=1000)
    stateless: list[StatelessIn] = Field(default_factory=list, max_length=1000)

    @field_validator("servers", "volumes")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("lists an id twice")
        return value


SeedVolumes = Annotated[
    dict[Id, Id],
    Field(
        default_factory=dict,
        max_length=1000,
        description=(
            "Seeding (UC5c): source volume id -> a volume at the DR site holding an earlier "
            "copy of it (restored from a backup, a shipped disk); the first cycle of that "
            "volume verifies it by hashes and sends only the differing blocks; its CP member "
            "says `seeded: true`. A seed must be detached and at least the source's size."
        ),
    ),
]


MEMBERS_BUDGET = 64 * 1024
"""Characters of member and seed ids one group may hold: its RPO tick (which lists them) then
stays far under the bus's 256 KiB ``max_record_bytes``; an application set's ticks are bounded
by ``SET_MEMBERS_BUDGET``."""
QUIESCE_BUDGET = 16 * 1024


def members_size(members: MembersIn | None, seeds: dict[str, str]) -> int:
    ids = [*members.servers, *members.volumes] if members is not None else []
    return sum(len(i) + 3 for i in ids) + sum(len(k) + len(v) + 6 for k, v in seeds.items())


def _check_budget(members: MembersIn | None, seeds: dict[str, str]) -> None:
    size = members_size(members, seeds)
    if size > MEMBERS_BUDGET:
        raise ValueError(
            f"members and seed_volumes: {size} characters of ids, over the {MEMBERS_BUDGET} "
            "a group may hold (its RPO tick must fit an event): split it into groups"
        )


def _check_seeds(value: dict[str, str]) -> dict[str, str]:
    if len(set(value.values())) != len(value):
        raise ValueError("two source volumes name the same seed volume")
    return value


class GroupCreate(_In):
    name: Name = Field(description="Unique within the project")
    project_id: Id | None = Field(
        default=None,
        description="OpenStack project that owns the group and its servers and volumes: the "
        "token's project (default); another project is refused (403) unless the token is an "
        "admin's, which must name it when the token has no project",
    )
    source_site: Id = Field(description="Registered site the group runs on")
    target_site: Id = Field(description="Registered DR site it replicates to (UC3a)")
    extra_target_sites: list[Id] = Field(
        default_factory=list,
        max_length=8,
        description="More registered DR sites it also replicates to (UC3a x UC9): one "
        "replication leg each, ticked on the same policy, its CPs under the group id "
        "'<group>:<site>'",
    )
    policy_id: Id
    members: MembersIn
    seed_volumes: SeedVolumes

    @field_validator("members")
    @classmethod
    def _not_empty(cls, value: MembersIn) -> MembersIn:
        if not (value.servers or value.volumes or value.stateless):
            raise ValueError("a group needs at least one server, volume or stateless template")
        return value

    @field_validator("seed_volumes")
    @classmethod
    def _seeds(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_seeds(value)

    @model_validator(mode="after")
    def _budget(self) -> Self:
        _check_budget(self.members, self.seed_volumes)
        return self


class MembersUpdate(_In):
    """Replace a group's members (e.g. servers re-created outside Lifeboat); seeds optional."""

    members: MembersIn
    seed_volumes: SeedVolumes

    @field_validator("members")
    @classmethod
    def _not_empty(cls, value: MembersIn) -> MembersIn:
        if not (value.servers or value.volumes or value.stateless):
            raise ValueError("a group needs at least one server, volume or stateless template")
        return value

    @field_validator("seed_volumes")
    @classmethod
    def _seeds(cls, value: dict[str, str]) -> dict[str, str]:
        return _check_seeds(value)

    @model_validator(mode="after")
    def _budget(self) -> Self:
        _check_budget(self.members, self.seed_volumes)
        return self


class GroupOut(BaseModel):
    id: str
    name: str
    project_id: str
    source_site: str
    target_site: str
    extra_target_sites: list[str] = Field(
        default_factory=list, description="Also replicated to (leg ids '<group>:<site>')"
    )
    policy_id: str
    rpo_target_seconds: int
    members: dict[str, Any]
    seed_volumes: dict[str, str] = Field(description="UC5c: source volume -> DR-side seed")
    replication: Replication
    app_set_id: str | None
    suspended: bool
    suspended_reason: Literal["operator", "failover", "split-brain"] | None = Field(
        description="failover / split-brain: only failback / reconcile resumes it"
    )
    reverse_of: str | None = Field(
        description="A reverse group (made by reprotect): the forward group it replicates for"
    )
    created_at: datetime


class FailureOut(BaseModel):
    stage: str
    reason: str
    at: datetime


class QuiesceFailureOut(BaseModel):
    server_id: str | None = Field(description="null: the group's quiesce hook failed")
    reason: str


class QuiesceOut(BaseModel):
    cycle_id: str
    outcome: Literal["fell-back-to-crash-consistent", "retried-ok", "cycle-skipped"]
    at: datetime
    failures: list[QuiesceFailureOut]


class GroupStatus(BaseModel):
    group_id: str
    replication: Replication
    rpo_target_seconds: int
    achieved_rpo_seconds: float | None = Field(
        description="Now minus the recovery point of the newest verified CP; null before one"
    )
    newest_cp_id: str | None
    newest_cp_taken_at: datetime | None
    breached: bool
    suspended: bool
    suspended_by: (
        Literal["group", "failover", "split-brain", "site-link", "app-set-member"] | None
    ) = Field(description="group: an operator; failover / split-brain: the DR lifecycle")
    ticks_as: str = Field(description="The group, or the application set it replicates with")
    last_tick_seq: int
    next_due_at: datetime | None
    last_failure: FailureOut | None
    last_quiesce_failures: QuiesceOut | None = Field(
        description="The VMs the last cycle could not quiesce and why (UC2c); null once a newer "
        "CP's cycle quiesced every VM"
    )


class ReplicateNowIn(_In):
    trigger: Literal["replicate-now", "detach", "shutdown"] = "replicate-now"
    full_resync: bool = False


class ReplicateNowAccepted(BaseModel):
    request_id: str
    group_id: str
    replicates: str = Field(description="The unit replicated: the group or its application set")
    duplicate: bool = Field(description="True when this Idempotency-Key was seen before")


class SuspendIn(_In):
    pass


class ResumeIn(_In):
    full_resync: bool = Field(default=False, description="Resend everything (operator's word)")
    force: bool = Field(
        default=False,
        description="Resume a group a failover suspended (its source copy is not the live data)",
    )


class LinkChange(BaseModel):
    source: str
    target: str
    suspended: bool
    groups_notified: list[str]


# application sets -------------------------------------------------------------------------------
class AppSetCreate(_In):
    name: Name
    project_id: Id | None = Field(
        default=None,
        description="The set's project (all its groups belong to it): the token's (default); "
        "another one only with an admin token (else 403)",
    )
    group_ids: list[Id] = Field(min_length=1, max_length=1000)

    @field_validator("group_ids")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("lists a group twice")
        return value


class AppSetOut(BaseModel):
    id: str
    name: str
    project_id: str
    source_site: str
    target_site: str
    group_ids: list[str]
    created_at: datetime

"""Recovery plans: what to bring up where, in which order, wired how (UC2, UC3a, UC6, UC8).

A plan names the protected servers of one or more protection groups in boot tiers, and says how
each is rebuilt at a recovery site: flavor and network mappings, how fixed IPs are handled, DNS
records to re-point, hooks around each tier, stateless members made from templates, and whether
the DR network environment already exists ("warm") or is created at failover ("cold").

The servers' own configuration (flavor, ports, addresses, security groups, keypair, metadata,
volumes in device order) is captured from the protected site when the plan is created or
refreshed: at failover the protected site may be gone. Standalone volumes (UC7) need no
capture: the CP records their size and where their copy is.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, model_validator

from lifeboat_shared.contracts.messages._fields import Id

Name = str
Short = Annotated[str, Field(max_length=255)]
IpMode = Literal["keep", "new", "dhcp"]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


NO_COMMAND_LINES = (
    "the API takes no command line; the operator installs the hook on the orchestrator host "
    '(LIFEBOAT_ORCHESTRATOR_HOOKS=\'{"<name>": {"argv": [...], "timeout_seconds": 60}}\') and '
    'the plan names it: {"kind": "command", "name": "<name>"}'
)


class Hook(_Spec):
    """A step around a tier: a webhook (POST, JSON body) or a command hook the operator installed
    on the orchestrator host, referenced by name."""

    kind: Literal["webhook", "command"]
    url: HttpUrl | None = None
    name: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$",
        description="kind command: a hook installed on the orchestrator host "
        "(LIFEBOAT_ORCHESTRATOR_HOOKS); an unknown name is refused with 422",
    )
    timeout_seconds: float = Field(
        default=60, gt=0, le=3600, description="Webhooks; a command hook has its installed timeout"
    )
    on_failure: Literal["fail", "continue"] = "fail"

    @model_validator(mode="before")
    @classmethod
    def _no_command_line(cls, data: Any) -> Any:
        if isinstance(data, dict) and "command" in data:
            raise ValueError(f"command: {NO_COMMAND_LINES}")
        return data

    @model_validator(mode="after")
    def _target(self) -> Hook:
        if self.kind == "webhook" and (self.url is None or self.name is not None):
            raise ValueError("a webhook hook needs url (and no name)")
        if self.kind == "command" and (not self.name or self.url is not None):
            raise ValueError(
                "a command hook needs name (a hook installed on the orchestrator) and no url"
            )
        return self


def stored_spec(data: dict[str, Any]) -> dict[str, Any]:
    """A plan spec as stored, made loadable: a hook stored with a command line (before hooks
    were named) becomes a command hook of a name no operator installs, so it fails when it
    runs and never runs that command."""
    tiers = []
    for tier in data.get("tiers", []):
        tier = dict(tier)
        for key in ("pre_hooks", "post_hooks"):
            tier[key] = [
                {**{k: v for k, v in h.items() if k != "command"}, "name": LEGACY_HOOK}
                if "command" in h and h.get("command") is not None
                else {k: v for k, v in h.items() if k != "command"}
                for h in tier.get(key, [])
            ]
        tiers.append(tier)
    return {**data, "tiers": tiers}


LEGACY_HOOK = "removed-command-line"


class StatelessMember(_Spec):
    """UC8: web/app servers with no state worth replicating, made from a template at failover."""

    name: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.\-]+$")
    count: int = Field(default=1, ge=1, le=1000)
    flavor: str = Field(min_length=1, max_length=255)
    image: str = Field(min_length=1, max_length=255, description="Image name or id at the DR site")
    network: str = Field(min_length=1, max_length=255, description="Protected network (mapped)")
    user_data: str | None = Field(default=None, max_length=65535)
    metadata: dict[Short, Short] = Field(default_factory=dict, max_length=64)


class StandaloneVolume(_Spec):
    """UC7: a protected volume of its own (no protected server holds it, e.g. one volume with
    the whole application): at failover it is restored at the DR site from the CP (its backup
    under the backup strategy, else its replica snapshot), and attached to the server of a
    stateless member of the same tier when ``attach_to`` names one."""

    volume_id: Id = Field(description="Protected volume id (a member of one of the plan's groups)")
    attach_to: str | None = Field(
        default=None,
        max_length=60,
        description="Name of a stateless member (count 1) of the same tier whose server gets "
        "the restored volume as a data disk",
    )


class Tier(_Spec):
    name: str = Field(min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_.\-]+$")
    servers: list[Id] = Field(
        default_factory=list, max_length=1000, description="Protected server ids"
    )
    stateless: list[StatelessMember] = Field(default_factory=list, max_length=100)
    volumes: list[StandaloneVolume] = Field(
        default_factory=list,
        max_length=1000,
        description="UC7: standalone volumes restored at failover",
    )
    depends_on: list[Annotated[str, Field(max_length=60)]] | None = Field(
        default=None,
        max_length=100,
        description="Tier names that must be up first (default: the previous tier)",
    )
    pre_hooks: list[Hook] = Field(default_factory=list, max_length=20)
    post_hooks: list[Hook] = Field(default_factory=list, max_length=20)


class NetworkMapping(_Spec):
    source_network: str = Field(min_length=1, max_length=255, description="Name or id")
    target_network: str | None = Field(
        default=None,
        max_length=255,
        description="Name or id at the DR site; default the same name (warm) / created (cold)",
    )
    ip_mode: IpMode = "keep"


class DnsRecord(_Spec):
    zone: str = Field(
        min_length=2, max_length=255, description="Designate zone, e.g. shop.example."
    )
    name: str = Field(min_length=2, max_length=255, description="FQDN, e.g. db.shop.example.")
    server: Id = Field(description="Protected server whose recovered address the record gets")
    ttl: int | None = Field(default=None, ge=1, le=86400)


class SplitBrainPolicy(_Spec):
    """UC6. on_partition: with both sites up and the link cut, bring the DR copy online too
    (degraded, both sides track changes) or keep only the primary. reconcile: when the link is
    back, which side wins; the loser's data is always kept as snapshots."""

    on_partition: Literal["primary-only", "both-online"] = "primary-only"
    reconcile: Literal["keep-primary", "keep-dr", "keep-both"] = "keep-primary"
    keep_both_dr_copy: Literal["stop", "keep-running"] = Field(
        default="stop",
        description="keep-both: the DR copy's servers are stopped (default) or keep running, "
        "outside the plan either way (listed in its state's `detached`)",
    )


class PlanSpec(_Spec):
    name: str = Field(min_length=1, max_length=255)
    project_id: Id = Field(description="Project of the protected servers (same name at DR)")
    groups: list[Id] = Field(
        default_factory=list,
        max_length=1000,
        description="Protection groups / application sets; at least one when a tier names "
        "protected servers; may be empty for a plan of stateless members only (UC8)",
    )
    source_site: Id
    target_sites: list[Id] = Field(
        min_length=1,
        max_length=16,
        description="Recovery sites; the first is the default (UC3a: several)",
    )
    tiers: list[Tier] = Field(min_length=1, max_length=100)
    network_mappings: list[NetworkMapping] = Field(default_factory=list, max_length=1000)
    flavor_mappings: dict[Short, Short] = Field(default_factory=dict, max_length=1000)
    floating_ips: bool = Field(default=False, description="Give recovered servers floating IPs")
    external_network: str | None = Field(default=None, max_length=255)
    dns: list[DnsRecord] = Field(default_factory=list, max_length=1000)
    dns_site: Id | None = Field(
        default=None,
        description="Site whose Designate serves the zones (default: the site failed over to)",
    )
    environment: Literal["warm", "cold"] = "warm"
    failover_mode: Literal["automatic", "approval"] = "approval"
    test_timeout_seconds: float = Field(default=3600, gt=0, le=7 * 86400)
    split_brain: SplitBrainPolicy = SplitBrainPolicy()

    @model_validator(mode="after")
    def _consistent(self) -> PlanSpec:
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            raise ValueError("tiers: tier names must be unique")
        seen: set[str] = set()
        seen_volumes: set[str] = set()
        for tier in self.tiers:
            for server in tier.servers:
                if server in seen:
                    raise ValueError(f"tiers: server {server} is in more than one tier")
                seen.add(server)
            if not tier.servers and not tier.stateless and not tier.volumes:
                raise ValueError(f"tiers: tier {tier.name} has no servers and no stateless members")
            _check_volumes(tier, seen_volumes)
        if (seen or seen_volumes) and not self.groups:
            raise ValueError(
                "groups: a plan with protected servers or volumes needs at least one group"
            )
        for tier in self.tiers:
            for dep in tier.depends_on or []:
                if dep not in names:
                    raise ValueError(f"tiers: {tier.name} depends on unknown tier {dep}")
        order_tiers(self.tiers)  # raises on a cycle
        if self.source_site in self.target_sites:
            raise ValueError("target_sites: must not include source_site")
        for record in self.dns:
            if record.server not in seen:
                raise ValueError(f"dns: server {record.server} is not in any tier")
        return self

    @property
    def servers(self) -> list[str]:
        return [s for t in self.tiers for s in t.servers]


def _check_volumes(tier: Tier, seen: set[str]) -> None:
    """Each standalone volume once in the plan; ``attach_to`` a single stateless member."""
    counts = {m.name: m.count for m in tier.stateless}
    for vol in tier.volumes:
        if vol.volume_id in seen:
            raise ValueError(f"tiers: volume {vol.volume_id} is in the plan more than once")
        seen.add(vol.volume_id)
        if vol.attach_to is not None and counts.get(vol.attach_to) != 1:
            raise ValueError(
                f"tiers: volume {vol.volume_id} attaches to {vol.attach_to}, which is not a "
                f"stateless member of tier {tier.name} with count 1"
            )


def tier_dependencies(tiers: list[Tier]) -> dict[str, list[str]]:
    """Each tier's prerequisites: as declared, else the tier listed before it."""
    deps: dict[str, list[str]] = {}
    for i, tier in enumerate(tiers):
        if tier.depends_on is not None:
            deps[tier.name] = list(tier.depends_on)
        else:
            deps[tier.name] = [tiers[i - 1].name] if i else []
    return deps


def order_tiers(tiers: list[Tier]) -> list[str]:
    """Tier names in a boot order that respects every dependency; ValueError on a cycle."""
    deps = tier_dependencies(tiers)
    done: list[str] = []
    pending = [t.name for t in tiers]
    while pending:
        ready = [n for n in pending if all(d in done for d in deps[n])]
        if not ready:
            raise ValueError(f"tiers: dependency cycle among {', '.join(pending)}")
        done += ready
        pending = [n for n in pending if n not in ready]
    return done


class CapturedPort(_Spec):
    network_id: str
    network_name: str
    fixed_ips: list[tuple[str, str]] = Field(default_factory=list, description="(cidr, ip)")
    security_groups: list[str] = Field(default_factory=list, description="Names")
    mac_address: str | None = None


class CapturedVolume(_Spec):
    volume_id: str
    device: str | None
    size_gib: int
    boot: bool


class CapturedServer(_Spec):
    """A protected server's configuration, as read from the protected site."""

    server_id: str
    name: str
    flavor: str
    key_name: str | None = None
    metadata: dict[Short, Short] = Field(default_factory=dict, max_length=64)
    ports: list[CapturedPort] = Field(default_factory=list)
    volumes: list[CapturedVolume] = Field(default_factory=list)


class CapturedNetwork(_Spec):
    """A protected network and its subnets, for building the DR or bubble copy."""

    network_id: str
    name: str
    subnets: list[tuple[str, str, bool]] = Field(
        default_factory=list, description="(name, cidr, enable_dhcp)"
    )


class CapturedSecurityGroup(_Spec):
    name: str
    rules: list[dict[str, str | int | None]] = Field(default_factory=list)


class Capture(_Spec):
    servers: dict[str, CapturedServer] = Field(default_factory=dict)
    networks: dict[str, CapturedNetwork] = Field(default_factory=dict)
    security_groups: dict[str, CapturedSecurityGroup] = Field(default_factory=dict)


class Placement(_Spec):
    """Where one protected server runs now: its server and volumes at that site (keyed by the
    original volume ids, so a CP's members map onto them after failover and failback)."""

    site: str
    server_id: str
    volumes: dict[str, str] = Field(default_factory=dict)


class PlanState(_Spec):
    """Where the plan's application runs and how it is protected."""

    status: Literal["protected", "failed-over", "reprotected", "split-brain"] = "protected"
    active_site: str
    protected_to: str | None = Field(
        default=None, description="Site the running copy replicates to (None: unprotected)"
    )
    placement: dict[str, Placement] = Field(default_factory=dict)
    reverse_groups: dict[str, str] = Field(
        default_factory=dict,
        description="After reprotect: forward group -> the group replicating back (own RPO)",
    )
    reverse_specs: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Each reverse group's spec at reprotect (failback's final sync, until the "
        "policy service's ticks carry newer)",
    )
    reverse_group: str | None = Field(
        default=None, description="Deprecated (one reverse group per plan): see reverse_groups"
    )
    reverse_spec: dict[str, Any] | None = Field(
        default=None, description="Deprecated: see reverse_specs"
    )
    previous: dict[str, Placement] = Field(
        default_factory=dict, description="The copy left behind at the site failed over from"
    )
    dr_copy: dict[str, Placement] = Field(
        default_factory=dict, description="Split brain, both online: the DR copy's servers"
    )
    detached: dict[str, Placement] = Field(
        default_factory=dict,
        description="After a keep-both reconcile: the DR copy, kept outside the plan (its "
        "volumes hold what it wrote during the split brain; snapshotted at reconcile)",
    )

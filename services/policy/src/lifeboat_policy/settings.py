"""Policy service settings: ``LIFEBOAT_POLICY_*``, falling back to ``LIFEBOAT_*``."""

from pathlib import Path

from pydantic import Field, IPvAnyNetwork
from pydantic_settings import SettingsConfigDict

from lifeboat_shared.settings import ServiceSettings


class PolicySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LIFEBOAT_POLICY_", extra="ignore")

    http_port: int = Field(default=8701, ge=0, le=65535)
    scheduler_enabled: bool = Field(
        default=True, description="Run the RPO scheduler (tests drive it by hand when off)"
    )
    scheduler_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    max_ticks_per_second: int = Field(
        default=1000,
        ge=1,
        le=100_000,
        description="Cap on ticks emitted per second: a backlog (restart, mass creation) drains "
        "oldest first at this rate instead of hitting the replicator at once",
    )
    usage_window_seconds: int = Field(
        default=3600,
        ge=1,
        le=86400,
        description="Width of a protected VM-hours / GB-hours usage window, aligned to the epoch "
        "(every replica and restart names a window the same way)",
    )
    usage_pass_interval_seconds: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="How often the usage step meters the groups (a suspend or resume is counted "
        "from the first pass that sees it); 0 turns usage off",
    )
    breach_check_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
    clouds_yaml: Path | None = Field(
        default=None, description="clouds.yaml of the sites (the member watcher reads servers)"
    )
    member_watch_interval_seconds: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="How often protected VMs are checked for shutdown / volume detach (UC4); "
        "0 turns the watcher off",
    )
    webhook_allow_networks: list[IPvAnyNetwork] = Field(
        default_factory=list,
        max_length=256,
        description="Networks a policy's quiesce webhook may name as a literal address besides "
        "global ones (JSON list of CIDRs; LIFEBOAT_WEBHOOK_ALLOW_NETWORKS serves every service); "
        "the replicator checks again, after resolving, with its own setting",
    )

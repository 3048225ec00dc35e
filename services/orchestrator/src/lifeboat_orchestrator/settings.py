"""Orchestrator settings: ``LIFEBOAT_ORCHESTRATOR_*``, falling back to ``LIFEBOAT_*``."""

import socket
from pathlib import Path

from pydantic import Field, IPvAnyNetwork
from pydantic_settings import SettingsConfigDict

from lifeboat_shared.hooks import CommandHook, HookHost, secret_values
from lifeboat_shared.net.egress import EgressPolicy
from lifeboat_shared.settings import ServiceSettings


class OrchestratorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LIFEBOAT_ORCHESTRATOR_", extra="ignore")

    http_port: int = Field(default=8703, ge=0, le=65535)
    # Up to site_api_concurrency steps per site run at once, each committing its outcome, beside
    # the claim/renew loop, the consumer, the outbox relay (which keeps one connection on
    # PostgreSQL), the site prober and the API: the shared 5 + 10 ran out under load.
    db_pool_size: int = Field(default=16, ge=1, le=1000)
    db_max_overflow: int = Field(default=16, ge=0, le=1000)
    clouds_yaml: Path | None = Field(
        default=None, description="clouds.yaml with every site's entry (default: the usual search)"
    )
    runner_id: str | None = Field(
        default=None,
        description="Lease owner name; stable across restarts of one instance (default: "
        "hostname:http_port), so a restarted orchestrator resumes its executions at once",
    )
    lease_seconds: float = Field(default=15.0, gt=0)
    runner_interval_seconds: float = Field(default=0.5, gt=0)
    site_api_concurrency: int = Field(
        default=16, ge=1, le=1024, description="Members brought up at once per recovery site"
    )
    max_step_attempts: int = Field(default=5, ge=1, le=100)
    step_backoff_seconds: float = Field(default=1.0, ge=0)
    sync_timeout_seconds: float = Field(default=900.0, gt=0)
    max_parallel_executions: int = Field(default=64, ge=1, le=10000)
    chaos_kill_after_step: bool = Field(
        default=False,
        description="Resilience testing only: SIGKILL the process after every step commit",
    )
    chaos_kill_at_step: int = Field(
        default=0,
        ge=0,
        description="Resilience testing only: SIGKILL the process after its Nth step commit "
        "(0: never)",
    )

    hooks: dict[str, CommandHook] = Field(
        default_factory=dict,
        max_length=256,
        description="Tier command hooks installed on this host (JSON in "
        "LIFEBOAT_ORCHESTRATOR_HOOKS): name -> {argv, timeout_seconds}; plans name them "
        '({"kind": "command", "name": ...}), the API never carries a command line',
    )
    webhook_allow_networks: list[IPvAnyNetwork] = Field(
        default_factory=list,
        max_length=256,
        description="Networks tier webhooks may reach besides global addresses (JSON list of "
        "CIDRs in LIFEBOAT_ORCHESTRATOR_WEBHOOK_ALLOW_NETWORKS or LIFEBOAT_WEBHOOK_ALLOW_NETWORKS)",
    )

    probe_enabled: bool = True
    probe_interval_seconds: float = Field(default=10.0, gt=0)
    probe_timeout_seconds: float = Field(default=5.0, gt=0)
    probe_lease_seconds: float | None = Field(
        default=None,
        gt=0,
        description="How long one replica keeps probing a site without renewing its lease; "
        "another replica takes the site over after it (default: twice the longer of the "
        "probe interval and 2 x timeout + 1 s)",
    )
    down_after_failures: int = Field(default=3, ge=1)
    down_window_seconds: float = Field(default=30.0, gt=0)
    up_after_successes: int = Field(default=3, ge=1)
    up_min_seconds: float = Field(default=20.0, ge=0)
    alert_min_severity: str = "critical"

    link_cut_after_failures: int = Field(
        default=3,
        ge=1,
        description="Site links (UC6): consecutive failed transfers (SiteLinkObserved) that "
        "declare a link cut",
    )
    link_cut_window_seconds: float = Field(
        default=600.0,
        gt=0,
        description="The oldest of those failures must be this recent (a replicator reports at "
        "most one observation per link per cycle attempt, each after link_retry_seconds)",
    )
    link_up_after_successes: int = Field(
        default=1, ge=1, description="Consecutive successful transfers that restore a cut link"
    )
    partition_probe_max_age_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A cut link is a partition only if both sites are declared up and were "
        "probed healthy this recently",
    )

    usage_window_seconds: int = Field(
        default=3600,
        ge=1,
        le=86400,
        description="Width of a DR VM-hours / vCPU-hours usage window, aligned to the epoch",
    )
    usage_pass_interval_seconds: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="How often DR usage is metered (a failover or failback is counted from the "
        "first pass that sees its commit); 0 turns usage off",
    )

    def resolved_runner_id(self) -> str:
        return self.runner_id or f"{socket.gethostname()}:{self.http_port}"

    def hook_host(self) -> HookHost:
        return HookHost(
            commands=self.hooks,
            egress=EgressPolicy(allow=tuple(self.webhook_allow_networks)),
            secrets=tuple(secret_values(self)),
        )

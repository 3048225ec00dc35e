"""Verifier settings: ``LIFEBOAT_VERIFIER_*``, falling back to ``LIFEBOAT_*``."""

import socket
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from lifeboat_shared.hooks import CommandHook, secret_values
from lifeboat_shared.settings import ServiceSettings

SIGNING_KEY_FILE_NAME = "verifier-signing-key.pem"


class GuestProbeSite(BaseModel):
    """cloudsim only: the site's admin API, through which the verifier reaches guest services
    and volume files (on a real cloud these come from a probe instance; see the README)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    admin_url: str = Field(max_length=2048, description="e.g. http://host:port/cloudsim/admin")
    admin_token: SecretStr = Field(max_length=512)


class VerifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LIFEBOAT_VERIFIER_", extra="ignore")

    http_port: int = Field(default=8704, ge=0, le=65535)
    # The consumer, the outbox relay, the API and the run driver.
    db_pool_size: int = Field(default=4, ge=1, le=1000)
    db_max_overflow: int = Field(default=6, ge=0, le=1000)
    clouds_yaml: Path | None = Field(
        default=None, description="clouds.yaml with every site's entry (default: the usual search)"
    )
    site_clouds: dict[str, str] = Field(
        default_factory=dict,
        max_length=1024,
        description="site id -> clouds.yaml entry name (default: the same name)",
    )
    guest_probes: dict[str, GuestProbeSite] = Field(
        default_factory=dict,
        max_length=1024,
        description="cloudsim: site id -> its admin API (guest services, volume files)",
    )
    hooks: dict[str, CommandHook] = Field(
        default_factory=dict,
        max_length=256,
        description="Check hooks installed on this host (JSON in LIFEBOAT_VERIFIER_HOOKS): "
        "name -> {argv, timeout_seconds}; definitions name them, the API never carries a "
        "command line",
    )
    time_scale: float = Field(
        default=1.0,
        ge=1.0,
        le=1e9,
        description="Schedule clock speed-up (tests): 604800 fires a weekly cron about each second",
    )
    runner_id: str | None = Field(default=None, description="Lease owner name (default host:port)")
    lease_seconds: float = Field(default=30.0, gt=0, le=3600)
    runner_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    cleanup_wait_seconds: float = Field(
        default=120.0, gt=0, description="How long a teardown may take before it is asked again"
    )
    failover_wait_seconds: float = Field(
        default=1800.0, gt=0, description="A run with no BubbleReady by then fails (and tears down)"
    )

    def resolved_runner_id(self) -> str:
        return self.runner_id or f"{socket.gethostname()}:{self.http_port}"

    def secrets(self) -> list[str]:
        return secret_values(self)

    # --- signed test reports (README, Reports) ---
    signing_key_file: Path | None = Field(
        default=None,
        description="The deployment's Ed25519 private key (PEM, PKCS8) that signs test reports. "
        "Default: data_dir/verifier-signing-key.pem. Embedded mode: generated (mode 0600) on "
        "first start if missing; production: must exist (a mounted Secret), never generated",
    )
    deployment_name: str = Field(
        default="lifeboat",
        min_length=1,
        max_length=128,
        description="The issuer a test report names (which deployment signed it)",
    )
    report_retention_days: float = Field(
        default=365.0,
        gt=0,
        le=36_500,
        description="Test reports older than this are deleted (fractions of a day allowed)",
    )
    report_prune_interval_seconds: float = Field(
        default=3600.0, gt=0, le=86_400, description="How often expired reports are deleted"
    )

    def resolved_signing_key_file(self) -> Path:
        return self.signing_key_file or self.data_dir / SIGNING_KEY_FILE_NAME

    def may_generate_signing_key(self) -> bool:
        """Only the embedded default makes its own key; production mounts one."""
        return self.mode == "embedded"

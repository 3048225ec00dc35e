"""Verifier settings: ``LIFEBOAT_VERIFIER_*``, falling back to ``LIFEBOAT_*``."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from lifeboat_shared.settings import ServiceSettings

SIGNING_KEY_FILE_NAME = "verifier-signing-key.pem"


class VerifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LIFEBOAT_VERIFIER_", extra="ignore")

    http_port: int = Field(default=8704, ge=0, le=65535)
    # The consumer, the outbox relay and the API only.
    db_pool_size: int = Field(default=3, ge=1, le=1000)
    db_max_overflow: int = Field(default=5, ge=0, le=1000)
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

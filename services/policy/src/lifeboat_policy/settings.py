"""Policy service settings: ``LIFEBOAT_POLICY_*``, falling back to ``LIFEBOAT_*``."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from lifeboat_shared.settings import ServiceSettings


class PolicySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LIFEBOAT_POLICY_", extra="ignore")

    http_port: int = Field(default=8701, ge=0, le=65535)
    scheduler_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    min_rpo_seconds: int = Field(default=1, ge=1)

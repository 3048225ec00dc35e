"""Verifier settings: ``LIFEBOAT_VERIFIER_*``, falling back to ``LIFEBOAT_*``."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from lifeboat_shared.settings import ServiceSettings


class VerifierSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LIFEBOAT_VERIFIER_", extra="ignore")

    http_port: int = Field(default=8704, ge=0, le=65535)
    # The consumer, the outbox relay and the API only.
    db_pool_size: int = Field(default=3, ge=1, le=1000)
    db_max_overflow: int = Field(default=5, ge=0, le=1000)

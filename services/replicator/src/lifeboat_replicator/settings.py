"""Replicator settings: ``LIFEBOAT_REPLICATOR_*``, falling back to ``LIFEBOAT_*``."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from lifeboat_shared.settings import ServiceSettings


class ReplicatorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LIFEBOAT_REPLICATOR_", extra="ignore")

    http_port: int = Field(default=8702, ge=0, le=65535)

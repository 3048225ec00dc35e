"""Orchestrator settings: ``LIFEBOAT_ORCHESTRATOR_*``, falling back to ``LIFEBOAT_*``."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from lifeboat_shared.settings import ServiceSettings


class OrchestratorSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="LIFEBOAT_ORCHESTRATOR_", extra="ignore")

    http_port: int = Field(default=8703, ge=0, le=65535)

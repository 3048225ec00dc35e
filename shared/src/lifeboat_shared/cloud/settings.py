"""Tunables of the cloud driver (env prefix LIFEBOAT_CLOUD_).

Defaults suit a real cloud; tests against cloudsim shorten the poll intervals.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CloudDriverSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIFEBOAT_CLOUD_", frozen=True)

    # openstacksdk is synchronous: each site gets this many worker threads, no more, so one slow
    # or huge site cannot starve the others nor open unbounded connections to a cloud's API.
    max_workers_per_site: int = Field(default=8, ge=1, le=64)
    # Per-request HTTP timeout: a hung API must not hold one of the site's few threads forever.
    http_timeout: float = Field(default=60.0, gt=0, le=3600)
    # Attempts per call (including the first) on 429 / 503 / connection failures.
    retry_attempts: int = Field(default=5, ge=1, le=20)
    retry_initial_wait: float = Field(default=0.2, gt=0, le=60)
    retry_max_wait: float = Field(default=20.0, gt=0, le=600)
    # Polling of asynchronous operations (volume creating -> available, server BUILD -> ACTIVE).
    poll_initial_interval: float = Field(default=0.05, gt=0, le=60)
    poll_max_interval: float = Field(default=2.0, gt=0, le=60)
    wait_timeout: float = Field(default=600.0, gt=0, le=24 * 3600)

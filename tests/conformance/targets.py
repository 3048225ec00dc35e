"""Which cloud the conformance suite runs against.

Default: cloudsim sites started for the session. With LIFEBOAT_CONFORMANCE_CLOUDS_YAML and
LIFEBOAT_CONFORMANCE_CLOUD set: that real OpenStack cloud instead (optionally
LIFEBOAT_CONFORMANCE_ADMIN_CLOUD, an admin entry of the same clouds.yaml, for the few checks that
need one). This module is the only place the suite reads the environment.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from lifeboat_shared.cloud import CloudDriverSettings, SiteConfig

ENV_CLOUDS_YAML = "LIFEBOAT_CONFORMANCE_CLOUDS_YAML"
ENV_CLOUD = "LIFEBOAT_CONFORMANCE_CLOUD"
ENV_ADMIN_CLOUD = "LIFEBOAT_CONFORMANCE_ADMIN_CLOUD"


def selected_targets() -> list[str]:
    """["openstack"] when the real-cloud variables are set, else ["cloudsim"]."""
    if os.environ.get(ENV_CLOUDS_YAML) and os.environ.get(ENV_CLOUD):
        return ["openstack"]
    return ["cloudsim"]


def real_cloud_from_env() -> tuple[Path, str, str]:
    clouds_yaml = Path(os.environ[ENV_CLOUDS_YAML])
    cloud = os.environ[ENV_CLOUD]
    return clouds_yaml, cloud, os.environ.get(ENV_ADMIN_CLOUD) or cloud


@dataclass
class Target:
    """A cloud under test: its clouds.yaml entries and, for cloudsim, the fault admin API."""

    kind: str  # "cloudsim" | "openstack"
    clouds_yaml: Path
    cloud: str
    admin_cloud: str
    admin_url: str | None = None  # cloudsim's fault/admin API
    admin_token: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_cloudsim(self) -> bool:
        return self.kind == "cloudsim"

    def site(self, name: str = "target", *, admin: bool = False) -> SiteConfig:
        return SiteConfig(
            name=name,
            cloud=self.admin_cloud if admin else self.cloud,
            clouds_yaml=self.clouds_yaml,
        )

    def settings(self) -> CloudDriverSettings:
        if self.is_cloudsim:
            return CloudDriverSettings(
                poll_initial_interval=0.02,
                poll_max_interval=0.3,
                wait_timeout=60,
                retry_initial_wait=0.05,
                retry_max_wait=2.0,
            )
        return CloudDriverSettings(
            poll_initial_interval=0.5,
            poll_max_interval=2.0,
            wait_timeout=300,
            retry_initial_wait=0.5,
            retry_max_wait=10.0,
        )

"""Where a site's connection comes from: a clouds.yaml entry or explicit auth.

One `openstack.connection.Connection` per (site, project): a connection is bound to the project
its token is scoped to, and Lifeboat acts in many tenant projects of the same site.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openstack.config
import openstack.connection
from openstack import exceptions as sdk_exc
from pydantic import BaseModel, ConfigDict, Field, model_validator

from lifeboat_shared.cloud.errors import InvalidInput
from lifeboat_shared.cloud.translate import translate_errors


class SiteConfig(BaseModel):
    """How to reach one OpenStack site.

    Either `cloud` (a clouds.yaml entry, from `clouds_yaml` when given, else the standard search
    path) or `auth` (keystoneauth password-plugin options: auth_url, username, password,
    project_name, user_domain_name, project_domain_name).
    """

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1)
    cloud: str | None = None
    clouds_yaml: Path | None = None
    auth: dict[str, str] | None = Field(default=None, repr=False)
    region_name: str | None = None
    verify: bool = True

    @model_validator(mode="after")
    def _one_source(self) -> SiteConfig:
        if (self.cloud is None) == (self.auth is None):
            raise ValueError("site config needs exactly one of 'cloud' or 'auth'")
        if self.clouds_yaml is not None and self.cloud is None:
            raise ValueError("'clouds_yaml' needs 'cloud' (the entry to use)")
        if self.auth is not None and "auth_url" not in self.auth:
            raise ValueError("'auth' needs 'auth_url'")
        return self


def connect(
    site: SiteConfig, project: str | None = None, *, timeout: float | None = None
) -> openstack.connection.Connection:
    """Build (but do not authenticate) a connection to `site`, scoped to `project` if given.

    `project` is a project name overriding the one in the config; runs in a worker thread since
    reading clouds.yaml is blocking I/O.
    """
    with translate_errors(f"connect to site {site.name!r}"):
        if site.cloud is not None:
            if site.clouds_yaml is not None and not site.clouds_yaml.is_file():
                raise InvalidInput(f"clouds.yaml not found: {site.clouds_yaml}")
            files = [str(site.clouds_yaml)] if site.clouds_yaml is not None else None
            loader = openstack.config.OpenStackConfig(
                config_files=files, load_envvars=False, app_name="lifeboat"
            )
            overrides: dict[str, Any] = {}
            if timeout is not None:
                overrides["api_timeout"] = timeout
            if project is not None:
                # An empty project_id clears one from the entry (None would become "None").
                overrides["auth"] = {"project_name": project, "project_id": ""}
            if site.region_name is not None:
                overrides["region_name"] = site.region_name
            try:
                region = loader.get_one(cloud=site.cloud, **overrides)
            except sdk_exc.ConfigException as exc:
                raise InvalidInput(
                    f"cloud {site.cloud!r} not usable from {site.clouds_yaml or 'clouds.yaml'}: "
                    f"{exc}"
                ) from exc
            return openstack.connection.Connection(config=region)
        assert site.auth is not None
        auth: dict[str, Any] = dict(site.auth)
        auth.setdefault("user_domain_name", "Default")
        auth.setdefault("project_domain_name", "Default")
        if project is not None:
            auth["project_name"] = project
            auth.pop("project_id", None)
        return openstack.connection.Connection(
            auth=auth,
            auth_type="password",
            region_name=site.region_name,
            verify=site.verify,
            api_timeout=timeout,
            app_name="lifeboat",
        )

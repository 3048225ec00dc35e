"""Auth and catalog: the first thing Lifeboat checks of a site."""

from __future__ import annotations

import asyncio

import pytest

from lifeboat_shared.cloud import (
    AuthFailed,
    CloudDriver,
    CloudProject,
    InvalidInput,
    SiteConfig,
)

from .targets import Target

pytestmark = pytest.mark.conformance


async def test_auth_returns_project_and_catalog(cloud: CloudProject) -> None:
    info = await cloud.check_auth()
    assert info.project_id
    assert info.user_id
    for service in ("compute", "volume", "network", "image", "identity"):
        assert info.has_service(service), f"{service} missing from {info.endpoints}"
    assert all(e.url.startswith("http") for e in info.endpoints)


async def test_projects_are_separate_connections(
    cloud: CloudProject, admin_cloud: CloudProject, target: Target
) -> None:
    if target.cloud == target.admin_cloud:
        pytest.skip("no separate admin cloud entry (set LIFEBOAT_CONFORMANCE_ADMIN_CLOUD)")
    member = await cloud.check_auth()
    admin = await admin_cloud.check_auth()
    assert cloud.context.conn is not admin_cloud.context.conn
    assert member.user_id != admin.user_id or member.project_id != admin.project_id


@pytest.mark.parametrize("good_password", [True, False], ids=["right", "wrong"])
async def test_explicit_auth(target: Target, good_password: bool) -> None:
    """A site given by explicit auth options instead of a clouds.yaml entry."""
    import yaml

    text = await asyncio.to_thread(target.clouds_yaml.read_text)
    entry = yaml.safe_load(text)["clouds"][target.cloud]
    auth = {k: str(v) for k, v in entry["auth"].items() if v is not None}
    if not good_password:
        auth["password"] = "definitely-not-the-password"
    site = SiteConfig(name="explicit", auth=auth, region_name=entry.get("region_name"))
    drv = CloudDriver([site], target.settings())
    try:
        project = await drv.project("explicit")
        if good_password:
            info = await project.check_auth()
            assert info.has_service("compute")
        else:
            with pytest.raises(AuthFailed):
                await project.check_auth()
    finally:
        await drv.aclose()


async def test_unknown_cloud_entry_is_invalid_input(target: Target) -> None:
    drv = CloudDriver(
        [SiteConfig(name="x", cloud="no-such-cloud-entry", clouds_yaml=target.clouds_yaml)]
    )
    try:
        with pytest.raises(InvalidInput, match="no-such-cloud-entry"):
            await drv.project("x")
        with pytest.raises(InvalidInput, match="unknown site"):
            await drv.project("not-configured")
    finally:
        await drv.aclose()


def test_site_config_needs_one_source() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        SiteConfig(name="x")
    with pytest.raises(ValueError, match="auth_url"):
        SiteConfig(name="x", auth={"username": "u"})


async def test_one_connection_per_site_and_project(
    target: Target, driver: CloudDriver, cloud: CloudProject
) -> None:
    """The admin entry scoped to the member's project: its own connection and token."""
    import yaml

    if target.cloud == target.admin_cloud:
        pytest.skip("no separate admin cloud entry (set LIFEBOAT_CONFORMANCE_ADMIN_CLOUD)")
    text = await asyncio.to_thread(target.clouds_yaml.read_text)
    member_project = yaml.safe_load(text)["clouds"][target.cloud]["auth"]["project_name"]
    scoped = await driver.project("target-admin", member_project)
    assert scoped is await driver.project("target-admin", member_project)  # cached
    assert scoped is not await driver.project("target-admin")
    try:
        info = await scoped.check_auth()
    except AuthFailed:
        if target.is_cloudsim:
            raise
        pytest.skip(f"the admin user has no role in project {member_project!r}")
    assert info.project_id == (await cloud.check_auth()).project_id

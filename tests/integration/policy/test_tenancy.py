"""Tenant isolation in the policy service (issue #14): two projects' members and an admin on
one policy service, with cloudsim as the protected site (its clouds.yaml account is tenant A's
project, ``demo``). 0 cross-project reads or writes: another project's group or set answers 404
on every route; a body project_id of another project is refused (403); a group cannot protect
a server or volume the cloud shows in another project; the admin sees both projects."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudsim.testing import SiteSet, running_sites
from lifeboat_shared.cloud import CloudDriver, SiteConfig
from lifeboat_shared.contracts.messages import ReplicationSuspended
from tests.integration.policy.conftest import TOKEN, Policy
from tests.support.tenants import AS_A, AS_B, TENANT_A, TENANT_B, install_tenants


@pytest.fixture
def sites(tmp_path: Path) -> Iterator[SiteSet]:
    with running_sites(["site-a"], tmp_path / "sites") as s:
        yield s


@pytest.fixture(params=["sqlite", "postgres"])
def policy_settings(
    request: pytest.FixtureRequest, tmp_path: Path, sites: SiteSet
) -> dict[str, object]:
    settings: dict[str, object] = {
        "data_dir": tmp_path,
        "api_token": TOKEN,
        "json_logs": False,
        "scheduler_enabled": False,
        "member_watch_interval_seconds": 0,
        "clouds_yaml": sites.clouds_yaml,
    }
    if request.param == "postgres":
        settings["database_url"] = request.getfixturevalue("postgres_url")
        settings["bus_database_url"] = f"sqlite+aiosqlite:///{tmp_path / 'bus.db'}"
    return settings


def group_body(policy_id: str, name: str, **members: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "source_site": "a",
        "target_site": "b",
        "policy_id": policy_id,
        "members": members,
    }


async def test_two_projects_see_and_touch_only_their_own(policy: Policy, sites: SiteSet) -> None:
    install_tenants(policy.app)
    c = policy.client
    driver = CloudDriver([SiteConfig(name="site-a", cloud="site-a", clouds_yaml=sites.clouds_yaml)])
    try:  # a server and a volume of project A (cloudsim's demo project)
        cloud = await driver.project("site-a")
        flavor = (await cloud.compute.list_flavors())[0].id
        assert flavor is not None
        boot = await cloud.block_storage.create_volume(1, name="boot", bootable=True)
        data = await cloud.block_storage.create_volume(1, name="data")
        vm = await cloud.compute.create_server("db", flavor, boot_volume_id=boot.id)
    finally:
        await driver.aclose()

    # the admin (static token, no project) registers sites and a shared policy
    await policy.post("/v1/sites", {"site_id": "a", "cloud": "site-a", "role": "protected"})
    await policy.post(
        "/v1/sites", {"site_id": "b", "cloud": "site-b", "role": "recovery", "data_endpoint": "h:1"}
    )
    pol = await policy.post(
        "/v1/policies", {"name": f"p-{uuid.uuid4().hex[:6]}", "rpo_seconds": 60}
    )

    # A's group: project from the token (none in the body)
    r = await c.post(
        "/v1/protection-groups", json=group_body(pol["id"], "db", servers=[vm.id]), headers=AS_A
    )
    assert r.status_code == 201, r.text
    ga = r.json()
    assert ga["project_id"] == TENANT_A

    # B cannot create for A's project, nor protect A's server or volume
    r = await c.post(
        "/v1/protection-groups",
        json={**group_body(pol["id"], "x", servers=["s-b"]), "project_id": TENANT_A},
        headers=AS_B,
    )
    assert r.status_code == 403 and "project_id" in r.text, r.text
    r = await c.post(
        "/v1/protection-groups", json=group_body(pol["id"], "x", servers=[vm.id]), headers=AS_B
    )
    assert r.status_code == 422 and "members.servers" in r.text and vm.id in r.text, r.text
    r = await c.post(
        "/v1/protection-groups", json=group_body(pol["id"], "x", volumes=[data.id]), headers=AS_B
    )
    assert r.status_code == 422 and "members.volumes" in r.text, r.text
    r = await c.post(
        "/v1/protection-groups", json=group_body(pol["id"], "web", servers=["s-b"]), headers=AS_B
    )
    assert r.status_code == 201, r.text
    gb = r.json()
    assert gb["project_id"] == TENANT_B
    # nor re-point its own group at A's server
    r = await c.put(
        f"/v1/protection-groups/{gb['id']}/members",
        json={"members": {"servers": [vm.id]}},
        headers=AS_B,
    )
    assert r.status_code == 422 and "members.servers" in r.text, r.text

    # lists are filtered; naming another project is refused
    for who, mine in ((AS_A, ga), (AS_B, gb)):
        r = await c.get("/v1/protection-groups", headers=who)
        assert [g["id"] for g in r.json()] == [mine["id"]], r.text
    r = await c.get("/v1/protection-groups", params={"project_id": TENANT_A}, headers=AS_B)
    assert r.status_code == 403 and "project_id" in r.text

    # every read and action on the other project's group: 404, like a missing one
    missing = str(uuid.uuid4())
    for gid in (ga["id"], missing):
        base = f"/v1/protection-groups/{gid}"
        answers = [
            await c.get(base, headers=AS_B),
            await c.get(f"{base}/status", headers=AS_B),
            await c.put(f"{base}/members", json={"members": {"servers": ["s"]}}, headers=AS_B),
            await c.post(f"{base}/replicate-now", headers=AS_B),
            await c.post(f"{base}/suspend", headers=AS_B),
            await c.post(f"{base}/resume", headers=AS_B),
            await c.delete(base, headers=AS_B),
        ]
        assert [a.status_code for a in answers] == [404] * 7, [a.text for a in answers]
        assert all("group_id" in a.text for a in answers)
    r = await c.get(f"/v1/protection-groups/{ga['id']}", headers=AS_A)
    assert r.status_code == 200 and r.json()["suspended"] is False
    assert r.json()["members"]["servers"] == [vm.id]

    # application sets: another project's group is "no such group"; its set is a 404
    r = await c.post("/v1/app-sets", json={"name": "s", "group_ids": [ga["id"]]}, headers=AS_B)
    assert r.status_code == 422 and "group_ids" in r.text, r.text
    r = await c.post("/v1/app-sets", json={"name": "s", "group_ids": [ga["id"]]}, headers=AS_A)
    assert r.status_code == 201, r.text
    sa_ = r.json()
    assert sa_["project_id"] == TENANT_A
    assert (await c.get(f"/v1/app-sets/{sa_['id']}", headers=AS_B)).status_code == 404
    assert (await c.delete(f"/v1/app-sets/{sa_['id']}", headers=AS_B)).status_code == 404
    assert (await c.get("/v1/app-sets", headers=AS_B)).json() == []
    assert [s["id"] for s in (await c.get("/v1/app-sets", headers=AS_A)).json()] == [sa_["id"]]

    # the admin sees both projects, or one it names, and must name one to create
    r = await c.get("/v1/protection-groups")
    assert {g["id"] for g in r.json()} == {ga["id"], gb["id"]}
    r = await c.get("/v1/protection-groups", params={"project_id": TENANT_B})
    assert [g["id"] for g in r.json()] == [gb["id"]]
    r = await c.post("/v1/protection-groups", json=group_body(pol["id"], "adm", servers=["s"]))
    assert r.status_code == 422 and "project_id" in r.text
    r = await c.post(
        "/v1/protection-groups",
        json={**group_body(pol["id"], "adm", servers=["s"]), "project_id": TENANT_B},
    )
    assert r.status_code == 201 and r.json()["project_id"] == TENANT_B

    # events carry the project (billing, verifier and a dashboard can scope them)
    assert (await c.post(f"/v1/protection-groups/{gb['id']}/suspend", headers=AS_B)).is_success
    (event,) = await policy.events(ReplicationSuspended)
    assert (event.group_id, event.project_id) == (gb["id"], TENANT_B)

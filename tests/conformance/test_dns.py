"""Designate through the driver: zones (idempotent by name), recordset upsert and re-pointing of
A records (what a failover does to DNS), deletes, and refusal of bad names and records.

Skipped when the target's catalog has no DNS service (the real OpenStack lab has no Designate).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from lifeboat_shared.cloud import CloudProject, InvalidInput, LifeboatTag, NotFound, models

from .conftest import Janitor
from .simadmin import SimAdmin
from .targets import Target

pytestmark = pytest.mark.conformance


@pytest_asyncio.fixture
async def dns(cloud: CloudProject) -> CloudProject:
    """The project, once its catalog proves it has Designate."""
    info = await cloud.check_auth()
    if not info.has_service("dns"):
        pytest.skip("the target's catalog has no 'dns' service (no Designate)")
    return cloud


def _zone_name(run_id: str) -> str:
    return f"conf-{run_id}-{uuid.uuid4().hex[:6]}.lifeboat.test."


@pytest_asyncio.fixture
async def zone(dns: CloudProject, run_id: str) -> AsyncIterator[models.Zone]:
    made = await dns.dns.create_zone(_zone_name(run_id), "dr-admin@lifeboat.test", wait=True)
    yield made
    await dns.dns.delete_zone(made.id, wait=True)


def _sdk_records(cloud: CloudProject, zone_id: str, name: str) -> list[tuple[str, list[str]]]:
    """What plain openstacksdk sees, to check the driver against an independent reader."""
    conn: Any = cloud.context.conn
    return [
        (rs.id, sorted(rs.records))
        for rs in conn.dns.recordsets(zone_id, name=name, type="A")
        if rs.name == name
    ]


async def test_zone_create_and_find_are_idempotent(
    dns: CloudProject, janitor: Janitor, run_id: str, make_tag: Callable[[str], LifeboatTag]
) -> None:
    name = _zone_name(run_id)
    assert await dns.dns.find_zone(name) is None
    tag = make_tag("zone")
    first = await dns.dns.create_zone(
        name, "dr-admin@lifeboat.test", ttl=600, description="dr zone", tag=tag, wait=True
    )
    janitor.add("zone", lambda: dns.dns.delete_zone(first.id, wait=True))
    assert first.name == name
    assert first.status == "ACTIVE"
    assert first.ttl == 600
    assert first.email == "dr-admin@lifeboat.test"
    assert first.description is not None
    assert first.description.startswith("dr zone")
    assert tag.matches_marks(first.description)
    again = await dns.dns.create_zone(name, "dr-admin@lifeboat.test", tag=tag)
    assert again.id == first.id
    # Same zone written differently (upper case, no trailing dot) is the same zone.
    again2 = await dns.dns.create_zone(name.upper().rstrip("."), "dr-admin@lifeboat.test")
    assert again2.id == first.id
    found = await dns.dns.find_zone(name.rstrip("."))
    assert found is not None
    assert found.id == first.id
    assert [z.id for z in await dns.dns.list_zones() if z.name == name] == [first.id]
    assert [z.id for z in await dns.dns.list_zones(name=name)] == [first.id]
    await dns.dns.delete_zone(first.id, wait=True)
    assert await dns.dns.find_zone(name) is None
    with pytest.raises(NotFound):
        await dns.dns.get_zone(first.id)
    await dns.dns.delete_zone(first.id)  # already gone: not an error


async def test_upsert_a_record_is_idempotent_and_repoints(
    dns: CloudProject, zone: models.Zone
) -> None:
    name = f"app.{zone.name}"
    made = await dns.dns.upsert_recordset(zone.id, name, "A", ["192.0.2.10"], wait=True)
    assert (made.name, made.type, made.records) == (name, "A", ("192.0.2.10",))
    assert made.zone_id == zone.id
    assert made.status == "ACTIVE"

    # The same upsert again sends nothing: same recordset, not updated.
    same = await dns.dns.upsert_recordset(zone.id, name, "A", ["192.0.2.10"])
    assert same.id == made.id
    assert same.updated_at == made.updated_at
    assert same.status == "ACTIVE"

    # Failover: re-point the name at the DR address; still one recordset, new IP only.
    moved = await dns.dns.upsert_recordset(
        zone.id, name.upper().rstrip("."), "A", ["198.51.100.7"], wait=True
    )
    assert moved.id == made.id
    assert moved.records == ("198.51.100.7",)
    assert moved.status == "ACTIVE"
    assert moved.updated_at != made.updated_at
    again = await dns.dns.upsert_recordset(zone.id, name, "A", ["198.51.100.7"])
    assert again.updated_at == moved.updated_at
    listed = await dns.dns.list_recordsets(zone.id, name=name, type="A")
    assert [(r.id, r.records) for r in listed] == [(made.id, ("198.51.100.7",))]
    assert _sdk_records(dns, zone.id, name) == [(made.id, ["198.51.100.7"])]

    # Two addresses, then a TTL change alone: both are updates of the same recordset.
    two = await dns.dns.upsert_recordset(
        zone.id, name, "A", ["198.51.100.8", "198.51.100.7"], wait=True
    )
    assert two.id == made.id
    assert sorted(two.records) == ["198.51.100.7", "198.51.100.8"]
    same_two = await dns.dns.upsert_recordset(zone.id, name, "A", ["198.51.100.7", "198.51.100.8"])
    assert same_two.updated_at == two.updated_at  # order of records does not matter
    ttl = await dns.dns.upsert_recordset(
        zone.id, name, "A", ["198.51.100.7", "198.51.100.8"], ttl=120, wait=True
    )
    assert ttl.ttl == 120
    assert ttl.updated_at != two.updated_at

    # The zone's own SOA/NS recordsets are there too; a name filter keeps only ours.
    everything = await dns.dns.list_recordsets(zone.id)
    assert {r.type for r in everything} >= {"A", "SOA", "NS"}
    assert [r.id for r in await dns.dns.list_recordsets(zone.id, type="a")] == [made.id]

    await dns.dns.delete_recordset(zone.id, made.id, wait=True)
    assert await dns.dns.list_recordsets(zone.id, name=name) == ()
    with pytest.raises(NotFound):
        await dns.dns.get_recordset(zone.id, made.id)
    await dns.dns.delete_recordset(zone.id, made.id)  # already gone: not an error


async def test_upsert_other_types_and_wildcards(dns: CloudProject, zone: models.Zone) -> None:
    v6 = await dns.dns.upsert_recordset(
        zone.id, f"v6.{zone.name}", "AAAA", ["2001:DB8:0:0::1"], wait=True
    )
    assert v6.records == ("2001:db8::1",)
    same = await dns.dns.upsert_recordset(zone.id, f"v6.{zone.name}", "AAAA", ["2001:db8::1"])
    assert same.updated_at == v6.updated_at
    alias = await dns.dns.upsert_recordset(
        zone.id, f"www.{zone.name}", "CNAME", [f"App.{zone.name}".rstrip(".")]
    )
    assert alias.records == (f"app.{zone.name}",)
    star = await dns.dns.upsert_recordset(zone.id, f"*.{zone.name}", "A", ["192.0.2.1"])
    assert star.name == f"*.{zone.name}"


async def test_bad_input_is_refused_before_calling(dns: CloudProject, zone: models.Zone) -> None:
    email = "dr-admin@lifeboat.test"
    for bad in ("bad..name.", "-lead.lifeboat.test.", "sp ace.test.", "x" * 64 + ".test.", "."):
        with pytest.raises(InvalidInput, match="name"):
            await dns.dns.create_zone(bad, email)
    with pytest.raises(InvalidInput, match="name"):
        await dns.dns.find_zone("under_score-.test.")
    with pytest.raises(InvalidInput, match="email"):
        await dns.dns.create_zone(_zone_name("bad"), "not-an-email")
    with pytest.raises(InvalidInput, match="ttl"):
        await dns.dns.create_zone(_zone_name("bad"), email, ttl=0)
    upsert = dns.dns.upsert_recordset
    with pytest.raises(InvalidInput, match="name"):
        await upsert(zone.id, "a..b.lifeboat.test.", "A", ["192.0.2.1"])
    with pytest.raises(InvalidInput, match="name"):
        await upsert(zone.id, "app.some-other-zone.test.", "A", ["192.0.2.1"])
    with pytest.raises(InvalidInput, match="records"):
        await upsert(zone.id, f"app.{zone.name}", "A", ["300.1.2.3"])
    with pytest.raises(InvalidInput, match="records"):
        await upsert(zone.id, f"app.{zone.name}", "A", ["2001:db8::1"])
    with pytest.raises(InvalidInput, match="records"):
        await upsert(zone.id, f"app.{zone.name}", "A", [])
    with pytest.raises(InvalidInput, match="records"):
        await upsert(zone.id, f"app.{zone.name}", "A", "192.0.2.1")
    with pytest.raises(InvalidInput, match="type"):
        await upsert(zone.id, f"app.{zone.name}", "SOA", ["x"])
    with pytest.raises(InvalidInput, match="ttl"):
        await upsert(zone.id, f"app.{zone.name}", "A", ["192.0.2.1"], ttl=-5)
    assert await dns.dns.list_recordsets(zone.id, name=f"app.{zone.name}") == ()
    with pytest.raises(NotFound):
        await upsert(str(uuid.uuid4()), "app.lifeboat.test.", "A", ["192.0.2.1"])


async def test_upsert_retried_through_503_makes_one_recordset(
    dns: CloudProject, zone: models.Zone, target: Target
) -> None:
    """A create refused with 503 is retried (upsert is idempotent by name and type)."""
    if not target.is_cloudsim or not target.admin_url or not target.admin_token:
        pytest.skip("fault injection needs cloudsim's admin API")
    sim = SimAdmin(target.admin_url, target.admin_token)
    name = f"db.{zone.name}"
    await sim.set_rules([{"operation": "recordset.create", "error_rate": 1.0, "status": 503}])
    try:

        async def clear_soon() -> None:
            await asyncio.sleep(0.2)
            await sim.clear_rules()

        clearing = asyncio.create_task(clear_soon())
        made = await dns.dns.upsert_recordset(zone.id, name, "A", ["192.0.2.20"], wait=True)
        await clearing
    finally:
        await sim.clear_rules()
    assert made.records == ("192.0.2.20",)
    assert _sdk_records(dns, zone.id, name) == [(made.id, ["192.0.2.20"])]

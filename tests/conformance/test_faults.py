"""Retries against injected faults: 429 with Retry-After, 503, a site that is down.

Only cloudsim can be told to fail on demand; against a real cloud these tests skip.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio

from lifeboat_shared.cloud import (
    CloudDriver,
    CloudDriverSettings,
    CloudProject,
    LifeboatTag,
    QuotaExceeded,
    RateLimited,
    Unavailable,
)

from .conftest import BaseNet, Env, Janitor
from .simadmin import SimAdmin
from .targets import Target

pytestmark = pytest.mark.conformance


@pytest_asyncio.fixture
async def sim(target: Target) -> AsyncIterator[SimAdmin]:
    if not target.is_cloudsim or not target.admin_url or not target.admin_token:
        pytest.skip(
            "fault injection needs cloudsim's admin API; a real cloud cannot be told "
            "to fail on demand"
        )
    admin = SimAdmin(target.admin_url, target.admin_token)
    yield admin
    await admin.clear_rules()
    await admin.clear_rate_limit("demo")
    await admin.up()


async def _project(target: Target, **settings: float) -> tuple[CloudDriver, CloudProject]:
    base = target.settings().model_dump()
    base.update(settings)
    drv = CloudDriver([target.site("faulty")], CloudDriverSettings(**base))
    return drv, await drv.project("faulty")


async def _clear_later(sim: SimAdmin, delay: float) -> None:
    await asyncio.sleep(delay)
    await sim.clear_rules()


async def test_429_waits_what_retry_after_says(target: Target, sim: SimAdmin) -> None:
    drv, project = await _project(target, retry_attempts=2, retry_initial_wait=0.01)
    try:
        await project.block_storage.list_volumes()  # connect + discover before the fault
        await sim.set_rules(
            [{"operation": "volume.list", "error_rate": 1.0, "status": 429, "retry_after": 1}]
        )
        started = time.monotonic()
        with pytest.raises(RateLimited) as exc:
            await project.block_storage.list_volumes()
        elapsed = time.monotonic() - started
        # Retry-After is whole seconds on the wire (cloudsim rounds up, as HTTP requires).
        assert exc.value.retry_after == pytest.approx(1.0)
        assert exc.value.status == 429
        # 2 attempts, 1 wait of Retry-After (backoff alone would wait ~0.01 s).
        assert 0.95 <= elapsed < 2.5
    finally:
        await drv.aclose()


async def test_rate_limited_project_still_gets_through(target: Target, sim: SimAdmin) -> None:
    drv, project = await _project(target, retry_attempts=6)
    try:
        await project.block_storage.list_volumes()
        await sim.rate_limit("demo", per_second=4, burst=1)
        started = time.monotonic()
        for _ in range(5):
            await project.block_storage.list_volumes()
        # 5 requests at 4/s with a burst of 1: the driver had to wait for tokens.
        assert time.monotonic() - started >= 0.7
    finally:
        await drv.aclose()


async def test_503_is_retried_until_the_service_is_back(target: Target, sim: SimAdmin) -> None:
    drv, project = await _project(target, retry_attempts=10)
    try:
        await project.network.list_networks()
        await sim.set_rules(
            [{"operation": "network.list", "error_rate": 1.0, "status": 503, "retry_after": 0.2}]
        )
        started = time.monotonic()
        clearer = asyncio.create_task(_clear_later(sim, 0.5))
        nets = await project.network.list_networks()
        await clearer
        assert nets
        assert time.monotonic() - started >= 0.5
    finally:
        await drv.aclose()


async def test_503_exhausts_bounded_attempts(target: Target, sim: SimAdmin) -> None:
    drv, project = await _project(target, retry_attempts=2)
    try:
        await project.network.list_networks()
        await sim.set_rules(
            [{"operation": "network.list", "error_rate": 1.0, "status": 503, "retry_after": 0.1}]
        )
        started = time.monotonic()
        with pytest.raises(Unavailable) as exc:
            await project.network.list_networks()
        assert exc.value.status == 503
        assert exc.value.retry_after == pytest.approx(1.0)
        assert 0.95 <= time.monotonic() - started < 2.5
    finally:
        await drv.aclose()


async def test_tagged_create_is_retried_and_made_once(
    target: Target,
    sim: SimAdmin,
    janitor: Janitor,
    make_tag: Callable[[str], LifeboatTag],
    cloud: CloudProject,
) -> None:
    drv, project = await _project(target, retry_attempts=10)
    try:
        await project.block_storage.list_volumes()
        await sim.set_rules(
            [{"operation": "volume.create", "error_rate": 1.0, "status": 503, "retry_after": 0.2}]
        )
        tag = make_tag("retried")
        clearer = asyncio.create_task(_clear_later(sim, 0.5))
        vol = await project.block_storage.create_volume(1, name="conf-retried", tag=tag)
        await clearer
        janitor.add("volume", lambda: cloud.block_storage.delete_volume(vol.id))
        tagged = [
            v for v in await cloud.block_storage.list_volumes() if tag.matches_metadata(v.metadata)
        ]
        assert [v.id for v in tagged] == [vol.id]
    finally:
        await drv.aclose()


async def test_untagged_create_is_not_retried_on_503(target: Target, sim: SimAdmin) -> None:
    # Without a tag a retry could duplicate the volume if the first attempt did go through,
    # so the driver gives the 503 back at once.
    drv, project = await _project(target, retry_attempts=10)
    try:
        await project.block_storage.list_volumes()
        await sim.set_rules(
            [{"operation": "volume.create", "error_rate": 1.0, "status": 503, "retry_after": 1}]
        )
        started = time.monotonic()
        with pytest.raises(Unavailable):
            await project.block_storage.create_volume(1, name="conf-untagged", wait=False)
        assert time.monotonic() - started < 0.9
    finally:
        await drv.aclose()


@pytest.mark.parametrize("mode", ["503", "refuse"])
async def test_site_down_is_unavailable(target: Target, sim: SimAdmin, mode: str) -> None:
    drv, project = await _project(target, retry_attempts=2, retry_max_wait=0.2)
    try:
        await project.check_auth()
        await sim.down(mode)
        with pytest.raises(Unavailable):
            await project.compute.list_servers()
        await sim.up()
        assert isinstance(await project.compute.list_servers(), tuple)
    finally:
        await drv.aclose()


async def test_quota_errors_of_every_service_are_quota_exceeded(
    target: Target, sim: SimAdmin, cloud: CloudProject, base_net: BaseNet, env: Env
) -> None:
    # Nova says 403 "Quota exceeded", Neutron 409 OverQuota, Cinder 413: all QuotaExceeded.
    from cloudsim.state import DEFAULT_QUOTAS

    image_id = (await cloud.image.list_images())[0].id
    await sim.set_quotas("demo", {"instances": 0, "port": 0, "volumes": 0})
    try:
        with pytest.raises(QuotaExceeded) as nova:
            await cloud.compute.create_server(
                "conf-over-quota", env.flavor.id or "", image_id=image_id, wait=False
            )
        with pytest.raises(QuotaExceeded) as neutron:
            await cloud.network.create_port(base_net.network.id, name="conf-over-quota")
        with pytest.raises(QuotaExceeded) as cinder:
            await cloud.block_storage.create_volume(1, name="conf-over-quota", wait=False)
    finally:
        await sim.set_quotas(
            "demo", {k: DEFAULT_QUOTAS[k] for k in ("instances", "port", "volumes")}
        )
    assert (nova.value.status, neutron.value.status, cinder.value.status) == (403, 409, 413)


async def test_hung_api_times_out_as_unavailable(target: Target, sim: SimAdmin) -> None:
    drv, project = await _project(target, retry_attempts=1, http_timeout=0.3)
    try:
        await project.block_storage.list_volumes()
        await sim.set_rules([{"operation": "volume.list", "latency_ms": 1500}])
        started = time.monotonic()
        with pytest.raises(Unavailable):
            await project.block_storage.list_volumes()
        assert time.monotonic() - started < 2.5
    finally:
        await drv.aclose()


async def test_calls_run_off_the_loop_bounded_per_site(target: Target, sim: SimAdmin) -> None:
    """SDK calls run in the site's thread pool: never more at once than its size, and the
    event loop keeps running meanwhile."""

    async def burst(workers: int) -> tuple[float, int]:
        drv, project = await _project(target, max_workers_per_site=workers)
        try:
            await project.network.list_networks()  # connect and discover first
            ticks = 0

            async def ticker() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            task = asyncio.create_task(ticker())
            started = time.monotonic()
            await asyncio.gather(*(project.network.list_networks() for _ in range(6)))
            elapsed = time.monotonic() - started
            task.cancel()
            return elapsed, ticks
        finally:
            await drv.aclose()

    await sim.set_rules([{"operation": "network.list", "latency_ms": 300}])
    narrow, narrow_ticks = await burst(2)
    wide, _ = await burst(6)
    assert narrow >= 0.9  # 6 calls of 0.3 s, 2 at a time: at least 3 rounds
    assert wide < 1.2  # 6 threads: the calls overlap (one after another would take 1.8 s)
    assert narrow_ticks >= 20  # the loop was never blocked for the duration

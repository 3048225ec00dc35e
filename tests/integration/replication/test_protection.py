"""Protection end to end: ticks -> quiesce -> group snapshot -> changed blocks over an encrypted
link to a receiver process -> replica snapshots -> verified consistency points, between two real
cloudsim sites over openstacksdk, on the embedded default (SQLite + embedded bus) and on Kafka +
PostgreSQL. Consistency is judged by cloudsim's checker, bytes by comparing the files."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import xxhash

from lifeboat_shared.cloud import CloudDriver, SiteConfig
from lifeboat_shared.contracts.messages import QuiesceSpec, RetentionSpec
from tests.integration.replication.harness import (
    SOURCE,
    TARGET,
    CountingProxy,
    Protection,
    make_vm,
    protection,
    wait_until,
    write_random,
)
from tests.support.faults import record_fault

MIB = 1024 * 1024


def _digest(path: str) -> str:
    """Content digest that ignores how the file is allocated: the index and bytes of every
    non-zero 64 KiB block of its data regions (holes and zero blocks read as zeros anyway)."""
    block = 64 * 1024
    zero = bytes(block)
    h = xxhash.xxh3_128()
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fd, pos, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole remains
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            first = start - start % block
            for off in range(first, end, block):
                data = os.pread(fd, block, off)
                if data and data != zero[: len(data)]:
                    h.update(off.to_bytes(8, "little"))
                    h.update(data)
            pos = max(end, first + block)
    finally:
        os.close(fd)
    return h.hexdigest()


def check_cp(p: Protection, cp: dict[str, Any], site: str = TARGET) -> dict[str, Any]:
    """cloudsim's consistency checker over the CP's replica snapshots at the DR site, and the
    replica bytes against the source snapshot bytes."""
    with p.admin(site) as dr, p.admin(SOURCE) as src:
        snaps = {m["volume_id"]: m["replica_snapshot_id"] for m in cp["members"]}
        report = dr.post("/check", json={"snapshots": snaps})
        assert report.status_code == 200, report.text
        for m in cp["members"]:
            a = src.get(f"/snapshots/{m['source_snapshot_id']}").json()["path"]
            b = dr.get(f"/snapshots/{m['replica_snapshot_id']}").json()["path"]
            assert _digest(a) == _digest(b), f"replica of {m['volume_id']} differs from source"
        return dict(report.json())


def gid() -> str:
    return f"g-{uuid.uuid4().hex[:10]}"


async def test_vm_with_guest_agent_gets_application_consistent_cps(tmp_path: Path) -> None:
    async with protection(tmp_path) as p:
        server, vols = await make_vm(p.source, "db", 4)
        with p.admin() as a:
            for v in vols:  # data that stays put, far from the workload's records
                write_random(a.get(f"/volumes/{v}").json()["path"], 4, offset_mib=600)
            started = a.post("/workloads", json={"servers": [server], "rate_per_s": 300})
            started.raise_for_status()
            workload = started.json()["workload_id"]
        group = gid()
        spec = p.spec(
            servers=[server],
            quiesce=QuiesceSpec(method="guest-agent"),
            retention=RetentionSpec(keep_last=1),
        )
        cps = []
        written = 0
        for n in (1, 2):
            written = await _workload_wrote(p, workload, written + 50)  # records for this CP
            await p.tick(group, spec)
            cp = (await p.wait_cps(group, n, timeout=60) if n == 1 else await _next(p, group, cps))[
                -1
            ]
            assert cp["consistency"] == "application"
            assert sorted(m["volume_id"] for m in cp["members"]) == sorted(vols)
            report = check_cp(p, cp)
            assert report["crash_consistent"] and report["application_consistent"], report
            assert report["ends_at_quiesce_mark"] and not report["violations"], report
            assert report["records_found"] > 0
            cps.append(cp)
        assert cps[1]["taken_at"] > cps[0]["taken_at"]
        # the second CP sent what changed since the first (the site's snapshot diff), no more
        changed = sum(m["bytes_changed"] for m in cps[1]["members"])
        allocated = 0
        with p.admin() as a:
            for v in vols:
                allocated += a.get(f"/volumes/{v}").json()["allocated_bytes"]
        assert 0 < changed < allocated / 2, (changed, allocated)
        assert cps[1]["bytes_sent"] <= 1.05 * changed + 64 * 1024
        # replica volumes were created once, not per cycle
        assert {m["replica_volume_id"] for m in cps[0]["members"]} == {
            m["replica_volume_id"] for m in cps[1]["members"]
        }
        created = await p.outbox("ConsistencyPointCreated")
        assert sorted(e["consistency_point_id"] for e in created) == sorted(c["id"] for c in cps)
        usage = await p.outbox("UsageRecorded")
        assert {u["metric"] for u in usage} == {"replicated_bytes", "stored_gb_hours"}
        (stored,) = [u for u in usage if u["metric"] == "stored_gb_hours"]
        assert stored["usage_id"] == f"stored_gb_hours-{cps[1]['id']}"
        assert stored["unit"] == "GB*h" and stored["resource_id"] == group
        # the replica volumes plus the first CP's changed bytes (retained while the second ran)
        kept = sum(m["size_gib"] for m in cps[1]["members"]) * 1024**3
        kept += sum(m["bytes_changed"] for m in cps[0]["members"])
        hours = (
            datetime.fromisoformat(stored["period_end"])
            - datetime.fromisoformat(stored["period_start"])
        ).total_seconds() / 3600
        assert abs(float(stored["quantity"]) - kept / 1e9 * hours) < 1e-5
        # retention keeps the newest CP only: the first one's snapshots go at both sites
        for _ in range(100):
            if await p.outbox("ConsistencyPointPruned"):
                break
            await asyncio.sleep(0.1)
        (pruned,) = await p.outbox("ConsistencyPointPruned")
        assert pruned["consistency_point_id"] == cps[0]["id"]
        assert [c["id"] for c in await p.cps(group)] == [cps[1]["id"]]
        left = {s.id for s in await p.source.block_storage.list_snapshots()}
        assert left == {m["source_snapshot_id"] for m in cps[1]["members"]}


async def _workload_wrote(p: Protection, workload: str, at_least: int) -> int:
    """Wait until the guest workload has written `at_least` records; returns its last seq."""
    deadline = time.monotonic() + 30
    with p.admin() as a:
        while True:
            seq = int(a.get(f"/workloads/{workload}").json()["last_seq"])
            if seq >= at_least:
                return seq
            assert time.monotonic() < deadline, f"workload at {seq} of {at_least} records"
            await asyncio.sleep(0.05)


async def _next(p: Protection, group: str, seen: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Wait for a CP newer than those seen (retention may already have pruned older ones)."""
    known = {c["id"] for c in seen}
    for _ in range(600):
        fresh = [c for c in await p.cps(group) if c["id"] not in known]
        if fresh:
            return fresh
        await asyncio.sleep(0.1)
    raise AssertionError(f"no new CP; cycles: {await p.cycles(group)}")


async def test_quiesce_failing_on_two_of_three_vms_names_both_everywhere(
    tmp_path: Path,
) -> None:
    async with protection(tmp_path) as p:
        vms = [await make_vm(p.source, f"web-{i}", 1) for i in range(3)]
        servers = [s for s, _ in vms]
        failing = [servers[0], servers[2]]  # the first fails too: nothing stops at it
        with p.admin() as a:
            for server in failing:
                a.put(f"/servers/{server}/guest", json={"fail_quiesce": True}).raise_for_status()
        # rule 1: fall back to crash-consistent, and say so
        fallback = gid()
        await p.tick(
            fallback,
            p.spec(servers=servers, quiesce=QuiesceSpec(method="guest-agent")),
        )
        (cp,) = await p.wait_cps(fallback, 1)
        assert cp["consistency"] == "crash" and len(cp["members"]) == 3
        assert check_cp(p, cp)["crash_consistent"]
        assert [f["server_id"] for f in cp["quiesce_failures"]] == failing
        assert all(0 < len(f["reason"]) <= 300 for f in cp["quiesce_failures"])
        assert "quiesce failed on 2 of 3 servers" in cp["consistency_reason"]
        (cycle,) = await p.cycles(fallback)
        assert cycle["status"] == "succeeded" and cycle["consistency"] == "crash"
        assert cycle["quiesce_failures"] == cp["quiesce_failures"]
        assert cycle["consistency_reason"] == cp["consistency_reason"]
        (created,) = [
            e
            for e in await p.outbox("ConsistencyPointCreated")
            if e["consistency_point_id"] == cp["id"]
        ]
        assert [f["server_id"] for f in created["quiesce_failures"]] == failing
        # rule 2: skip the cycle (after one retry), and say so
        skip = gid()
        await p.tick(
            skip,
            p.spec(
                servers=servers,
                quiesce=QuiesceSpec(method="guest-agent", on_failure="retry", retries=1),
            ),
        )
        done = await p.wait_cycle(skip, lambda c: c["status"] in ("skipped", "succeeded"))
        assert done["status"] == "skipped" and "quiesce" in (done["error"] or "").lower()
        assert [f["server_id"] for f in done["quiesce_failures"]] == failing
        assert await p.cps(skip) == []
        alerts = {a["group_id"]: a for a in await p.outbox("QuiesceFailed")}
        for group in (fallback, skip):
            assert alerts[group]["failed_servers"] == sorted(failing)
            assert [f["server_id"] for f in alerts[group]["failures"]] == failing
            assert all(s in alerts[group]["reason"] for s in failing)
        assert alerts[fallback]["outcome"] == "fell-back-to-crash-consistent"
        assert alerts[skip]["outcome"] == "cycle-skipped" and alerts[skip]["rule"] == "retry"
        failed = [e for e in await p.outbox("ConsistencyPointFailed") if e["group_id"] == skip]
        assert failed and failed[0]["stage"] == "quiesce"
        # the metric counts each failing VM once per cycle
        metrics = (await p.client.get("/metrics")).text
        for group in (fallback, skip):
            line = f'lifeboat_quiesce_failures_total{{group_id="{group}"}} 2.0'
            assert line in metrics, [m for m in metrics.splitlines() if "quiesce" in m]
        # nothing half-done: the per-VM snapshots of the refused attempts were removed
        left = {s.id for s in await p.source.block_storage.list_snapshots()}
        assert left == {m["source_snapshot_id"] for m in cp["members"]}


async def test_suspend_mid_transfer_then_resume_sends_nothing_twice(tmp_path: Path) -> None:
    async with protection(tmp_path) as p:
        server, (vol,) = await make_vm(p.source, "bulk", 1)
        with p.admin() as a:
            path = a.get(f"/volumes/{vol}").json()["path"]
        write_random(path, 48)  # 48 MiB of incompressible data to move: 6 s at 8 MiB/s
        group = gid()
        await p.tick(group, p.spec(servers=[server], bandwidth_bytes_per_s=8 * MIB))
        await p.wait_cycle(group, lambda c: c["stage"] == "transfer")
        # Suspend once a quarter is on the wire: a resume that started over would then exceed
        # the 10 % allowance below.
        await wait_until(lambda: p.proxy.bytes_up >= 12 * MIB, "12 MiB on the wire")
        await p.suspend(group)
        paused = await p.wait_cycle(group, lambda c: c["status"] in ("paused", "succeeded"))
        assert paused["status"] == "paused" and paused["stage"] == "transfer", paused
        await wait_until(lambda: p.proxy.relaying == 0, "the paused sender's link drained")
        at_pause = p.proxy.bytes_up
        assert 12 * MIB <= at_pause < 48 * MIB, f"{at_pause} bytes: not mid-transfer"
        # A suspended group sends nothing more. Not "wait a second and see": another group's
        # cycle, over its own counted link, runs to its CP on the same runner meanwhile.
        await _cycle_beside(p, tmp_path)
        assert p.proxy.bytes_up == at_pause, "a suspended group kept sending"
        assert p.proxy.refused == 0
        assert await p.cps(group) == []
        await p.resume(group)
        (cp,) = await p.wait_cps(group, 1, timeout=90)
        changed = cp["members"][0]["bytes_changed"]
        assert changed >= 48 * MIB
        assert p.proxy.bytes_up <= 1.1 * changed, (p.proxy.bytes_up, changed)
        check_cp(p, cp)


async def _cycle_beside(p: Protection, tmp_path: Path) -> None:
    """One CP of a small new group, sent through a link of its own (a second counting proxy to
    the same receiver): proof that the runner claimed and drove work to the end."""
    other = CountingProxy(p.proxy.upstream)
    try:
        server, (vol,) = await make_vm(p.source, "beside", 1)
        with p.admin() as a:
            write_random(a.get(f"/volumes/{vol}").json()["path"], 2)
        spec = p.spec(servers=[server])
        spec = spec.model_copy(
            update={"target": spec.target.model_copy(update={"data_endpoint": other.endpoint})}
        )
        group = gid()
        await p.tick(group, spec)
        await p.wait_cps(group, 1, timeout=90)
        assert other.bytes_up >= 2 * MIB, "the other group's data went by its own link"
    finally:
        other.close()


async def test_link_partition_mid_transfer_resumes_by_itself(tmp_path: Path) -> None:
    async with protection(tmp_path) as p:
        server, (vol,) = await make_vm(p.source, "bulk", 1)
        with p.admin() as a:
            path = a.get(f"/volumes/{vol}").json()["path"]
        write_random(path, 32)  # 4 s at 8 MiB/s
        group = gid()
        await p.tick(group, p.spec(servers=[server], bandwidth_bytes_per_s=8 * MIB))
        await p.wait_cycle(group, lambda c: c["stage"] == "transfer")
        await wait_until(lambda: p.proxy.bytes_up >= 8 * MIB, "8 MiB on the wire")
        p.proxy.cut()
        at_cut = p.proxy.bytes_up
        # The partition lasts until the sender has felt it: it tried to reconnect and was
        # turned away (not a fixed time, which a slow machine could sleep through unnoticed).
        await wait_until(lambda: p.proxy.refused >= 1, "a reconnect refused during the cut")
        p.proxy.restore()
        (cp,) = await p.wait_cps(group, 1, timeout=90)
        cycles = await p.cycles(group)
        changed = cp["members"][0]["bytes_changed"]
        resent = p.proxy.bytes_up - changed
        survived = len(cycles) == 1 and cycles[0]["status"] == "succeeded"
        record_fault(
            "replication link partition mid-transfer",
            tried=1,
            survived=int(survived),
            lost=0 if survived else 1,
            detail=f"cut at {at_cut / MIB:.1f} MiB of {changed / MIB:.1f}; "
            f"{resent / MIB:.1f} MiB sent again",
        )
        assert 8 * MIB <= at_cut < changed, "cut mid-transfer"
        check_cp(p, cp)
        assert survived, cycles
        # resumed where it was: a full resync would send the first quarter again (> 10 %)
        assert p.proxy.bytes_up <= 1.1 * changed, (p.proxy.bytes_up, changed)


async def test_wrong_link_key_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    other_key = tmp_path / "other.psk"
    other_key.write_text(uuid.uuid4().hex + uuid.uuid4().hex + "\n")
    async with protection(
        tmp_path, receiver_env={"LIFEBOAT_REPLICATOR_LINK_PSK_FILE": str(other_key)}
    ) as p:
        server, _ = await make_vm(p.source, "x", 1)
        group = gid()
        await p.tick(group, p.spec(servers=[server]))
        failed = await p.wait_cycle(group, lambda c: c["status"] in ("failed", "succeeded"))
        assert failed["status"] == "failed" and failed["attempts"] == 1, failed
        assert "authentication" in (failed["error"] or ""), failed
        assert await p.cps(group) == []
        with p.admin(TARGET) as dr:
            for v in failed["volumes"]:
                if v["replica_volume_id"]:
                    info = dr.get(f"/volumes/{v['replica_volume_id']}").json()
                    assert info["allocated_bytes"] == 0


async def test_seeded_replica_gets_only_the_differences(tmp_path: Path) -> None:
    """UC5c: the DR copy starts from a volume restored at the DR site (a shipped disk); hashes
    prove what it already holds and only the differences travel. Replicating back for reprotect
    is the same path with the sites swapped and the original volume as the seed."""
    async with protection(tmp_path) as p:
        server, (vol,) = await make_vm(p.source, "seeded", 1)
        dr_driver = CloudDriver(
            [SiteConfig(name=TARGET, cloud=TARGET, clouds_yaml=p.sites.clouds_yaml)]
        )
        try:
            dr = await dr_driver.project(TARGET)
            seed = (await dr.block_storage.create_volume(1, name="shipped-disk")).id
        finally:
            await dr_driver.aclose()
        with p.admin(SOURCE) as src, p.admin(TARGET) as dst:
            src_path = src.get(f"/volumes/{vol}").json()["path"]
            write_random(src_path, 24)
            shutil.copyfile(src_path, dst.get(f"/volumes/{seed}").json()["path"])  # the shipment
        write_random(src_path, 2, offset_mib=101)  # written after the disk was shipped
        group = gid()
        await p.tick(group, p.spec(servers=[server], seed_volumes={vol: seed}))
        (cp,) = await p.wait_cps(group, 1)
        (member,) = cp["members"]
        assert member["replica_volume_id"] == seed
        assert p.proxy.bytes_up < 3.5 * 1024 * 1024, p.proxy.bytes_up  # 2 MiB + hash manifests
        check_cp(p, cp)

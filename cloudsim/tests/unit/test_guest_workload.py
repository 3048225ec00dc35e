"""Guest agents and workloads: freeze/thaw, injected quiesce failures, blocked writes, marks."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from cloudsim.blockstore import BlockStore
from cloudsim.guest import GuestAgent, QuiesceError, Workload, WorkloadVolume
from cloudsim.guest.checker import scan_volume
from cloudsim.guest.records import RECORD_SIZE

MiB = 1024**2


def _db_workload(tmp_path: Path, rate: float = 500.0) -> tuple[BlockStore, Workload, GuestAgent]:
    store = BlockStore(tmp_path)
    vols = [
        WorkloadVolume("db", "log", store.create_volume("log", 2 * MiB), "log"),
        WorkloadVolume("db", "data", store.create_volume("data", 2 * MiB), "data"),
    ]
    agent = GuestAgent("db")
    return store, Workload("w-db", vols, rate_per_s=rate, agents={"db": agent}), agent


def _wait_for(cond: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_quiesce_failure_raises_and_leaves_guest_running(tmp_path: Path) -> None:
    _, workload, agent = _db_workload(tmp_path)
    workload.start()
    try:
        agent.fail_quiesce(True)
        with pytest.raises(QuiesceError, match="failed to freeze"):
            agent.freeze()
        assert not agent.frozen
        seq = workload.last_seq
        _wait_for(lambda: workload.last_seq > seq + 5)  # still writing
        agent.fail_quiesce(False)
        agent.freeze()
        assert agent.frozen
        agent.thaw()
    finally:
        workload.close()


def test_disabled_agent_cannot_freeze() -> None:
    agent = GuestAgent("vm", enabled=False)
    with pytest.raises(QuiesceError, match="no guest agent"):
        agent.freeze()


def test_freeze_blocks_writes_and_leaves_a_mark(tmp_path: Path) -> None:
    store, workload, agent = _db_workload(tmp_path)
    # A second guest's workload at the same rate is the clock: "nothing written while frozen"
    # is judged once it has written 50 records since the freeze, not after a fixed time.
    clock = Workload(
        "w-clock",
        [WorkloadVolume("other", "clock", store.create_volume("clock", 2 * MiB))],
        rate_per_s=500.0,
        agents={"other": GuestAgent("other")},
    )
    workload.start()
    clock.start()
    try:
        _wait_for(lambda: workload.last_seq >= 10)
        agent.freeze()
        frozen_at = workload.last_seq
        status = workload.status()
        assert status["quiesce_marks"] == 1
        ticks = clock.last_seq
        _wait_for(lambda: clock.last_seq >= ticks + 50)
        assert workload.last_seq == frozen_at  # nothing written while frozen
        assert workload.status()["paused"] is True
        agent.freeze()  # idempotent: no second mark
        assert workload.status()["quiesce_marks"] == 1
        agent.thaw()
        _wait_for(lambda: workload.last_seq > frozen_at + 5)
    finally:
        workload.stop()
        clock.close()
    records = [
        r
        for path in (tmp_path / "volumes").glob("*.img")
        if path.stem != "clock"
        for r in scan_volume(path)[0]
    ]
    marks = sorted(r.seq for r in records if r.is_quiesce_mark)
    assert marks == [frozen_at - 1, frozen_at]  # one mark per volume, the last writes
    assert sorted(r.seq for r in records) == list(range(1, workload.last_seq + 1))


def test_multi_vm_workload_marks_only_when_all_servers_frozen(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    vols = [
        WorkloadVolume("web", "w", store.create_volume("w", MiB)),
        WorkloadVolume("db", "d", store.create_volume("d", MiB)),
    ]
    agents = {"web": GuestAgent("web"), "db": GuestAgent("db")}
    workload = Workload("app", vols, rate_per_s=1000, agents=agents)
    workload.start()
    try:
        _wait_for(lambda: workload.last_seq >= 4)
        agents["web"].freeze()
        assert workload.status()["quiesce_marks"] == 0
        agents["db"].freeze()
        assert workload.status()["quiesce_marks"] == 1
        agents["web"].thaw()
        agents["db"].thaw()
    finally:
        workload.close()


def test_ring_wraps_and_rate_is_respected(tmp_path: Path) -> None:
    store = BlockStore(tmp_path)
    path = store.create_volume("v", MiB)
    vol = WorkloadVolume(
        "vm", "v", path, region_offset=8 * RECORD_SIZE, region_bytes=16 * RECORD_SIZE
    )
    workload = Workload("ring", [vol], rate_per_s=200, agents={})
    began = time.monotonic()
    workload.start()
    _wait_for(lambda: workload.last_seq >= 60)  # the 16-slot ring wrapped more than 3 times
    workload.stop()
    elapsed = time.monotonic() - began
    # never faster than 200/s over the time it really ran (a slow machine can only lower it)
    assert workload.last_seq <= 200 * elapsed + 2, (workload.last_seq, elapsed)
    data = path.read_bytes()
    assert data[: 8 * RECORD_SIZE] == bytes(8 * RECORD_SIZE)  # nothing before the region
    assert data[24 * RECORD_SIZE :] == bytes(len(data) - 24 * RECORD_SIZE)  # nor after it
    records, corrupt = scan_volume(path)
    assert corrupt == []
    assert sorted(r.seq for r in records) == list(
        range(workload.last_seq - 15, workload.last_seq + 1)
    )


def test_bad_workload_arguments(tmp_path: Path) -> None:
    path = tmp_path / "v.img"
    with open(path, "wb") as f:
        f.truncate(MiB)
    ok = WorkloadVolume("vm", "v", path)
    with pytest.raises(ValueError, match="rate_per_s"):
        Workload("w", [ok], rate_per_s=0, agents={})
    with pytest.raises(ValueError, match="workload_id"):
        Workload("w" * 40, [ok], rate_per_s=1, agents={})
    with pytest.raises(ValueError, match="distinct"):
        Workload("w", [ok, ok], rate_per_s=1, agents={})
    with pytest.raises(ValueError, match="region_offset"):
        Workload("w", [WorkloadVolume("vm", "v", path, region_offset=10)], rate_per_s=1, agents={})
    with pytest.raises(FileNotFoundError):
        Workload("w", [WorkloadVolume("vm", "v", tmp_path / "missing")], rate_per_s=1, agents={})
    assert os.path.getsize(path) == MiB

"""The consistency checker: torn copies fail, one-instant snapshots pass, marks are recognised."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cloudsim.blockstore import BlockStore
from cloudsim.guest import GuestAgent, Workload, WorkloadVolume, check_consistency
from cloudsim.guest.checker_cli import checker_app
from cloudsim.guest.records import RECORD_SIZE

MiB = 1024**2
VOLUMES = [("db", "log"), ("db", "data"), ("web", "data")]


class App:
    def __init__(self, root: Path) -> None:
        self.store = BlockStore(root / "store")
        self.root = root
        self.agents = {"db": GuestAgent("db"), "web": GuestAgent("web")}
        self.ids = [f"vol{i}" for i in range(len(VOLUMES))]
        vols = [
            WorkloadVolume(server, vid, self.store.create_volume(vid, 2 * MiB), role)
            for vid, (server, role) in zip(self.ids, VOLUMES, strict=True)
        ]
        self.workload = Workload("app-1", vols, rate_per_s=1000, agents=self.agents)

    def wait_seq(self, n: int) -> None:
        deadline = time.monotonic() + 5
        while self.workload.last_seq < n:
            assert time.monotonic() < deadline
            time.sleep(0.005)

    def snapshot(self, tag: str) -> dict[str, Path]:
        self.store.create_snapshots({f"{tag}-{v}": v for v in self.ids})
        return {v: self.store.snapshot_path(f"{tag}-{v}") for v in self.ids}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    a = App(tmp_path)
    a.workload.start()
    try:
        yield a
    finally:
        a.workload.close()


def test_snapshot_at_one_instant_is_crash_consistent(app: App) -> None:
    app.wait_seq(30)
    copies = app.snapshot("s")
    app.wait_seq(app.workload.last_seq + 10)
    app.workload.stop()
    report = check_consistency(copies, expected_last_seq=app.workload.last_seq)
    assert report.crash_consistent, report.violations
    assert not report.application_consistent
    assert report.last_seq >= 30
    assert report.missing_records == app.workload.last_seq - report.last_seq >= 10
    assert report.records_found == report.last_seq
    # volumes restored from those snapshots hold the same consistent prefix
    for v in app.ids:
        app.store.create_volume_from_snapshot(f"dr-{v}", f"s-{v}", 2 * MiB)
    restored = check_consistency({v: app.store.volume_path(f"dr-{v}") for v in app.ids})
    assert restored.crash_consistent
    assert restored.last_seq == report.last_seq


def test_copies_taken_at_different_instants_are_flagged(app: App, tmp_path: Path) -> None:
    app.wait_seq(20)
    torn: dict[str, Path] = {}
    for v in app.ids:  # one volume after the other while the workload keeps writing
        torn[v] = tmp_path / f"torn-{v}.img"
        shutil.copyfile(app.store.volume_path(v), torn[v])
        app.wait_seq(app.workload.last_seq + 6)
    report = check_consistency(torn)
    assert not report.crash_consistent
    assert not report.application_consistent
    assert any("write order violated" in v for v in report.violations)
    assert report.workloads[0].records_lost_before_last > 0


def test_frozen_snapshot_is_application_consistent(app: App) -> None:
    app.wait_seq(20)
    app.agents["db"].freeze()
    app.agents["web"].freeze()
    try:
        copies = app.snapshot("q")
    finally:
        app.agents["db"].thaw()
        app.agents["web"].thaw()
    report = check_consistency(copies)
    assert report.crash_consistent
    assert report.application_consistent
    assert report.ends_at_quiesce_mark
    assert report.workloads[0].last_quiesce_seq == report.last_seq
    # a subset (the database VM's two volumes) is checked on its own
    db_only = check_consistency({v: copies[v] for v in app.ids[:2]})
    assert db_only.crash_consistent
    assert db_only.workloads[0].volumes_checked == 2


def test_torn_record_and_duplicate_volume_are_reported(app: App, tmp_path: Path) -> None:
    app.wait_seq(10)
    copies = app.snapshot("c")
    app.workload.stop()
    damaged = tmp_path / "damaged.img"
    shutil.copyfile(copies["vol0"], damaged)
    fd = os.open(damaged, os.O_WRONLY)
    try:
        os.pwrite(fd, b"\xff" * 100, RECORD_SIZE + 1000)  # inside the second record
    finally:
        os.close(fd)
    report = check_consistency({"vol0": damaged, "vol1": copies["vol1"], "vol2": copies["vol2"]})
    assert report.corrupt_records == 1
    assert not report.crash_consistent
    dup = check_consistency({"a": copies["vol0"], "b": copies["vol0"]})
    assert not dup.crash_consistent
    assert any("both hold" in v for v in dup.violations)


def test_empty_volumes_and_bad_arguments(tmp_path: Path) -> None:
    empty = tmp_path / "empty.img"
    with open(empty, "wb") as f:
        f.truncate(MiB)
    report = check_consistency({"e": empty}, expected_last_seq=5)
    assert report.crash_consistent
    assert report.last_seq == 0
    assert report.missing_records == 5
    with pytest.raises(ValueError, match="at least one"):
        check_consistency({})


def test_cli_exit_codes_and_json(app: App, tmp_path: Path) -> None:
    app.wait_seq(10)
    copies = app.snapshot("cli")
    app.workload.stop()
    runner = CliRunner()
    args = [f"{name}={path}" for name, path in copies.items()]
    ok = runner.invoke(
        checker_app, [*args, "--json", "--expected-last-seq", str(app.workload.last_seq)]
    )
    assert ok.exit_code == 0, ok.output
    body = json.loads(ok.output)
    assert body["crash_consistent"] is True
    assert body["missing_records"] == app.workload.last_seq - body["last_seq"]
    table = runner.invoke(checker_app, args)
    assert table.exit_code == 0
    assert "crash consistent" in table.output
    not_app = runner.invoke(checker_app, [*args, "--require-application"])
    assert not_app.exit_code == 1
    bad = runner.invoke(checker_app, [str(tmp_path / "missing.img")])
    assert bad.exit_code == 2
    assert "not a file" in bad.output

"""Consistency checker: do copies of a workload's volumes hold one prefix of its write sequence?

Crash consistency: if record N is present, every earlier record is (on the volumes given). The
newest record present (highest ``seq``) carries the high-water vector: how many records each volume
had received when it was written. A copy is a prefix iff each given volume holds exactly its
records up to that mark, contiguously (within its ring window), and nothing newer. Copies of
volumes taken at different instants fail this: a later copy holds records whose vector demands
records the earlier copy lacks.

Application consistency: the copy is crash-consistent and its newest record is a quiesce mark,
i.e. it was taken while every server of the workload was frozen.

Only the volumes given are checked: records destined to volumes not in the set are ignored, so a
DB VM's two volumes can be checked without the rest of its application. Record layout: records.py.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path

from pydantic import BaseModel, Field

from cloudsim.blockstore.extents import data_regions
from cloudsim.guest.records import RECORD_SIZE, Record, RecordError, decode, has_magic

_CHUNK = 4 * 1024 * 1024


class VolumeFinding(BaseModel):
    name: str
    path: str
    workload_id: str
    volume_index: int
    server_id: str
    volume_id: str
    role: str
    records: int
    first_lseq: int
    last_lseq: int
    last_seq: int


class WorkloadConsistency(BaseModel):
    workload_id: str
    volume_count: int
    volumes_checked: int
    crash_consistent: bool
    application_consistent: bool
    ends_at_quiesce_mark: bool
    last_seq: int
    last_quiesce_seq: int | None
    records_lost_before_last: int
    violations: list[str] = Field(default_factory=list)


class ConsistencyReport(BaseModel):
    crash_consistent: bool
    application_consistent: bool
    ends_at_quiesce_mark: bool
    last_seq: int
    expected_last_seq: int | None
    missing_records: int | None  # records the source wrote after this copy's point
    records_found: int
    corrupt_records: int
    violations: list[str] = Field(default_factory=list)
    workloads: list[WorkloadConsistency] = Field(default_factory=list)
    volumes: list[VolumeFinding] = Field(default_factory=list)


def scan_volume(path: Path) -> tuple[list[Record], list[int]]:
    """All valid records of a file, and the offsets of blocks that look like torn records."""
    records: list[Record] = []
    corrupt: list[int] = []
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        for start, end in data_regions(fd, size):
            pos = start - start % RECORD_SIZE
            while pos < end:
                chunk = os.pread(fd, min(_CHUNK, end - pos + RECORD_SIZE), pos)
                usable = len(chunk) - len(chunk) % RECORD_SIZE
                view = memoryview(chunk)
                for off in range(0, usable, RECORD_SIZE):
                    block = view[off : off + RECORD_SIZE]
                    if not has_magic(block):
                        continue
                    try:
                        records.append(decode(block))
                    except RecordError:
                        corrupt.append(pos + off)
                if usable == 0:
                    break
                pos += usable
    finally:
        os.close(fd)
    return records, corrupt


def _check_workload(
    wid: str, per_volume: dict[int, tuple[str, list[Record]]], violations: list[str]
) -> WorkloadConsistency:
    newest = max((r for _, recs in per_volume.values() for r in recs), key=lambda r: r.seq)
    lost = 0
    for vidx, (name, recs) in sorted(per_volume.items()):
        recs.sort(key=lambda r: r.lseq)
        lseqs = [r.lseq for r in recs]
        if len(set(lseqs)) != len(lseqs):
            violations.append(f"{name}: several records claim the same volume position")
        if any(b.seq <= a.seq for a, b in pairwise(recs)):
            violations.append(f"{name}: record order on the volume contradicts the global order")
        last = lseqs[-1]
        window = min(last, recs[-1].slots)
        missing = set(range(last - window + 1, last + 1)) - set(lseqs)
        if missing:
            lost += len(missing)
            violations.append(
                f"{name} (volume {vidx}, {recs[-1].role}): {len(missing)} of its last {window} "
                f"records are missing (e.g. volume record {min(missing)})"
            )
        need = newest.vector[vidx] if vidx < len(newest.vector) else 0
        if last < need:
            lost += need - last
            violations.append(
                f"{name} (volume {vidx}, {recs[-1].role}) ends at its record {last} but record "
                f"seq {newest.seq} was written after its record {need}: write order violated"
            )
        elif last > need:
            violations.append(
                f"{name} (volume {vidx}) holds record {last}, newer than the newest record "
                f"(seq {newest.seq}) allows ({need}): mixed copies"
            )
    marks = [r.seq for _, recs in per_volume.values() for r in recs if r.is_quiesce_mark]
    crash = not violations
    return WorkloadConsistency(
        workload_id=wid,
        volume_count=newest.volume_count,
        volumes_checked=len(per_volume),
        crash_consistent=crash,
        application_consistent=crash and newest.is_quiesce_mark,
        ends_at_quiesce_mark=newest.is_quiesce_mark,
        last_seq=newest.seq,
        last_quiesce_seq=max(marks) if marks else None,
        records_lost_before_last=lost,
        violations=violations,
    )


def check_consistency(
    volumes: Mapping[str, Path],
    *,
    expected_last_seq: int | None = None,
    workload_id: str | None = None,
) -> ConsistencyReport:
    """Check copies of volumes (name -> file). ``expected_last_seq``: the source's last seq."""
    if not volumes:
        raise ValueError("volumes must name at least one volume file")
    if expected_last_seq is not None and expected_last_seq < 0:
        raise ValueError("expected_last_seq must be >= 0")
    by_workload: dict[str, dict[int, tuple[str, list[Record]]]] = {}
    violations: dict[str, list[str]] = {}
    findings: list[VolumeFinding] = []
    corrupt_total = 0
    found = 0
    general: list[str] = []
    for name, path in volumes.items():
        records, corrupt = scan_volume(Path(path))
        corrupt_total += len(corrupt)
        if corrupt:
            general.append(
                f"{name}: {len(corrupt)} torn or corrupt record(s), first at {corrupt[0]}"
            )
        groups: dict[tuple[str, int], list[Record]] = {}
        for r in records:
            if workload_id is None or r.workload_id == workload_id:
                groups.setdefault((r.workload_id, r.volume_index), []).append(r)
        for (wid, vidx), recs in groups.items():
            found += len(recs)
            per_volume = by_workload.setdefault(wid, {})
            if vidx in per_volume:
                violations.setdefault(wid, []).append(
                    f"{name} and {per_volume[vidx][0]} both hold volume {vidx} of workload {wid}"
                )
                continue
            per_volume[vidx] = (name, recs)
            last = max(recs, key=lambda r: r.lseq)
            findings.append(
                VolumeFinding(
                    name=name,
                    path=str(path),
                    workload_id=wid,
                    volume_index=vidx,
                    server_id=last.server_id,
                    volume_id=last.volume_id,
                    role=last.role,
                    records=len(recs),
                    first_lseq=min(r.lseq for r in recs),
                    last_lseq=last.lseq,
                    last_seq=max(r.seq for r in recs),
                )
            )
    workloads = [
        _check_workload(wid, per_volume, violations.setdefault(wid, []))
        for wid, per_volume in sorted(by_workload.items())
    ]
    if expected_last_seq is not None and len(workloads) > 1:
        raise ValueError("expected_last_seq needs workload_id: the volumes hold several workloads")
    last_seq = max((w.last_seq for w in workloads), default=0)
    missing: int | None = None
    if expected_last_seq is not None:
        missing = expected_last_seq - last_seq
        if missing < 0:
            general.append(
                f"the copy holds seq {last_seq}, newer than the source's last seq "
                f"{expected_last_seq}"
            )
    all_violations = general + [v for w in workloads for v in w.violations]
    crash = not all_violations
    ends = bool(workloads) and all(w.ends_at_quiesce_mark for w in workloads)
    return ConsistencyReport(
        crash_consistent=crash,
        application_consistent=crash and ends,
        ends_at_quiesce_mark=ends,
        last_seq=last_seq,
        expected_last_seq=expected_last_seq,
        missing_records=missing,
        records_found=found,
        corrupt_records=corrupt_total,
        violations=all_violations,
        workloads=workloads,
        volumes=findings,
    )

"""Workload: a guest application writing ordered, checksummed records across several volumes.

Think of a database VM with a log and a data volume, or the VMs of one application: each data
record goes to the next volume in turn (log, data, log, data, ...) with a global ``seq``, so any
copy of the volumes can be checked for write order. Records are written straight to the volume
files through their paths, like a guest writing its disks; each write is bracketed by the store's
write fence, so ``BlockStore.create_snapshots`` sees one instant across all volumes.

A write whose volume belongs to a frozen server waits until that server is thawed. When every
server of the workload is frozen, the workload writes a quiesce mark on each volume before
``GuestAgent.freeze`` returns: a copy whose newest record is a mark is application-consistent.
Volumes are rings (``slots`` records each) so a long run never fills a volume. A server without
a guest agent never quiesces, so a workload spanning it never leaves a mark (as in real life).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from cloudsim.blockstore.fence import WRITE_FENCE
from cloudsim.guest.agent import GuestAgent
from cloudsim.guest.records import (
    KIND_DATA,
    KIND_QUIESCE,
    MAX_VOLUMES,
    RECORD_SIZE,
    Record,
    encode,
)

DEFAULT_REGION_BYTES = 16 * 1024 * 1024
WAKE_SECONDS = 0.1
"""A writer sleeps at least this long between wake-ups and then writes every record that fell
due meanwhile (each on its own, in order): the same rate, far fewer thread wake-ups (100 writers
at 20 MB/s of 4 KiB records woke 5,000 times a second)."""


@dataclass(frozen=True)
class WorkloadVolume:
    """One volume the workload writes: ``role`` is informational ("log", "data", ...).

    Records go to ``[region_offset, region_offset + region_bytes)`` (default: the first 16 MiB),
    so a boot volume's image can stay intact by choosing an offset past it.
    """

    server_id: str
    volume_id: str
    path: Path
    role: str = "data"
    region_offset: int = 0
    region_bytes: int | None = None


@dataclass
class _Slotted:
    spec: WorkloadVolume
    slots: int
    fd: int = -1
    lseq: int = 0


def _check_text(value: str, limit: int, field: str) -> None:
    if not value or len(value.encode()) > limit:
        raise ValueError(f"{field} must be 1..{limit} bytes of UTF-8, got {value!r}")


class Workload:
    """Writes records at ``rate_per_s`` in a background thread between ``start`` and ``stop``."""

    def __init__(
        self,
        workload_id: str,
        volumes: Sequence[WorkloadVolume],
        *,
        rate_per_s: float,
        agents: Mapping[str, GuestAgent],
    ) -> None:
        _check_text(workload_id, 32, "workload_id")
        if not 1 <= len(volumes) <= MAX_VOLUMES:
            raise ValueError(f"volumes must list 1..{MAX_VOLUMES} volumes, got {len(volumes)}")
        if not 0 < rate_per_s <= 100_000:
            raise ValueError(f"rate_per_s must be in (0, 100000], got {rate_per_s}")
        self.workload_id = workload_id
        self.rate_per_s = float(rate_per_s)
        self._vols = [self._slotted(v) for v in volumes]
        paths = [os.path.realpath(v.spec.path) for v in self._vols]
        if len(set(paths)) != len(paths):
            raise ValueError("volumes must be distinct files")
        self._servers = list(dict.fromkeys(v.server_id for v in volumes))
        self._agents = {s: agents[s] for s in self._servers if s in agents}
        self._cond = threading.Condition(threading.RLock())
        self._seq = 0
        self._data = 0
        self._marks = 0
        self._marked = False
        self._error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        for agent in self._agents.values():
            agent.add_listener(self)

    @staticmethod
    def _slotted(v: WorkloadVolume) -> _Slotted:
        _check_text(v.server_id, 48, "server_id")
        _check_text(v.volume_id, 48, "volume_id")
        _check_text(v.role, 16, "role")
        size = Path(v.path).stat().st_size
        if v.region_offset < 0 or v.region_offset % RECORD_SIZE:
            raise ValueError(f"region_offset must be a non-negative multiple of {RECORD_SIZE}")
        span = v.region_bytes if v.region_bytes is not None else DEFAULT_REGION_BYTES
        span = min(span, size - v.region_offset)
        slots = span // RECORD_SIZE
        if slots < 1:
            raise ValueError(
                f"volume {v.volume_id}: region at {v.region_offset} holds no {RECORD_SIZE}-byte "
                f"record (file size {size})"
            )
        return _Slotted(v, slots)

    # -- life cycle ------------------------------------------------------------------------
    @property
    def last_seq(self) -> int:
        with self._cond:
            return self._seq

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        with self._cond:
            if self.running:
                raise RuntimeError(f"workload {self.workload_id} is already running")
            for v in self._vols:
                if v.fd < 0:
                    v.fd = os.open(v.spec.path, os.O_RDWR)
            self._stop.clear()
            self._error = None
            self._thread = threading.Thread(
                target=self._run, name=f"workload-{self.workload_id}", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        """Stop writing; the last record is complete on disk when this returns."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        with self._cond:
            for v in self._vols:
                if v.fd >= 0:
                    os.close(v.fd)
                    v.fd = -1

    def close(self) -> None:
        """Stop and detach from the guest agents."""
        self.stop()
        for agent in self._agents.values():
            agent.remove_listener(self)

    # -- writing ---------------------------------------------------------------------------
    def _run(self) -> None:
        interval = 1.0 / self.rate_per_s
        due = time.monotonic()
        while not self._stop.is_set():
            with self._cond:
                target = self._data % len(self._vols)
                while not self._stop.is_set() and self._blocked(target):
                    self._cond.wait(0.05)
                if self._stop.is_set():
                    break
                try:
                    self._write(KIND_DATA, target, 0)
                except OSError as exc:
                    self._error = f"write to {self._vols[target].spec.path} failed: {exc}"
                    break
                self._data += 1
                self._marked = False
            due += interval
            now = time.monotonic()
            if due < now - 1.0:  # fell behind (frozen, slow disk): do not burst to catch up
                due = now
            if due > now:
                self._stop.wait(max(due - now, WAKE_SECONDS))

    def _blocked(self, target: int) -> bool:
        agent = self._agents.get(self._vols[target].spec.server_id)
        return agent is not None and (agent.frozen or not agent.powered)

    def _write(self, kind: int, index: int, mark_id: int) -> None:
        v = self._vols[index]
        self._seq += 1
        v.lseq += 1
        rec = Record(
            kind=kind,
            volume_index=index,
            volume_count=len(self._vols),
            slots=v.slots,
            seq=self._seq,
            lseq=v.lseq,
            written_at_ns=time.time_ns(),
            mark_id=mark_id,
            workload_id=self.workload_id,
            server_id=v.spec.server_id,
            volume_id=v.spec.volume_id,
            role=v.spec.role,
            vector=tuple(x.lseq for x in self._vols),
        )
        offset = v.spec.region_offset + ((v.lseq - 1) % v.slots) * RECORD_SIZE
        with WRITE_FENCE.writing([v.spec.path]):
            os.pwrite(v.fd, encode(rec), offset)

    # -- guest agent callbacks -------------------------------------------------------------
    def guest_frozen(self, agent: GuestAgent) -> None:
        """Called by a freezing agent: once every server is frozen, leave a quiesce mark."""
        with self._cond:  # waits for an in-flight record to complete
            quiesced = len(self._agents) == len(self._servers) and all(
                a.frozen for a in self._agents.values()
            )
            if not quiesced or self._marked or any(v.fd < 0 for v in self._vols):
                return
            self._marks += 1
            try:
                for index in range(len(self._vols)):
                    self._write(KIND_QUIESCE, index, self._marks)
            except OSError as exc:
                self._error = f"quiesce mark failed: {exc}"
                return
            self._marked = True

    def guest_thawed(self, agent: GuestAgent) -> None:
        with self._cond:
            self._cond.notify_all()

    def status(self) -> dict[str, object]:
        with self._cond:
            paused = self.running and self._blocked(self._data % len(self._vols))
            return {
                "workload_id": self.workload_id,
                "running": self.running,
                "paused": paused,
                "rate_per_s": self.rate_per_s,
                "last_seq": self._seq,
                "data_records": self._data,
                "quiesce_marks": self._marks,
                "error": self._error,
                "volumes": [
                    {
                        "server_id": v.spec.server_id,
                        "volume_id": v.spec.volume_id,
                        "role": v.spec.role,
                        "path": str(v.spec.path),
                        "records": v.lseq,
                        "slots": v.slots,
                    }
                    for v in self._vols
                ],
            }

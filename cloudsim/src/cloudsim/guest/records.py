"""On-disk layout of workload records: what the checker reads back from (copies of) volumes.

Every record is one 4096-byte block, written with a single aligned ``pwrite``::

    off  size  field
    0    8     magic b"CSWLREC1"
    8    2     layout version (1), u16 little-endian (all integers are little-endian)
    10   1     kind: 1 = data record, 2 = quiesce mark
    11   1     reserved (0)
    12   4     volume_index: this volume's position in the workload (0-based)
    16   4     volume_count: volumes in the workload (<= 64)
    20   4     slots: records this volume's ring holds before it wraps
    24   8     seq: global write order across all volumes and VMs of the workload (1-based)
    32   8     lseq: this volume's own write counter (1-based); slot = (lseq - 1) % slots
    40   8     written_at_ns (wall clock, informational)
    48   8     mark_id: the quiesce number of a mark (0 for data records)
    56   32    workload_id, UTF-8, NUL-padded
    88   48    server_id, UTF-8, NUL-padded
    136  48    volume_id (of the source volume), UTF-8, NUL-padded
    184  16    role (e.g. "log", "data"), UTF-8, NUL-padded
    200  512   high-water vector: for each volume u of the workload, u64 lseq of the last record
               written to u up to and including this one (unused entries 0)
    712  3376  payload: the seq repeated (so a block from another record cannot pass as this one)
    4088 8     xxh64 of bytes [0, 4088)

The vector is what makes crash consistency checkable on any subset of volumes: the newest record
present says exactly how many records each volume must hold for the copy to be a prefix.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import xxhash

RECORD_SIZE = 4096
MAGIC = b"CSWLREC1"
VERSION = 1
KIND_DATA = 1
KIND_QUIESCE = 2
MAX_VOLUMES = 64
_HEAD = struct.Struct("<8sHBxIII QQQQ 32s48s48s16s")
_VECTOR_OFF = 200
_PAYLOAD_OFF = _VECTOR_OFF + 8 * MAX_VOLUMES
_SUM_OFF = RECORD_SIZE - 8
assert _HEAD.size == _VECTOR_OFF


class RecordError(ValueError):
    """A block carries the record magic but is not a whole, valid record (torn or corrupt)."""


@dataclass(frozen=True)
class Record:
    kind: int
    volume_index: int
    volume_count: int
    slots: int
    seq: int
    lseq: int
    written_at_ns: int
    mark_id: int
    workload_id: str
    server_id: str
    volume_id: str
    role: str
    vector: tuple[int, ...]

    @property
    def is_quiesce_mark(self) -> bool:
        return self.kind == KIND_QUIESCE


def _text(value: str, size: int, field: str) -> bytes:
    raw = value.encode()
    if len(raw) > size:
        raise ValueError(f"{field} {value!r} is longer than {size} bytes")
    return raw


def encode(rec: Record) -> bytes:
    if not 1 <= rec.volume_count <= MAX_VOLUMES or len(rec.vector) != rec.volume_count:
        raise ValueError("volume_count must be 1..64 and match the vector")
    head = _HEAD.pack(
        MAGIC,
        VERSION,
        rec.kind,
        rec.volume_index,
        rec.volume_count,
        rec.slots,
        rec.seq,
        rec.lseq,
        rec.written_at_ns,
        rec.mark_id,
        _text(rec.workload_id, 32, "workload_id"),
        _text(rec.server_id, 48, "server_id"),
        _text(rec.volume_id, 48, "volume_id"),
        _text(rec.role, 16, "role"),
    )
    vector = struct.pack(f"<{MAX_VOLUMES}Q", *rec.vector, *([0] * (MAX_VOLUMES - len(rec.vector))))
    filler = rec.seq.to_bytes(8, "little") * ((_SUM_OFF - _PAYLOAD_OFF) // 8)
    body = head + vector + filler
    return body + xxhash.xxh64_intdigest(body).to_bytes(8, "little")


def has_magic(block: bytes | memoryview) -> bool:
    return bytes(block[:8]) == MAGIC


def decode(block: bytes | memoryview) -> Record:
    """Parse one 4096-byte block; raises :class:`RecordError` when it is torn or corrupt."""
    if len(block) != RECORD_SIZE or not has_magic(block):
        raise RecordError("not a record")
    body = bytes(block[:_SUM_OFF])
    if xxhash.xxh64_intdigest(body).to_bytes(8, "little") != bytes(block[_SUM_OFF:]):
        raise RecordError("checksum mismatch")
    (_, version, kind, vidx, vcount, slots, seq, lseq, at, mark, wid, sid, vid, role) = (
        _HEAD.unpack_from(body)
    )
    if version != VERSION or kind not in (KIND_DATA, KIND_QUIESCE):
        raise RecordError(f"unknown layout version {version} or kind {kind}")
    if not 1 <= vcount <= MAX_VOLUMES or vidx >= vcount or slots < 1 or seq < 1 or lseq < 1:
        raise RecordError("header fields out of range")
    vector = struct.unpack_from(f"<{vcount}Q", body, _VECTOR_OFF)
    return Record(
        kind=kind,
        volume_index=vidx,
        volume_count=vcount,
        slots=slots,
        seq=seq,
        lseq=lseq,
        written_at_ns=at,
        mark_id=mark,
        workload_id=wid.rstrip(b"\0").decode(errors="replace"),
        server_id=sid.rstrip(b"\0").decode(errors="replace"),
        volume_id=vid.rstrip(b"\0").decode(errors="replace"),
        role=role.rstrip(b"\0").decode(errors="replace"),
        vector=tuple(vector),
    )

"""Message types and layouts of the data mover protocol (version 1), shared by both ends.

Control messages are small JSON objects; the data path is binary (see README "Protocol").
"""

from __future__ import annotations

import json
import re
import struct
from typing import Any

import xxhash

from .errors import ProtocolError

# frame types
HELLO = 1  # s->r JSON: transfer_id, target, size, mode, params_hash, chunk_size
WELCOME = 2  # r->s JSON: status new|resume|complete, next_seq, digest, bytes_done
REJECT = 3  # r->s JSON: code, message
GROUP_HASHES = 4  # s->r: u64 first group + u64[] source group hashes (seed mode)
GROUP_DIFF = 5  # r->s: repeated (u64 group, 16 x u64 target block hashes) for differing groups
HASHES_END = 6  # either direction: end of a hash stream
DATA = 7  # s->r: DATA_HEAD + piece table; a PAYLOAD frame follows if wire length > 0
ACK = 8  # r->s: ACK_BODY
END = 9  # s->r: END_BODY
DONE = 10  # r->s: 16-byte digest
PAYLOAD = 11  # s->r: the chunk's data (raw or zstd), its own sealed frame

# DATA flags
F_ZSTD = 0x01  # payload is zstd-compressed

DATA_HEAD = struct.Struct("<QIIIQ")  # seq, pieces, raw payload length, wire payload length, xxh3
PIECE = struct.Struct("<QIB")  # offset, length, kind
PIECE_DATA = 0
PIECE_ZERO = 1
ACK_BODY = struct.Struct("<QQ")  # next_seq (all below are durable), bytes written so far
END_BODY = struct.Struct("<Q16s")  # chunk count, chain digest
GROUP_DIFF_ENTRY = struct.Struct("<Q16Q")

MODES = ("extents", "manifest", "seed")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

ZERO_DIGEST = bytes(16)


def valid_transfer_id(tid: str) -> bool:
    """Transfer ids name journal files, so they are restricted to a safe alphabet."""
    return bool(_ID_RE.match(tid))


def chain(prev: bytes, seq: int, table: bytes | memoryview, payload_hash: int) -> bytes:
    """Running digest over the chunks: xxh3-128(prev | seq | xxh3-64(data) | piece table)."""
    h = xxhash.xxh3_128(prev)
    h.update(struct.pack("<QQ", seq, payload_hash))
    h.update(table)
    return h.digest()


def dumps(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def loads(data: bytes | memoryview) -> dict[str, Any]:
    try:
        obj = json.loads(bytes(data))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"malformed control message: {exc}") from exc
    if not isinstance(obj, dict):
        raise ProtocolError("control message is not an object")
    return obj

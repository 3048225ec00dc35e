"""Turn one planned chunk (byte ranges) into a DATA frame's plaintext, in a reused buffer.

Layout in the buffer: [HDR room | DATA_HEAD | piece table][payload at TABLE_ROOM ...]. The payload
is read straight into its final place (page-aligned), so the plaintext handed to AES-GCM is one
contiguous view and the raw data is never copied in user space except when compressed. Holes (by
SEEK_DATA) and all-zero 64 KiB windows become ZERO pieces that carry no payload.
"""

from __future__ import annotations

from dataclasses import dataclass

import zstandard

from .blocks import (
    GROUP,
    TABLE_ROOM,
    DataMap,
    aligned_buffer,
    hash64,
    is_zero,
    read_exact,
)
from .plan import Chunk
from .protocol import DATA_HEAD, F_ZSTD, PIECE, PIECE_DATA, PIECE_ZERO

_SAMPLE = 64 * 1024
_Z16 = bytes(16)


@dataclass
class Prepared:
    prefix: bytes  # DATA_HEAD + piece table: the DATA frame
    payload: memoryview  # the PAYLOAD frame (may be empty)
    flags: int
    table: bytes  # piece table (part of the chain digest)
    payload_hash: int
    range_bytes: int  # bytes of the volume this chunk covers
    data_bytes: int  # raw payload bytes (non-zero data)


class ChunkBuilder:
    def __init__(self, fd: int, dmap: DataMap, chunk_size: int, compress: bool) -> None:
        self.fd = fd
        self.dmap = dmap
        self.buf, self.mv = aligned_buffer(TABLE_ROOM + chunk_size)
        self._zc = zstandard.ZstdCompressor(level=1) if compress else None
        self.bytes_read = 0
        self.incompressible_streak = 0

    def build(self, seq: int, chunk: Chunk, for_wire: bool = True) -> Prepared:
        mv = self.mv
        pieces: list[list[int]] = []  # [offset, length, kind]
        w = TABLE_ROOM
        total = 0

        def add(off: int, ln: int, kind: int) -> None:
            if pieces and pieces[-1][2] == kind and pieces[-1][0] + pieces[-1][1] == off:
                pieces[-1][1] += ln
            else:
                pieces.append([off, ln, kind])

        for off, ln in chunk:
            total += ln
            for o, n, is_data in self.dmap.split(off, ln):
                if not is_data:
                    add(o, n, PIECE_ZERO)
                    continue
                r = w
                read_exact(self.fd, mv[r : r + n], o)
                self.bytes_read += n
                # walk 64 KiB windows aligned to the volume; drop all-zero ones, compact the rest
                pos = o
                while pos < o + n:
                    stop = min((pos // GROUP + 1) * GROUP, o + n)
                    wl = stop - pos
                    src = r + (pos - o)
                    view = mv[src : src + wl]
                    # cheap test first: real data almost never starts with 16 zero bytes
                    if wl >= 4096 and view[:16] == _Z16 and is_zero(view):
                        add(pos, wl, PIECE_ZERO)
                    else:
                        if w != src:
                            mv[w : w + wl] = view
                        add(pos, wl, PIECE_DATA)
                        w += wl
                    pos = stop
        n_raw = w - TABLE_ROOM
        payload = mv[TABLE_ROOM:w]
        h = hash64(payload) if n_raw else 0
        table = b"".join(PIECE.pack(p[0], p[1], p[2]) for p in pieces)
        flags = 0
        n_wire = n_raw
        if for_wire and self._zc is not None and n_raw >= 4096:
            n_wire, flags = self._maybe_compress(payload, n_raw)
        head = DATA_HEAD.pack(seq, len(pieces), n_raw, n_wire, h)
        data_bytes = sum(p[1] for p in pieces if p[2] == PIECE_DATA)
        payload = mv[TABLE_ROOM : TABLE_ROOM + n_wire]
        return Prepared(head + table, payload, flags, table, h, total, data_bytes)

    def _maybe_compress(self, payload: memoryview, n_raw: int) -> tuple[int, int]:
        """zstd level 1 if a 64 KiB sample shrinks by >= 10%; else raw (costs ~2 us/MiB to test).

        After 8 incompressible chunks in a row only every 8th chunk is sampled.
        """
        assert self._zc is not None
        self.incompressible_streak += 1
        if self.incompressible_streak > 8 and self.incompressible_streak % 8:
            return n_raw, 0
        sample = payload[:_SAMPLE]
        if len(self._zc.compress(sample)) > 0.9 * len(sample):
            return n_raw, 0
        packed = self._zc.compress(payload)
        if len(packed) >= n_raw:
            return n_raw, 0
        self.incompressible_streak = 0
        self.mv[TABLE_ROOM : TABLE_ROOM + len(packed)] = packed
        return len(packed), F_ZSTD

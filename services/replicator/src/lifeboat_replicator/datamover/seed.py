"""Seeding (UC5c): find what differs between the source and a target restored at the DR site.

One round trip: the sender streams its 64 KiB group hashes; the receiver hashes the same groups of
the target (holes cost nothing: they hash like zeros without being read) and answers, for the
groups that differ only, the 16 block hashes; the sender then sends only the differing 4 KiB
blocks. An all-zero source group over a target hole therefore costs 8 bytes on the wire.
"""

from __future__ import annotations

import struct
from array import array

from . import protocol as P
from .acks import rejection
from .blocks import BLOCK, GROUP, GROUP_BLOCKS, DataMap, aligned_buffer, hash64
from .channel import Channel
from .errors import ProtocolError
from .manifest import Manifest
from .plan import (
    WINDOW,
    Chunk,
    Source,
    as_source,
    blocks_to_ranges,
    chunk_plan,
    group_block_hashes,
    hash_source,
)
from .ports import BlockSource, read_many

_PER_FRAME = 512 * 1024  # group hashes per GROUP_HASHES frame (4 MiB)
_DIFF_PER_FRAME = 4096


def seed_plan(
    ch: Channel, src: Source, size: int, dmap: DataMap, chunk_size: int, with_blocks: bool
) -> tuple[list[Chunk], Manifest | None, int]:
    """Sender side. Returns (chunks, manifest of the source if with_blocks, bytes read)."""
    src = as_source(src)
    groups, blocks, read = hash_source(src, size, dmap, with_blocks)
    raw = groups.tobytes()
    for i in range(0, len(groups), _PER_FRAME):
        ch.send(P.GROUP_HASHES, struct.pack("<Q", i) + raw[8 * i : 8 * (i + _PER_FRAME)])
    ch.send(P.HASHES_END, b"")
    changed: list[int] = []
    _, mv = aligned_buffer(GROUP)
    while True:
        ftype, _, body = ch.recv()
        if ftype == P.HASHES_END:
            break
        if ftype == P.REJECT:
            raise rejection(P.loads(body))
        if ftype != P.GROUP_DIFF or len(body) % P.GROUP_DIFF_ENTRY.size:
            raise ProtocolError(f"expected GROUP_DIFF, got frame type {ftype}")
        for entry in P.GROUP_DIFF_ENTRY.iter_unpack(body):
            g, theirs = entry[0], entry[1:]
            if g >= len(groups):
                raise ProtocolError(f"receiver named group {g} beyond the volume")
            b0 = g * GROUP_BLOCKS
            if blocks is not None:
                mine = list(blocks[b0 : b0 + GROUP_BLOCKS])
            else:
                mine = group_block_hashes(src, size, g, mv)
                read += min(GROUP, size - g * GROUP)
            changed.extend(b0 + j for j, h in enumerate(mine) if h != theirs[j])
    changed.sort()
    manifest = Manifest(size, blocks, groups) if blocks is not None else None
    return chunk_plan(blocks_to_ranges(changed, size), chunk_size, dmap), manifest, read


def answer_seed(ch: Channel, target: BlockSource | int, size: int) -> None:
    """Receiver side: read the sender's group hashes, answer block hashes of differing groups
    (the target is hashed like a source: its holes are not read)."""
    target = as_source(target)
    ngroups = -(-size // GROUP)
    theirs = array("Q", bytes(8 * ngroups))
    while True:
        ftype, _, body = ch.recv()
        if ftype == P.HASHES_END:
            break
        if ftype != P.GROUP_HASHES or len(body) < 8 or (len(body) - 8) % 8:
            raise ProtocolError(f"expected GROUP_HASHES, got frame type {ftype}")
        (first,) = struct.unpack_from("<Q", body)
        part = array("Q")
        part.frombytes(bytes(body[8:]))
        if first + len(part) > ngroups:
            raise ProtocolError("group hashes beyond the volume size")
        theirs[first : first + len(part)] = part
    mine, _, _ = hash_source(target, size, DataMap(target, size), with_blocks=False)
    _, mv = aligned_buffer(WINDOW)
    out: list[bytes] = []
    differ = [g for g in range(ngroups) if mine[g] != theirs[g]]
    per = WINDOW // GROUP
    for i in range(0, len(differ), per):  # one read_many per batch: a librbd target overlaps
        batch = differ[i : i + per]
        spans = [(g * GROUP, min(GROUP, size - g * GROUP)) for g in batch]
        read_many(target, [(a, mv[k * GROUP : k * GROUP + n]) for k, (a, n) in enumerate(spans)])
        for k, (g, (_, n)) in enumerate(zip(batch, spans, strict=True)):
            view = mv[k * GROUP : k * GROUP + n]
            hs = [hash64(view[j : min(j + BLOCK, n)]) for j in range(0, n, BLOCK)]
            hs += [0] * (GROUP_BLOCKS - len(hs))
            out.append(P.GROUP_DIFF_ENTRY.pack(g, *hs))
            if len(out) >= _DIFF_PER_FRAME:
                ch.send(P.GROUP_DIFF, b"".join(out))
                out.clear()
    if out:
        ch.send(P.GROUP_DIFF, b"".join(out))
    ch.send(P.HASHES_END, b"")

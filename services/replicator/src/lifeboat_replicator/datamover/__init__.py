"""Lifeboat's data mover: stream changed volume data from the protected site to the DR site.

Pure data path (no cloud calls): the replicator resolves snapshots and attachments to local paths
or BlockSource/BlockTarget adapters (librbd), then calls `send_volume` (protected site) against a
`Receiver` (DR site). See README.md here for
the design, the wire protocol and benchmark figures.
"""

from __future__ import annotations

from .blocks import Extent
from .errors import (
    AuthenticationFailed,
    IntegrityError,
    LinkDown,
    ProtocolError,
    TargetRejected,
    TransferCancelled,
    TransferError,
)
from .files import FileSource, FileTarget
from .manifest import Manifest
from .ports import BlockSource, BlockTarget
from .security import LinkSecurity
from .sender import TransferStats, send_volume
from .server import Receiver, main
from .targets import DirectoryTargets
from .throttle import TokenBucket

__all__ = [
    "AuthenticationFailed",
    "BlockSource",
    "BlockTarget",
    "DirectoryTargets",
    "Extent",
    "FileSource",
    "FileTarget",
    "IntegrityError",
    "LinkDown",
    "LinkSecurity",
    "Manifest",
    "ProtocolError",
    "Receiver",
    "TargetRejected",
    "TokenBucket",
    "TransferCancelled",
    "TransferError",
    "TransferStats",
    "main",
    "send_volume",
]

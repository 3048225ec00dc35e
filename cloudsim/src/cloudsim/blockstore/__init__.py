"""cloudsim's volume data: sparse volume files, digest-tracked snapshots, chained backups.

See :mod:`cloudsim.blockstore.store` for the layout and why snapshots work the way they do.
"""

from cloudsim.blockstore.errors import (
    BlockStoreError,
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
)
from cloudsim.blockstore.fence import WRITE_FENCE, WriteFence
from cloudsim.blockstore.store import BlockStore

__all__ = [
    "WRITE_FENCE",
    "BlockStore",
    "BlockStoreError",
    "ConflictError",
    "InvalidArgumentError",
    "NotFoundError",
    "WriteFence",
]

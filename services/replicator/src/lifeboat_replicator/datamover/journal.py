"""The receiver's per-transfer journal: how far the replica is durably written.

One small JSON file per transfer id in the state dir, replaced atomically (tmp + fsync + rename +
fsync of the directory) and only after the target's data up to `next_seq` was fsync'd, so after a
crash of either process (or the host) the journal never claims more than the disk holds.
`params_hash` ties the id to one request: the same id with other parameters is refused.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class JournalEntry:
    transfer_id: str
    params_hash: str
    target: str
    next_seq: int = 0  # chunks [0, next_seq) are durable on the target
    digest: str = "00" * 16  # chain digest after chunk next_seq - 1
    bytes_done: int = 0  # range bytes covered by those chunks
    complete: bool = False
    updated: float = 0.0


class Journal:
    def __init__(self, state_dir: Path) -> None:
        self.dir = Path(state_dir)
        self.dir.mkdir(parents=True, exist_ok=True)

    def path(self, transfer_id: str) -> Path:
        return self.dir / f"{transfer_id}.journal.json"

    def load(self, transfer_id: str) -> JournalEntry | None:
        try:
            data = json.loads(self.path(transfer_id).read_text())
            return JournalEntry(**data)
        except FileNotFoundError:
            return None
        except (ValueError, TypeError):
            return None  # a torn/foreign file: start over rather than trust it

    def save(self, entry: JournalEntry) -> None:
        entry.updated = time.time()
        path = self.path(entry.transfer_id)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps(asdict(entry)).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        dfd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

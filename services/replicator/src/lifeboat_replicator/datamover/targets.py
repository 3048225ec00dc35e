"""Target resolvers: map a sender's target name to a writable local path at the DR site.

The receiver never trusts the name: resolvers decide. `DirectoryTargets` is the plain-file one
(cloudsim volumes, tests, benchmarks); the replicator plugs in a Cinder-attachment resolver.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import TargetRejected

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


class DirectoryTargets:
    """Targets are files directly under `root`; names with '/', '..', or odd characters are refused.

    A missing file is created sparse at the volume size; a smaller one is extended (sparse).
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, name: str) -> Path:
        if not _NAME.match(name) or ".." in name:
            raise TargetRejected(
                f"target name {name!r} is not a plain file name (letters, digits, . _ -)"
            )
        path = (self.root / name).resolve()
        if path.parent != self.root:
            raise TargetRejected(f"target name {name!r} escapes the targets directory")
        return path

    @contextmanager
    def __call__(self, name: str, size: int) -> Iterator[Path]:
        path = self.path_for(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < size:
                os.ftruncate(fd, size)
        finally:
            os.close(fd)
        yield path

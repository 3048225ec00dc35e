"""Reaching a Ceph cluster with librbd: access settings, a connection cache, the lazy import.

`rados`/`rbd` come from Debian (python3-rados, python3-rbd: not on PyPI) and are imported only
when first needed, so the replicator imports on hosts without them.
"""

from __future__ import annotations

import atexit
import errno
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class RbdUnavailable(ImportError):
    """librbd's Python bindings are not importable here."""


def librbd() -> tuple[Any, Any]:
    """The `rados` and `rbd` modules (RbdUnavailable naming the packages if missing)."""
    try:
        import rados
        import rbd
    except ImportError as exc:
        raise RbdUnavailable(
            "Ceph RBD access needs librbd's Python bindings: install Debian's python3-rados and "
            "python3-rbd (apt-get install python3-rados python3-rbd) and make them importable "
            f"in this environment (bash deploy/ceph/ceph-local.sh python-shim VENV): {exc}"
        ) from exc
    return rados, rbd


def oserror(exc: BaseException, what: str) -> OSError:
    """A librados/librbd error as an OSError (the data mover's I/O error type)."""
    code = abs(getattr(exc, "errno", None) or errno.EIO)
    return OSError(code, f"{what}: {exc or os.strerror(code)}")


@dataclass(frozen=True)
class RbdAccess:
    """How to reach one cluster: its ceph.conf, a cephx id (without "client.") and its keyring,
    and the pools this access may touch."""

    ceph_conf: Path
    user: str
    keyring: Path
    pools: list[str] = field(default_factory=lambda: ["volumes"])

    def __post_init__(self) -> None:
        if not self.user or self.user.startswith("client."):
            raise ValueError(f"user {self.user!r}: give the cephx id without 'client.'")

    def check_pool(self, pool: str) -> None:
        if pool not in self.pools:
            raise ValueError(f"pool {pool!r} is not one of this access's pools {self.pools}")


OP_TIMEOUT_SECONDS = 60


class RbdConnections:
    """One connected `rados.Rados` per access (conf, user, keyring), shared by every adapter;
    thread-safe; `close()` shuts them all down."""

    def __init__(self, timeout: float = 20.0) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._clusters: dict[tuple[str, str, str], Any] = {}

    def cluster(self, access: RbdAccess) -> Any:
        key = (str(access.ceph_conf), access.user, str(access.keyring))
        with self._lock:
            found = self._clusters.get(key)
            if found is not None:
                return found
            rados, _ = librbd()
            # Bounded operations: a cluster that stops answering (its site is gone) fails the
            # call instead of hanging a transfer thread forever (librados waits forever by default).
            cluster = rados.Rados(
                conffile=key[0],
                rados_id=access.user,
                conf={
                    "keyring": key[2],
                    "rados_osd_op_timeout": str(OP_TIMEOUT_SECONDS),
                    "rados_mon_op_timeout": str(OP_TIMEOUT_SECONDS),
                },
            )
            try:
                cluster.connect(timeout=self.timeout)
            except rados.Error as exc:
                cluster.shutdown()
                raise ConnectionError(
                    f"cannot connect to Ceph ({key[0]}) as client.{access.user}: {exc}"
                ) from exc
            self._clusters[key] = cluster
            return cluster

    def close(self) -> None:
        with self._lock:
            clusters, self._clusters = list(self._clusters.values()), {}
        for cluster in clusters:
            cluster.shutdown()

    def __enter__(self) -> RbdConnections:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


DEFAULT_CONNECTIONS = RbdConnections()
atexit.register(DEFAULT_CONNECTIONS.close)


def close_connections() -> None:
    """Shut down the default cache's connections (new ones are made on the next use)."""
    DEFAULT_CONNECTIONS.close()


def open_ioctx(access: RbdAccess, pool: str, connections: RbdConnections | None) -> Any:
    access.check_pool(pool)
    cluster = (connections or DEFAULT_CONNECTIONS).cluster(access)
    try:
        return cluster.open_ioctx(pool)
    except librbd()[0].Error as exc:
        raise oserror(exc, f"pool {pool}") from exc


@contextmanager
def opened_image(
    access: RbdAccess,
    pool: str,
    image: str,
    snapshot: str | None,
    connections: RbdConnections | None,
    read_only: bool = True,
) -> Iterator[tuple[Any, Any]]:
    """(ioctx, image) open for the block; both closed after it."""
    ioctx = open_ioctx(access, pool, connections)
    try:
        img = open_image(ioctx, pool, image, snapshot, read_only)
        try:
            yield ioctx, img
        finally:
            img.close()
    finally:
        ioctx.close()


def open_image(ioctx: Any, pool: str, image: str, snapshot: str | None, read_only: bool) -> Any:
    _, rbd = librbd()
    try:
        return rbd.Image(ioctx, image, snapshot=snapshot, read_only=read_only)
    except rbd.Error as exc:
        at = f"@{snapshot}" if snapshot else ""
        raise oserror(exc, f"RBD image {pool}/{image}{at}") from exc

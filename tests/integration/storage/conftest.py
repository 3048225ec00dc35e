"""Two real one-node Ceph clusters (a protected and a recovery site) for the RBD data path tests.

LIFEBOAT_CEPH_A_CONF / LIFEBOAT_CEPH_B_CONF name the ceph.conf of two running clusters (keyrings
client.{admin,lifeboat-reader,lifeboat-writer}.keyring beside them; CI sets them). Otherwise
deploy/ceph/ceph-local.sh starts two clusters in temporary directories and stops them at the end.
Missing Ceph fails the tests with the reason: it is never a reason to skip.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lifeboat_replicator.adapters.rbd_access import RbdAccess, RbdConnections, librbd

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "deploy" / "ceph" / "ceph-local.sh"
# the data mover tests' TCP proxy (links that can be cut), reused as they use it
sys.path.insert(0, str(ROOT / "services" / "replicator" / "tests" / "datamover"))


@dataclass(frozen=True)
class Cluster:
    conf: Path

    def access(self, user: str) -> RbdAccess:
        return RbdAccess(self.conf, user, self.conf.parent / f"client.{user}.keyring")


def _start(workdir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["bash", str(SCRIPT), "start", str(workdir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="session")
def ceph_sites() -> Iterator[tuple[Cluster, Cluster]]:
    librbd()  # RbdUnavailable names the packages to install
    a, b = os.environ.get("LIFEBOAT_CEPH_A_CONF"), os.environ.get("LIFEBOAT_CEPH_B_CONF")
    if a and b:
        yield Cluster(Path(a)), Cluster(Path(b))
        return
    if not SCRIPT.is_file():
        raise RuntimeError(f"no Ceph: set LIFEBOAT_CEPH_A_CONF/_B_CONF or provide {SCRIPT}")
    with tempfile.TemporaryDirectory(prefix="lbceph-dm-") as tmp:
        dirs = [Path(tmp) / "a", Path(tmp) / "b"]
        procs = [_start(d) for d in dirs]
        try:
            confs = []
            for d, p in zip(dirs, procs, strict=True):
                out, err = p.communicate(timeout=300)
                if p.returncode != 0:
                    raise RuntimeError(f"ceph-local.sh start {d} failed:\n{out}\n{err[-3000:]}")
                confs.append(Path(out.strip().splitlines()[-1]))
            yield Cluster(confs[0]), Cluster(confs[1])
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            for d in dirs:
                subprocess.run(["bash", str(SCRIPT), "stop", str(d)], timeout=120, check=False)


@pytest.fixture(scope="session")
def rbd_connections(ceph_sites: tuple[Cluster, Cluster]) -> Iterator[RbdConnections]:
    with RbdConnections() as conns:
        yield conns

"""A lab site's identity: its directory layout, name, ports and credentials.

Everything the other lab modules need to know about one site lives in a ``Site``, saved as
``DIR/site.json`` at start so that ``stop`` and ``status`` (and tests reading clouds.yaml) work on
the same values. Ports are chosen free on 127.0.0.1 unless a base port is given.
"""

from __future__ import annotations

import json
import socket
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Port roles, in the order used with --port-base (base, base+1, ...).
PORT_NAMES = (
    "keystone",
    "nova",
    "placement",
    "cinder",
    "glance",
    "neutron",
    "amqp",
    "epmd",
    "erldist",
)

# Fixed credentials: the golden databases hold their hashes, so every site shares them. The lab
# listens on 127.0.0.1 only and holds no data worth protecting.
ADMIN_PASSWORD = "lab-admin-secret"
SERVICE_PASSWORD = "lab-service-secret"
MEMBER_USER = "lifeboat"
MEMBER_PROJECT = "lifeboat"
MEMBER_PASSWORD = "lab-member-secret"
REGION = "RegionOne"
# Service users Nova, Cinder, Neutron, Glance and Placement authenticate with.
SERVICE_USERS = ("nova", "placement", "neutron", "glance", "cinder")


def free_ports(count: int) -> list[int]:
    """Pick ``count`` distinct free TCP ports on 127.0.0.1 (sockets held until all are chosen)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_in_use(port: int) -> bool:
    """True when something already listens on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Site:
    """One running (or about to run) OpenStack site."""

    dir: Path
    name: str
    venv: Path
    ports: dict[str, int] = field(default_factory=dict)
    # "file" (oslab_plugins.file_volume: real bytes in sparse files), "fake" (Cinder's own
    # FakeLoggingVolumeDriver: no data at all) or "rbd" (Cinder's RBDDriver on a Ceph cluster
    # made by deploy/ceph/ceph-local.sh, whose folder is ``ceph_dir``).
    volume_driver: str = "file"
    ceph_dir: str = ""

    @classmethod
    def new(
        cls,
        directory: Path,
        name: str,
        venv: Path,
        port_base: int | None,
        volume_driver: str,
        ceph_dir: str = "",
    ) -> Site:
        """A site with ports from ``port_base`` upwards, or free ones when it is None."""
        if port_base is None:
            numbers = free_ports(len(PORT_NAMES))
        else:
            numbers = [port_base + i for i in range(len(PORT_NAMES))]
            busy = [p for p in numbers if port_in_use(p)]
            if busy:
                raise SystemExit(f"lab: ports already in use on 127.0.0.1: {busy}")
        ports = dict(zip(PORT_NAMES, numbers, strict=True))
        return cls(directory.resolve(), name, venv, ports, volume_driver, ceph_dir)

    @classmethod
    def load(cls, directory: Path) -> Site:
        """The site saved in ``directory`` by an earlier start."""
        path = directory.resolve() / "site.json"
        if not path.exists():
            raise SystemExit(f"lab: no site in {directory} (missing {path})")
        raw = json.loads(path.read_text())
        return cls(
            Path(raw["dir"]),
            raw["name"],
            Path(raw["venv"]),
            dict(raw["ports"]),
            raw["volume_driver"],
            raw.get("ceph_dir", ""),
        )

    def save(self) -> None:
        """Write site.json (paths as strings)."""
        raw = asdict(self)
        raw["dir"], raw["venv"] = str(self.dir), str(self.venv)
        (self.dir / "site.json").write_text(json.dumps(raw, indent=2) + "\n")

    # Layout ---------------------------------------------------------------------------------
    @property
    def etc(self) -> Path:
        """Rendered configuration files, one folder per service."""
        return self.dir / "etc"

    @property
    def data(self) -> Path:
        """State: databases, keys, images, volumes, locks."""
        return self.dir / "data"

    @property
    def db(self) -> Path:
        """The SQLite databases (restored from the golden copy at each start)."""
        return self.data / "db"

    def sqlite(self, name: str) -> str:
        """SQLAlchemy URL of a database; pysqlite's busy timeout (default 5 s) is how long a
        writer waits for another's lock, and a dozen processes share these files."""
        return f"sqlite:///{self.db / name}.db?timeout=30"

    @property
    def ceph_conf(self) -> Path:
        """The site's own ceph.conf for Cinder's RBD driver (rbd only)."""
        return self.etc / "ceph" / "ceph.conf"

    @property
    def logs(self) -> Path:
        """One log per process (its stdout and stderr); CI prints these on failure."""
        return self.dir / "logs"

    @property
    def run(self) -> Path:
        """PID files of the running processes."""
        return self.dir / "run"

    @property
    def bin(self) -> Path:
        """The lab virtualenv's bin folder."""
        return self.venv / "bin"

    @property
    def host(self) -> str:
        """Host name the Nova and Cinder services register under."""
        return f"{self.name}-host"

    def url(self, service: str) -> str:
        """Base URL of an API on 127.0.0.1."""
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def auth_url(self) -> str:
        """Keystone v3 endpoint."""
        return self.url("keystone") + "/v3"

    @property
    def transport_url(self) -> str:
        """oslo.messaging URL of the site's RabbitMQ."""
        return f"rabbit://guest:guest@127.0.0.1:{self.ports['amqp']}/"

    def endpoint_urls(self) -> dict[str, str]:
        """Catalog URL per service type, as registered in Keystone."""
        cinder = self.url("cinder") + "/v3/%(project_id)s"
        return {
            "identity": self.auth_url,
            "compute": self.url("nova") + "/v2.1",
            "placement": self.url("placement"),
            "block-storage": cinder,
            "volumev3": cinder,
            "image": self.url("glance"),
            "network": self.url("neutron"),
        }

"""Readiness of a lab site: an API answering is not enough, daemons must have reported in.

``wait_all`` polls a list of checks until all pass, and fails at once, naming the process and
showing the end of its log, when any process it watches exits. A site counts as ready when every
API answers, RabbitMQ accepts connections, Nova's conductor, scheduler and compute and Cinder's
scheduler and volume services report 'up', the compute host is mapped to cell1 (else the first
boot fails with NoValidHost) and Placement has its resource provider.
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import labproc
from labsite import ADMIN_PASSWORD, Site


@dataclass
class Check:
    """A named readiness condition; ``probe`` returns True once it holds."""

    name: str
    probe: Callable[[], bool]


def http_check(name: str, url: str) -> Check:
    """An API answers its version document (any status below 500, e.g. 200, 300, 401)."""

    def probe() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return int(resp.status) < 500
        except urllib.error.HTTPError as err:
            return err.code < 500
        except OSError:
            return False

    return Check(name, probe)


def tcp_check(name: str, port: int) -> Check:
    """Something accepts TCP connections on 127.0.0.1:port."""

    def probe() -> bool:
        with socket.socket() as s:
            s.settimeout(1)
            return s.connect_ex(("127.0.0.1", port)) == 0

    return Check(name, probe)


class _Admin:
    """A lazily authenticated keystoneauth session as the bootstrap admin."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self._session: Any = None

    def get(self, url: str, **headers: str) -> Any:
        if self._session is None:
            from keystoneauth1 import session
            from keystoneauth1.identity import v3

            auth = v3.Password(
                auth_url=self.site.auth_url,
                username="admin",
                password=ADMIN_PASSWORD,
                project_name="admin",
                user_domain_name="Default",
                project_domain_name="Default",
            )
            self._session = session.Session(auth=auth)
        return self._session.get(url, headers=headers, raise_exc=False, timeout=5)

    @property
    def project_id(self) -> str:
        return str(self._session.get_project_id())


def service_checks(site: Site) -> list[Check]:
    """Nova and Cinder daemons report 'up'; compute is mapped and has a resource provider."""
    admin = _Admin(site)

    def nova_services() -> dict[str, str]:
        resp = admin.get(site.url("nova") + "/v2.1/os-services")
        if resp.status_code != 200:
            return {}
        return {s["binary"]: s["state"] for s in resp.json()["services"]}

    def cinder_services() -> dict[str, str]:
        resp = admin.get(site.url("cinder") + "/v3/" + admin.project_id + "/os-services")
        if resp.status_code != 200:
            return {}
        return {s["binary"]: s["state"] for s in resp.json()["services"]}

    def up(fetch: Callable[[], dict[str, str]], binary: str) -> Callable[[], bool]:
        def probe() -> bool:
            try:
                return fetch().get(binary) == "up"
            except Exception:
                return False

        return probe

    def mapped() -> bool:
        with sqlite3.connect(site.db / "nova_api.db", timeout=5) as db:
            return bool(db.execute("SELECT 1 FROM host_mappings").fetchall())

    def provider() -> bool:
        try:
            resp = admin.get(site.url("placement") + "/resource_providers")
            return resp.status_code == 200 and bool(resp.json()["resource_providers"])
        except Exception:
            return False

    return [
        Check("nova-conductor", up(nova_services, "nova-conductor")),
        Check("nova-scheduler", up(nova_services, "nova-scheduler")),
        Check("nova-compute", up(nova_services, "nova-compute")),
        Check("nova-compute (cell mapping)", mapped),
        Check("nova-compute (placement provider)", provider),
        Check("cinder-scheduler", up(cinder_services, "cinder-scheduler")),
        Check("cinder-volume", up(cinder_services, "cinder-volume")),
    ]


def api_checks(site: Site) -> list[Check]:
    """Every API and RabbitMQ."""
    return [
        tcp_check("rabbitmq", site.ports["amqp"]),
        http_check("keystone", site.auth_url),
        http_check("placement", site.url("placement")),
        http_check("nova-api", site.url("nova")),
        http_check("cinder-api", site.url("cinder")),
        http_check("glance", site.url("glance")),
        http_check("neutron", site.url("neutron")),
    ]


def wait_all(
    site: Site,
    children: dict[str, subprocess.Popen[bytes]],
    checks: list[Check],
    timeout: float,
    t0: float | None = None,
    report: Callable[[str, float], None] | None = None,
) -> None:
    """Poll ``checks`` until all pass; fail fast when a watched process exits."""
    start = time.monotonic() if t0 is None else t0
    deadline = time.monotonic() + timeout
    pending = list(checks)
    while pending:
        for name, child in children.items():
            code = child.poll()
            if code is not None:
                raise SystemExit(
                    f"lab: service {name} of site {site.name} exited with code {code} during start;"
                    f" log {site.logs / (name + '.log')}:\n{labproc.log_tail(site, name)}"
                )
        still = []
        for check in pending:
            try:
                ok = check.probe()
            except Exception:  # a probe that cannot tell yet means "not ready"
                ok = False
            if ok:
                if report:
                    report(check.name, time.monotonic() - start)
            else:
                still.append(check)
        pending = still
        if not pending:
            return
        if time.monotonic() > deadline:
            names = ", ".join(c.name for c in pending)
            raise SystemExit(
                f"lab: site {site.name} not ready after {timeout:.0f}s; not ready: {names}"
                f" (logs in {site.logs})"
            )
        time.sleep(0.25)

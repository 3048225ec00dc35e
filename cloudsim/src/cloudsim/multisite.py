"""Run N sites in one process: one uvicorn server per site API port plus one per admin port.

The API listener can be closed and reopened at runtime (site down in "refuse" mode: connections
are refused), while the admin port stays up so the site can be brought back. Started by
`cloudsim up` and, as a child process, by `cloudsim.testing.running_sites`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

import uvicorn
import yaml

from cloudsim.app import Site
from cloudsim.faults import Partitions
from cloudsim.seed import DEFAULT_IDENTITY
from cloudsim.state import SiteConfig

log = logging.getLogger("cloudsim")


def bind(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto is
    # TCP, and without it every response waits ~40 ms for a delayed ACK (headers, body split).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class SiteRunner:
    """A site's uvicorn servers and the hooks that close/reopen its API listener."""

    def __init__(self, site: Site) -> None:
        self.site = site
        cfg = site.config
        self.api_sock = bind(cfg.host, cfg.port)
        cfg.port = self.api_sock.getsockname()[1]
        self.admin_sock = bind(cfg.host, cfg.admin_port)
        cfg.admin_port = self.admin_sock.getsockname()[1]
        self.api = self._server()
        self.admin = self._server()
        site.admin.on_down = self.close_api
        site.admin.on_up = self.open_api

    def _server(self) -> uvicorn.Server:
        config = uvicorn.Config(
            self.site.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
            http="httptools",
        )
        return uvicorn.Server(config)

    async def close_api(self, _mode: str) -> None:
        for srv in self.api.servers:
            srv.close()
        for conn in list(self.api.server_state.connections):
            conn.shutdown()
        self.api.servers = []

    async def open_api(self) -> None:
        cfg = self.site.config
        sock = bind(cfg.host, cfg.port)
        server = self.api
        config = server.config

        def protocol() -> asyncio.Protocol:
            return config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=server.server_state, app_state=server.lifespan.state
            )

        loop = asyncio.get_running_loop()
        srv = await loop.create_server(protocol, sock=sock, backlog=1024)
        server.servers.append(srv)

    def describe(self) -> dict[str, Any]:
        cfg = self.site.config
        return {
            "name": cfg.name,
            "region": cfg.region,
            "port": cfg.port,
            "admin_port": cfg.admin_port,
            "auth_url": f"http://{cfg.host}:{cfg.port}/identity/v3",
            "admin_url": f"http://{cfg.host}:{cfg.admin_port}/cloudsim/admin",
            "admin_token": cfg.admin_token,
            "data_dir": str(cfg.data_dir),
        }


def _logins(seed: dict[str, Any] | None) -> list[tuple[str, str, str, str]]:
    """(cloud suffix, user, password, project) for every seeded user with a project role:
    `demo` -> "", `admin` -> "-admin", others -> "-<user>" (the default seed gives the first two
    plus "-reader")."""
    ident = (seed or {}).get("identity") or DEFAULT_IDENTITY
    out = []
    for u in ident["users"]:
        roles = u.get("roles") or {}
        if not roles:
            continue
        project = "admin" if u["name"] == "admin" and "admin" in roles else next(iter(roles))
        suffix = {"demo": "", "admin": "-admin"}.get(u["name"], "-" + u["name"])
        out.append((suffix, u["name"], u["password"], project))
    return out


def clouds_yaml(sites: list[dict[str, Any]], seed: dict[str, Any] | None = None) -> dict[str, Any]:
    """clouds.yaml entries: `<site>` (demo/member), `<site>-admin` (admin) and `<site>-<user>`."""
    clouds: dict[str, Any] = {}
    for s in sites:
        for suffix, user, password, project in _logins(seed):
            clouds[s["name"] + suffix] = {
                "auth": {
                    "auth_url": s["auth_url"],
                    "username": user,
                    "password": password,
                    "project_name": project,
                    "user_domain_name": "Default",
                    "project_domain_name": "Default",
                },
                "region_name": s["region"],
                "identity_api_version": 3,
                "interface": "public",
            }
    return {"clouds": clouds}


def write_outputs(
    base_dir: Path, sites: list[dict[str, Any]], seed: dict[str, Any] | None = None
) -> Path:
    path = base_dir / "clouds.yaml"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(clouds_yaml(sites, seed), sort_keys=False))
    tmp.replace(path)
    state = base_dir / "sites.json"
    tmp = state.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": os.getpid(), "sites": sites}, indent=2))
    tmp.replace(state)
    return path


def region_of(name: str) -> str:
    return f"region-{name}"


async def serve(
    names: list[str],
    base_dir: Path,
    *,
    time_scale: float,
    host: str = "127.0.0.1",
    ports: list[int] | None = None,
    watch_stdin: bool = False,
    seed: dict[str, Any] | None = None,
) -> None:
    """Start the sites, write clouds.yaml + sites.json, serve until signalled."""
    partitions = Partitions()
    runners = []
    for i, name in enumerate(names):
        cfg = SiteConfig(
            name=name,
            region=region_of(name),
            data_dir=base_dir / name / "data",
            time_scale=time_scale,
            host=host,
            seed=seed,
            port=ports[i] if ports else 0,
        )
        runners.append(SiteRunner(Site(cfg, partitions)))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if watch_stdin:

        def watch() -> None:
            sys.stdin.read()  # parent gone or closed our stdin: shut down
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=watch, daemon=True).start()
    tasks = []
    for r in runners:
        for server, sock in ((r.api, r.api_sock), (r.admin, r.admin_sock)):
            server.config.setup_event_loop = lambda: None  # type: ignore[method-assign]
            tasks.append(asyncio.create_task(server.serve(sockets=[sock])))
    while not all(r.api.started and r.admin.started for r in runners):
        if any(t.done() for t in tasks):
            for t in tasks:
                if t.done() and t.exception():
                    raise t.exception()  # type: ignore[misc]
            raise RuntimeError("a cloudsim server stopped during startup")
        await asyncio.sleep(0.01)
    write_outputs(base_dir, [r.describe() for r in runners], seed)
    await stop.wait()
    for r in runners:
        for wl in r.site.admin.workloads.values():
            wl.close()
        for svc in r.site.state.services.values():
            svc.stop()
        r.api.should_exit = True
        r.admin.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)


def main() -> None:
    """Child-process entry: `python -m cloudsim.multisite '<json args>'`."""
    args = json.loads(sys.argv[1])
    logging.basicConfig(level=logging.WARNING)
    Path(args["base_dir"]).mkdir(parents=True, exist_ok=True)
    asyncio.run(
        serve(
            args["names"],
            Path(args["base_dir"]),
            time_scale=args["time_scale"],
            watch_stdin=args.get("watch_stdin", False),
            seed=args.get("seed"),
        )
    )


if __name__ == "__main__":
    main()

"""Lab control, run by lab.sh with the lab virtualenv's Python: golden, start, stop, status.

``start`` renders the site's configuration, restores the golden databases, starts every
process at once (RabbitMQ and Keystone first in the list, but nothing waits on them: the
OpenStack daemons retry their connections), waits until the site is really usable, then writes
DIR/clouds.yaml. On failure it names the service, shows the end of its log and stops the rest.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import time
from pathlib import Path

import labconf
import labgolden
import labproc
import labprovision
import labready
from labsite import ADMIN_PASSWORD, MEMBER_PASSWORD, MEMBER_PROJECT, MEMBER_USER, REGION, Site

# Stop order: all OpenStack processes at once, then the message bus and its port mapper.
STOP_LAST = ("rabbitmq", "epmd")


def _cloud(site: Site, user: str, password: str, project: str) -> str:
    return (
        f"    auth:\n"
        f"      auth_url: {site.auth_url}\n"
        f"      username: {user}\n"
        f"      password: {password}\n"
        f"      project_name: {project}\n"
        f"      user_domain_name: Default\n"
        f"      project_domain_name: Default\n"
        f"    region_name: {REGION}\n"
        f"    interface: public\n"
        f"    identity_api_version: 3\n"
    )


def write_clouds_yaml(site: Site) -> Path:
    """DIR/clouds.yaml: '<site>' (member of project lifeboat) and '<site>-admin'."""
    text = (
        "clouds:\n"
        f"  {site.name}:\n{_cloud(site, MEMBER_USER, MEMBER_PASSWORD, MEMBER_PROJECT)}"
        f"  {site.name}-admin:\n{_cloud(site, 'admin', ADMIN_PASSWORD, 'admin')}"
    )
    path = site.dir / "clouds.yaml"
    path.write_text(text)
    return path


def _clean(directory: Path) -> None:
    """Remove what an earlier start left in DIR (only the lab's own entries)."""
    for sub in ("etc", "data", "logs", "run"):
        shutil.rmtree(directory / sub, ignore_errors=True)
    for name in ("site.json", "clouds.yaml"):
        (directory / name).unlink(missing_ok=True)


def cmd_start(args: argparse.Namespace) -> None:
    """Start a whole site in DIR and wait until it is usable."""
    directory = Path(args.dir)
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,30}", args.name):
        raise SystemExit(f"lab: --name {args.name!r}: use lower-case letters, digits and '-'")
    if (directory / "site.json").exists():
        running = labproc.recorded(Site.load(directory))
        if running:
            raise SystemExit(
                f"lab: a site is already running in {directory} ({', '.join(running)});"
                f" run lab.sh stop {directory} first"
            )
    t0 = time.monotonic()
    directory.mkdir(parents=True, exist_ok=True)
    _clean(directory)
    ceph_dir = ""
    if args.volume_driver == "rbd":
        if not args.ceph:
            raise SystemExit("lab: --volume-driver rbd needs --ceph DIR (see deploy/ceph)")
        ceph_dir = str(Path(args.ceph).resolve())
        if not (Path(ceph_dir) / "cluster.json").exists():
            raise SystemExit(f"lab: --ceph {args.ceph}: no cluster.json (start it first)")
    elif args.ceph:
        raise SystemExit("lab: --ceph is only for --volume-driver rbd")
    site = Site.new(
        directory, args.name, Path(args.venv), args.port_base, args.volume_driver, ceph_dir
    )
    labconf.write_all(site)
    labgolden.restore(Path(args.golden), site)
    labproc.prepare_rabbit(site)
    site.save()
    t_prep = time.monotonic() - t0
    procs = [*labproc.infra(site), labproc.keystone(site), *labproc.openstack(site)]
    children = {p.name: labproc.spawn(site, p) for p in procs}
    print(f"lab: site {site.name}: prepared in {t_prep:.1f}s, {len(children)} processes started")

    def report(name: str, elapsed: float) -> None:
        print(f"lab:   {elapsed:6.1f}s  {name} ready", flush=True)

    checks = labready.api_checks(site) + labready.service_checks(site)
    try:
        labready.wait_all(site, children, checks, args.timeout, t0, report)
    except SystemExit:
        if not args.keep_on_failure:
            _stop_site(site, quiet=True)
        raise
    if not args.bare:
        try:
            print(
                f"lab:   {time.monotonic() - t0:6.1f}s  provisioned {labprovision.provision(site)}"
            )
        except Exception as err:
            if not args.keep_on_failure:
                _stop_site(site, quiet=True)
            raise SystemExit(f"lab: provisioning flavors and network failed: {err}") from err
    lifeboat_url = os.environ.get("LAB_LIFEBOAT_URL")  # optional: Lifeboat's one endpoint
    if lifeboat_url:
        print(f"lab:   catalog {labprovision.register_lifeboat(site, lifeboat_url)}")
    clouds = write_clouds_yaml(site)
    print(f"lab: site {site.name} ready in {time.monotonic() - t0:.1f}s")
    print(f"lab: clouds.yaml: {clouds} (clouds {site.name!r}, {site.name + '-admin'!r})")
    print(f"lab: logs: {site.logs}")


def _stop_site(site: Site, quiet: bool = False) -> None:
    t0 = time.monotonic()
    alive = labproc.recorded(site)
    first = [n for n in alive if n not in STOP_LAST]
    last = [n for n in STOP_LAST if n in alive]
    killed: list[str] = []
    for group in (first, last):
        if group:
            killed += labproc.stop(site, group)
    if not quiet:
        msg = (
            f"lab: site {site.name}: stopped {len(alive)} processes in {time.monotonic() - t0:.1f}s"
        )
        if killed:
            msg += f" (killed after timeout: {', '.join(killed)})"
        print(msg)


def cmd_stop(args: argparse.Namespace) -> None:
    """Stop every process of the site in DIR; its logs and data stay."""
    directory = Path(args.dir)
    if not (directory / "site.json").exists():
        print(f"lab: no site in {directory}; nothing to stop")
        return
    _stop_site(Site.load(directory))


def _memory(pids: list[int]) -> tuple[int, int]:
    """Total RSS and PSS in KiB of every process in the given process groups."""
    groups = set(pids)
    rss = pss = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) not in groups:
                continue
            for line in Path(f"/proc/{entry}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return rss, pss


def cmd_status(args: argparse.Namespace) -> None:
    """List the site's live processes and their memory; exit 1 when any expected one is down."""
    site = Site.load(Path(args.dir))
    alive = labproc.recorded(site)
    expected = [
        p.name for p in (*labproc.infra(site), labproc.keystone(site), *labproc.openstack(site))
    ]
    for name in expected:
        state = f"pid {alive[name]}" if name in alive else "DOWN"
        print(f"{name:18} {state}")
    rss, pss = _memory(list(alive.values()))
    print(
        f"memory: RSS {rss / 1024:.0f} MiB, PSS {pss / 1024:.0f} MiB ({len(alive)} process groups)"
    )
    if any(name not in alive for name in expected):
        sys.exit(1)


def cmd_golden(args: argparse.Namespace) -> None:
    """Make the golden copy if it is missing."""
    dest = Path(args.golden)
    if (dest / "golden.json").exists():
        return
    labgolden.build(Path(args.venv), dest)


def main() -> None:
    """Parse the command line (lab.sh passes --venv and --golden)."""
    parser = argparse.ArgumentParser(prog="lab.sh")
    sub = parser.add_subparsers(dest="command", required=True)
    golden = sub.add_parser("golden")
    start = sub.add_parser("start")
    for p in (golden, start):
        p.add_argument("--venv", required=True)
        p.add_argument("--golden", required=True)
    start.add_argument("dir")
    start.add_argument("--name", default="lab")
    start.add_argument("--port-base", type=int, default=None)
    start.add_argument("--volume-driver", choices=("file", "fake", "rbd"), default="file")
    start.add_argument("--ceph", default=None, help="Ceph folder of ceph-local.sh (rbd driver)")
    start.add_argument("--timeout", type=float, default=240.0)
    start.add_argument("--keep-on-failure", action="store_true")
    start.add_argument("--bare", action="store_true", help="no flavors, no public network")
    for name in ("stop", "status"):
        sub.add_parser(name).add_argument("dir")
    args = parser.parse_args()
    {"golden": cmd_golden, "start": cmd_start, "stop": cmd_stop, "status": cmd_status}[
        args.command
    ](args)


if __name__ == "__main__":
    main()

"""The processes of one lab site: how each is started, tracked and stopped.

Each process runs in its own session (so its process group holds its children: gunicorn
workers, Erlang helpers), writes stdout and stderr to DIR/logs/<name>.log, and is recorded in
DIR/run/<name>.pid as "pid starttime" so that stop never signals a recycled PID.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from labsite import Site

HERE = Path(__file__).resolve().parent
RABBIT_BIN = Path("/usr/lib/rabbitmq/bin")


@dataclass
class Proc:
    """One long-running process of a site."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def _gunicorn(site: Site, name: str, port: str, env: dict[str, str]) -> Proc:
    """An API served by gunicorn through labwsgi.py: 1 worker, 4 threads."""
    argv = [
        str(site.bin / "gunicorn"),
        "--pythonpath",
        str(HERE),
        "--bind",
        f"127.0.0.1:{site.ports[port]}",
        "--workers",
        "1",
        "--threads",
        "4",
        "--timeout",
        "120",
        "--graceful-timeout",
        "5",
        "--name",
        f"lab-{site.name}-{name}",
        "--access-logfile",
        "-",
        "labwsgi:application",
    ]
    return Proc(name, argv, {"LAB_WSGI_SERVICE": name, **env})


def _oslo(site: Site, project: str, command: str, *conf: str) -> Proc:
    """A service command taking --config-file options (cinder-volume, nova-compute...)."""
    argv = [str(site.bin / f"{project}-{command}")]
    for name in conf:
        argv += ["--config-file", str(site.etc / project / name)]
    return Proc(f"{project}-{command}", argv)


def rabbit_env(site: Site) -> dict[str, str]:
    """Environment of RabbitMQ and rabbitmqctl: own node, ports, folders and cookie."""
    base = site.data / "rabbitmq"
    return {
        "HOME": str(base),  # the Erlang cookie lives in $HOME
        "RABBITMQ_NODENAME": f"lab-{site.name}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(site.ports["amqp"]),
        "RABBITMQ_DIST_PORT": str(site.ports["erldist"]),
        "ERL_EPMD_PORT": str(site.ports["epmd"]),
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_LOGS": "-",
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
        "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_PID_FILE": str(base / "rabbit.pid"),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
    }


def prepare_rabbit(site: Site) -> None:
    """RabbitMQ's own files: no plugins, an empty env file, a fixed cookie."""
    base = site.data / "rabbitmq"
    base.mkdir(parents=True, exist_ok=True)
    (base / "enabled_plugins").write_text("[].\n")
    (base / "rabbitmq-env.conf").write_text("")
    (base / "advanced.config").write_text("[].\n")
    (base / "rabbitmq.conf").write_text("loopback_users.guest = true\nlog.console = true\n")
    cookie = base / ".erlang.cookie"
    cookie.write_text(f"LAB{site.name.upper().replace('-', '')}COOKIE")
    cookie.chmod(0o400)


def infra(site: Site) -> list[Proc]:
    """epmd (Erlang port mapper, per site so it stops with the site) and RabbitMQ."""
    env = rabbit_env(site)
    epmd = Proc("epmd", ["epmd", "-port", str(site.ports["epmd"]), "-address", "127.0.0.1"], env)
    return [epmd, Proc("rabbitmq", [str(RABBIT_BIN / "rabbitmq-server")], env)]


def keystone(site: Site) -> Proc:
    """Keystone under gunicorn."""
    return _gunicorn(
        site, "keystone", "keystone", {"OS_KEYSTONE_CONFIG_DIR": str(site.etc / "keystone")}
    )


def openstack(site: Site) -> list[Proc]:
    """All OpenStack processes except Keystone."""
    etc = site.etc
    return [
        _gunicorn(
            site, "placement", "placement", {"OS_PLACEMENT_CONFIG_DIR": str(etc / "placement")}
        ),
        _gunicorn(
            site,
            "nova-api",
            "nova",
            # Nova's WSGI app loads its paste pipeline from the first of these files.
            {
                "OS_NOVA_CONFIG_DIR": str(etc / "nova"),
                "OS_NOVA_CONFIG_FILES": f"{site.venv / 'etc' / 'nova' / 'api-paste.ini'};nova.conf",
            },
        ),
        _gunicorn(site, "glance", "glance", {"OS_GLANCE_CONFIG_DIR": str(etc / "glance")}),
        _gunicorn(
            site,
            "neutron",
            "neutron",
            {
                "OS_NEUTRON_CONFIG_DIR": str(etc / "neutron"),
                "OS_NEUTRON_CONFIG_FILES": "neutron.conf;ml2_conf.ini",
            },
        ),
        _oslo(site, "cinder", "api", "cinder.conf"),
        _oslo(site, "cinder", "scheduler", "cinder.conf"),
        _oslo(site, "cinder", "volume", "cinder.conf"),
        _oslo(site, "nova", "conductor", "nova.conf"),
        _oslo(site, "nova", "scheduler", "nova.conf"),
        _oslo(site, "nova", "compute", "nova.conf"),
    ]


def _starttime(pid: int) -> str | None:
    """Kernel start time of a PID (field 22 of /proc/PID/stat), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def spawn(site: Site, proc: Proc) -> subprocess.Popen[bytes]:
    """Start a process detached in its own session, logging to DIR/logs/<name>.log."""
    env = dict(os.environ)
    env.update(proc.env)
    env["PATH"] = f"{site.bin}:{env.get('PATH', '/usr/bin:/bin')}"
    env.pop("VIRTUAL_ENV", None)
    env.pop("PYTHONPATH", None)
    log = open(site.logs / f"{proc.name}.log", "ab")  # noqa: SIM115 - handed to the child
    with log:
        child = subprocess.Popen(
            proc.argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=site.dir,
            start_new_session=True,
        )
    (site.run / f"{proc.name}.pid").write_text(f"{child.pid} {_starttime(child.pid)}\n")
    return child


def recorded(site: Site) -> dict[str, int]:
    """Processes of the site that are still alive, by name (stale PID files are dropped)."""
    alive: dict[str, int] = {}
    if not site.run.is_dir():
        return alive
    for path in sorted(site.run.glob("*.pid")):
        try:
            pid_s, start = path.read_text().split()
            pid = int(pid_s)
        except ValueError:
            path.unlink(missing_ok=True)
            continue
        if _starttime(pid) == start:
            alive[path.stem] = pid
        else:
            path.unlink(missing_ok=True)
    return alive


def _group_alive(pgid: int) -> bool:
    """True while a process of the group is running (zombies waiting for init don't count)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop(site: Site, names: list[str], timeout: float = 20.0) -> list[str]:
    """SIGTERM the process groups of ``names``; SIGKILL what is left after ``timeout``.

    Returns the names that had to be killed.
    """
    alive = recorded(site)
    groups = {name: alive[name] for name in names if name in alive}
    for pgid in groups.values():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_group_alive(g) for g in groups.values()):
        _reap()
        time.sleep(0.1)
    killed = []
    for name, pgid in groups.items():
        if _group_alive(pgid):
            killed.append(name)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
    _reap()
    for name in groups:
        (site.run / f"{name}.pid").unlink(missing_ok=True)
    return killed


def _reap() -> None:
    """Collect exited children of this process (only when it started them itself)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass


def log_tail(site: Site, name: str, lines: int = 25) -> str:
    """The last lines of a process log, for error messages."""
    path = site.logs / f"{name}.log"
    if not path.exists():
        return f"(no log at {path})"
    text = path.read_text(errors="replace").splitlines()
    return "\n".join(text[-lines:])

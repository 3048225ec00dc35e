"""The production shape for bench scripts (bench/scaleout.py, bench/rpo_sustained.py
--topology production): PostgreSQL and Kafka from the deploy scripts (deploy/postgres/pg-local.sh,
deploy/kafka/kafka-local.sh), started and stopped here; every service but the replicator in the
bench's process (`lifeboat_cli.stack.Stack` without its replicator: `services_without_replicator`);
replicators as OS processes of their own (`python -m lifeboat_replicator.entrypoints.cli serve`);
the CPU of each of them, of PostgreSQL and of Kafka, by process tree (psutil).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil

import lifeboat_cli.stack as stack_mod

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = re.compile(r"consistency point from cycle ([0-9a-f-]{36}) in ([0-9.]+) s")
LOST = re.compile(r"holds its lease now")


def services_without_replicator() -> None:
    """The Stack built after this runs policy, orchestrator, verifier and billing only."""
    stack_mod.SERVICES = tuple(s for s in stack_mod.SERVICES if s[0] != "replicator")


def infra_env(pg_url: str, bootstrap: str, data_dir: Path) -> dict[str, str]:
    """What every Lifeboat process of the production shape needs: PostgreSQL, Kafka."""
    return {
        "LIFEBOAT_DATABASE_URL": pg_url,
        "LIFEBOAT_BUS": "kafka",
        "LIFEBOAT_KAFKA_BOOTSTRAP": bootstrap,
        "LIFEBOAT_DATA_DIR": str(data_dir),
    }


def replicator_settings(clouds_yaml: Path, max_concurrent_cycles: int) -> dict[str, object]:
    """The replicator settings both bench scripts use, in a Stack's `overrides` or a process's
    environment (`replicator_env`)."""
    return {
        "clouds_yaml": clouds_yaml,
        "max_parallel_volumes": 8,
        "max_concurrent_cycles": max_concurrent_cycles,
        # runner_interval_seconds: the default (0.5 s); a runner wakes at once for the cycles
        # its own process adds
    }


def replicator_env(env: dict[str, str], settings: dict[str, object]) -> dict[str, str]:
    """`env` plus `settings` as LIFEBOAT_REPLICATOR_* variables, for a replicator process."""
    return {**env, **{f"LIFEBOAT_REPLICATOR_{k.upper()}": str(v) for k, v in settings.items()}}


@contextlib.contextmanager
def infra(tmp: Path) -> Iterator[tuple[str, str]]:
    """PostgreSQL and Kafka from the deploy scripts, stopped at the end."""
    pg, kafka = tmp / "pg", tmp / "kafka"
    sh = ["bash"]
    started: list[tuple[str, Path]] = []
    try:
        print("starting PostgreSQL and Kafka...", flush=True)
        # Registered before each start: the stop scripts are no-ops on a half-started DIR, and a
        # start interrupted (Ctrl-C, failure) may have left a server running.
        urls: list[str] = []
        for script, where in (
            ("deploy/postgres/pg-local.sh", pg),
            ("deploy/kafka/kafka-local.sh", kafka),
        ):
            started.append((script, where))
            out = subprocess.run(
                [*sh, str(ROOT / script), "start", str(where)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            urls.append(out.splitlines()[-1])
        yield urls[0], urls[1]
    finally:
        for script, d in reversed(started):
            subprocess.run([*sh, str(ROOT / script), "stop", str(d)], capture_output=True)


def infra_processes(tmp: Path) -> dict[str, list[psutil.Process]]:
    """PostgreSQL (postmaster and its backends) and the Kafka broker, from their pid files."""
    out: dict[str, list[psutil.Process]] = {}
    for role, pid_file in (
        ("postgresql", tmp / "pg" / "data" / "postmaster.pid"),
        ("kafka", tmp / "kafka" / "pid"),
    ):
        with contextlib.suppress(OSError, ValueError, psutil.Error):
            p = psutil.Process(int(pid_file.read_text().split()[0]))
            out[role] = [p, *p.children(recursive=True)]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Replicator:
    """One replicator OS process (`lifeboat-replicator serve`), its log in a file."""

    def __init__(self, n: int, env: dict[str, str], log_dir: Path, tag: str) -> None:
        self.port = free_port()
        self.log = log_dir / f"replicator-{tag}-{n}.log"
        env = {**env, "LIFEBOAT_REPLICATOR_HTTP_PORT": str(self.port)}
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "lifeboat_replicator.entrypoints.cli", "serve"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.ps = psutil.Process(self.proc.pid)
        self.url = f"http://127.0.0.1:{self.port}"

    def committed(self) -> list[str]:
        return [cid for cid, _s in COMMITTED.findall(self.log.read_text(errors="replace"))]

    def cycle_seconds(self, skip: int) -> list[float]:
        """Wall time (claim to CP) of the cycles committed after the first ``skip``."""
        return [float(s) for _c, s in COMMITTED.findall(self.log.read_text(errors="replace"))][
            skip:
        ]

    def leases_lost(self) -> int:
        return len(LOST.findall(self.log.read_text(errors="replace")))

    def tree(self) -> list[psutil.Process]:
        """The replicator's children (if any), without the process itself."""
        try:
            return list(self.ps.children(recursive=True))
        except psutil.Error:
            return []

    def cpu(self) -> float:
        try:
            t = self.ps.cpu_times()
            return t.user + t.system
        except psutil.Error:
            return 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def wait_ready(c: httpx.AsyncClient, reps: list[Replicator], deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    for r in reps:
        while True:
            if r.proc.poll() is not None:
                raise RuntimeError(f"replicator exited ({r.proc.returncode}); see {r.log}")
            with contextlib.suppress(httpx.HTTPError):
                if (await c.get(f"{r.url}/v1/replication-cycles", params={"limit": 1})).is_success:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"replicator not ready; see {r.log}")
            await asyncio.sleep(0.5)


HERE_4 = "lifeboat (policy, orchestrator, verifier, billing + bench loop)"


def measured_roles(reps: list[Replicator], infra_dir: Path) -> dict[str, list[psutil.Process]]:
    """This process and its children by role (bench/rpo_probe.py) without the replicator
    processes (the caller measures them apart), plus PostgreSQL and Kafka (their process trees)."""
    import rpo_probe

    roles = rpo_probe.processes()
    infra = infra_processes(infra_dir)
    apart = {r.proc.pid for r in reps} | {q.pid for r in reps for q in r.tree()}
    apart |= {p.pid for procs in infra.values() for p in procs}
    roles = {k: [p for p in v if p.pid not in apart] for k, v in roles.items()}
    roles.pop("other children", None)
    roles = {HERE_4: roles.pop(rpo_probe.HERE), **roles}  # the replicator runs apart: 4 here
    roles.update(infra)
    return roles


def pg_activity(pg_url: str) -> dict[str, int] | None:
    """Server-side counters of Lifeboat's database, every client together (pg_stat_database,
    through psql): transactions, and rows inserted + updated + deleted. Backends publish these
    about once a second (an idle one within ~10 s), so differences over a short window are
    approximate. None when psql fails."""
    url = pg_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    query = (
        "select xact_commit + xact_rollback, tup_inserted + tup_updated + tup_deleted "
        "from pg_stat_database where datname = current_database()"
    )
    try:
        out = subprocess.run(
            ["psql", url, "-Atc", query], capture_output=True, text=True, timeout=30
        )
        xacts, rows = out.stdout.strip().split("|")
        return {"transactions": int(xacts), "rows_written": int(rows)}
    except (OSError, subprocess.SubprocessError, ValueError):
        return None

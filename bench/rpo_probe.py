"""Measurement for bench/rpo_sustained.py: what Lifeboat costs per cycle, apart from the simulator.

Nothing here changes what Lifeboat does; it only observes the services running in this process:
  * cloud API calls: every HTTP request leaving this process through `requests` (keystoneauth,
    hence openstacksdk, hence Lifeboat's cloud driver), counted by cloudsim site and by
    "METHOD /first/path/segments" (ids replaced by `{id}`);
  * SQL statements: a SQLAlchemy `before_cursor_execute` listener on every engine, by database;
  * wall time per replicator stage: the runner's stage functions wrapped with a timer (the runner
    records only the current stage, not how long each took);
  * CPU seconds per process (this one: the five services and the bench loop; cloudsim; each
    receiver), from psutil, over the measuring window;
  * optionally a py-spy profile of this process (top functions by own and total samples).
"""

from __future__ import annotations

import collections
import functools
import re
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

HERE = "lifeboat (5 services + bench loop)"  # this process's role in processes()
_GENERIC = ("threading.py", "asyncio/", "concurrent/futures", "rpo_sustained.py", "<module>")
_ID = re.compile(r"^[0-9a-f-]{16,}$|^\d+$")


class Probe:
    """Counters since install(); `mark()` returns a copy to subtract later (`since`)."""

    def __init__(self, site_ports: dict[int, str]) -> None:
        self.site_ports = site_ports
        self.lock = threading.Lock()
        self.api: collections.Counter[str] = collections.Counter()
        self.sql: collections.Counter[str] = collections.Counter()
        self.stage_s: collections.Counter[str] = collections.Counter()  # microseconds
        self.stage_n: collections.Counter[str] = collections.Counter()

    def install(self) -> None:
        import requests.adapters
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        import lifeboat_replicator.service_layer.runner as runner

        probe = self
        send = requests.adapters.HTTPAdapter.send

        def counted_send(adapter: Any, request: Any, *a: Any, **kw: Any) -> Any:
            parts = urlsplit(request.url)
            site = probe.site_ports.get(parts.port or 0)
            if site is not None:
                segs = [s for s in parts.path.split("/") if s][:6]
                path = "/".join("{id}" if _ID.match(s) else s for s in segs)
                with probe.lock:
                    probe.api[f"{site} {request.method} /{path}"] += 1
            return send(adapter, request, *a, **kw)

        requests.adapters.HTTPAdapter.send = counted_send  # type: ignore[method-assign,assignment]

        names: dict[Any, str] = {}

        @event.listens_for(Engine, "before_cursor_execute")
        def _sql(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
            engine = conn.engine
            db = names.get(engine)
            if db is None:  # per engine, not per statement: the probe's own cost stays small
                db = names[engine] = Path(str(engine.url.database or "?")).stem
            verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else "?"
            with probe.lock:
                probe.sql[f"{db} {verb}"] += 1

        def timed(name: str, fn: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
            @functools.wraps(fn)
            async def wrapper(*a: Any, **kw: Any) -> Any:
                start = time.perf_counter()
                try:
                    return await fn(*a, **kw)
                finally:
                    with probe.lock:
                        probe.stage_s[name] += int((time.perf_counter() - start) * 1e6)
                        probe.stage_n[name] += 1

            return wrapper

        for name in ("snapshot_stage", "transfer_stage", "replica_snapshot_stage"):
            setattr(runner, name, timed(name.removesuffix("_stage"), getattr(runner, name)))
        for name in ("_hold", "_commit", "_retention"):
            method = getattr(runner.CycleRunner, name)
            setattr(runner.CycleRunner, name, timed(name.lstrip("_"), method))

    def mark(self) -> dict[str, collections.Counter[Any]]:
        with self.lock:
            return {
                "api": collections.Counter(self.api),
                "sql": collections.Counter(self.sql),
                "stage_s": collections.Counter(self.stage_s),
                "stage_n": collections.Counter(self.stage_n),
            }

    def since(self, before: dict[str, collections.Counter[Any]]) -> dict[str, dict[str, Any]]:
        now = self.mark()
        return {k: dict(now[k] - before[k]) for k in now}


def processes() -> dict[str, list[psutil.Process]]:
    """This process and its children, by role (from their command lines)."""
    me = psutil.Process()
    roles: dict[str, list[psutil.Process]] = {HERE: [me]}
    for child in me.children(recursive=True):
        try:
            cmd = " ".join(child.cmdline())
        except psutil.Error:
            continue
        if "cloudsim" in cmd:
            a, b = "site-a" in cmd, "site-b" in cmd
            role = (
                "cloudsim site-a (+ workload writers)"
                if a and not b
                else "cloudsim site-b"
                if b and not a
                else "cloudsim (both sites + workload writers)"
            )
        elif "receiver" in cmd:
            role = "receivers (datamover, DR side)"
        else:
            role = "other children"
        roles.setdefault(role, []).append(child)
    return roles


def cpu_seconds(roles: dict[str, list[psutil.Process]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for role, procs in roles.items():
        total = 0.0
        for p in procs:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except psutil.Error:
                pass
        out[role] = total
    return out


def start_profile(
    seconds: float, out: Path, pid: int | None = None
) -> subprocess.Popen[bytes] | None:
    """py-spy record of process `pid` (default: this one; raw collapsed stacks) for `seconds`;
    None if unavailable."""
    cmd = ["py-spy", "record", "--pid", str(pid or psutil.Process().pid), "--duration",
           str(int(seconds)), "--rate", "50", "--format", "raw", "--nonblocking",
           "--gil", "-o", str(out)]  # fmt: skip
    try:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except FileNotFoundError:
        print("py-spy not found: run with `uv run --with py-spy ...`", file=sys.stderr)
        return None


def top_functions(raw: Path, n: int = 15) -> dict[str, list[tuple[str, int, float]]]:
    """From py-spy's raw format (--gil: only the thread holding the GIL, i.e. Python CPU): top
    functions by own samples, and by total (inclusive) samples leaving out the event loop's,
    threads' and the bench's own frames (they include everything)."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        k = int(count)
        frames = [f for f in stack.split(";") if not f.startswith("thread (") and f != "process"]
        if not frames:
            continue
        samples += k
        own[frames[-1]] += k
        for f in set(frames):
            if not any(x in f for x in _GENERIC):
                total[f] += k

    def rows(c: collections.Counter[str]) -> list[tuple[str, int, float]]:
        return [(f, k, k / max(1, samples)) for f, k in c.most_common(n)]

    return {"own": rows(own), "total": rows(total)}

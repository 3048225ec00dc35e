"""`lifeboat up`: the embedded default, protecting a multi-volume VM in plain sight.

Two cloudsim sites start on localhost; a VM with a guest agent and a running workload is
protected on site-a; the policy's RPO ticks travel the embedded bus to the replicator, which
quiesces the VM, snapshots its volumes, sends the changed blocks (zstd + AES-GCM) to site-b's
receiver, snapshots the replicas and records a verified consistency point; each CP is then
checked at site-b by cloudsim's consistency checker.

`--sites a,b,c` (or `--config FILE`) starts any number of sites, each with its receiver, all
registered with the policy service; `--no-demo` starts them without the demo VM and group.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from lifeboat_cli.demo import (
    SOURCE,
    TARGET,
    DemoWorld,
    check_at_dr,
    demo_world,
    make_demo_vm,
    protect,
    register_sites,
)
from lifeboat_cli.gateway import embedded_validator, print_endpoint, publish
from lifeboat_cli.retrying import Backoff, describe, warn, with_retries
from lifeboat_cli.stack import Stack, StackStartError
from lifeboat_dashboard.config import DashboardConfig
from lifeboat_dashboard.server import Dashboard
from lifeboat_shared.settings import LifeboatSettings

# A service slower than this to answer one poll is reported and asked again; not fatal.
HTTP_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


async def run_up(
    data_dir: Path,
    port_base: int,
    duration: float,
    rpo_seconds: int,
    as_json: bool,
    volumes: int = 3,
    site_ids: tuple[str, ...] = (SOURCE, TARGET),
    demo: bool = True,
) -> int:
    console = Console(stderr=as_json)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    with contextlib.ExitStack() as world_stack:
        try:
            with console.status(
                f"starting cloudsim sites {', '.join(site_ids)} and their receivers..."
            ):
                world = world_stack.enter_context(demo_world(data_dir, site_ids))
        except (RuntimeError, TimeoutError) as exc:
            console.print(f"[red]error:[/] {exc}")
            return 1
        stack = Stack(
            data_dir,
            port_base=port_base,
            overrides={
                "replicator": {"clouds_yaml": world.sites.clouds_yaml},
                "policy": {"clouds_yaml": world.sites.clouds_yaml},
                # The orchestrator probes every site's APIs (dr-site list shows the verdicts).
                "orchestrator": {"clouds_yaml": world.sites.clouds_yaml},
                "verifier": {  # bubble checks reach cloudsim's guests through its admin API
                    "clouds_yaml": world.sites.clouds_yaml,
                    "guest_probes": {
                        name: {"admin_url": h.admin_url, "admin_token": h.admin_token}
                        for name, h in world.sites.sites.items()
                    },
                },
            },
            token_validator=lambda: embedded_validator(
                LifeboatSettings(data_dir=data_dir), world.sites.clouds_yaml, f"{SOURCE}-admin"
            ),
        )
        try:
            with console.status("starting policy, replicator, orchestrator, verifier, billing..."):
                await stack.start()
        except StackStartError as exc:
            console.print(f"[red]error:[/] {exc}")
            return 1
        urls = {s.name: s.url for s in stack.services}
        # The gateway holds port_base itself, the services port_base+1..+5.
        dashboard = Dashboard(
            DashboardConfig.from_urls(urls), port=port_base + 6 if port_base else 0
        )
        try:
            clouds = await publish(
                stack.gateway.url,
                world.sites.clouds_yaml,
                f"{SOURCE}-admin",
                data_dir / "clouds.yaml",
            )
            _print_services(console, stack, data_dir, world)
            print_endpoint(console, stack.gateway.url, clouds)
            console.print(f"[bold]dashboard:[/] {await dashboard.start()} (sign in with the token)")
            headers = {"Authorization": f"Bearer {stack.token}"}
            async with httpx.AsyncClient(headers=headers, timeout=HTTP_TIMEOUT) as client:
                await with_retries(
                    "registering the sites",
                    lambda: register_sites(client, urls["policy"], world),
                )
                if demo:
                    await _demo(
                        client, urls, world, volumes, rpo_seconds, stop, duration, console, as_json
                    )
                else:
                    console.print(
                        f"[bold]{len(site_ids)} sites registered[/], no demo workload: "
                        "`lifeboat dr-site list` shows them; Ctrl-C stops"
                    )
                    if as_json:
                        ready = {"event": "ready", "sites": world.receivers, "services": urls}
                        print(json.dumps(ready), flush=True)
                    await _wait(stop, duration)
        except httpx.HTTPError as exc:  # setting up the demo failed even after retries
            console.print(f"[red]error:[/] {describe(exc)}")
            return 1
        finally:
            with console.status("stopping (finishing work in hand, draining outboxes)..."):
                await dashboard.stop()
                await stack.stop()
    console.print("[green]stopped cleanly[/]")
    return 0


async def _demo(
    client: httpx.AsyncClient,
    urls: dict[str, str],
    world: DemoWorld,
    volumes: int,
    rpo_seconds: int,
    stop: asyncio.Event,
    duration: float,
    console: Console,
    as_json: bool,
) -> None:
    """The demo VM on site-a protected to site-b, each new CP checked there, until stopped."""
    server_id, vols = await make_demo_vm(world, volumes)
    console.print(
        f"[bold]VM demo-db[/] on {SOURCE}: {len(vols)} volumes, guest agent, "
        "a workload writing ordered records across them"
    )
    # Idempotent (sites put, policy found or made, the demo group made afresh).
    group = await with_retries(
        "protecting the demo VM",
        lambda: protect(client, urls["policy"], world, server_id, rpo_seconds),
    )
    console.print(
        f"[bold]protection group[/] {group['name']} ({group['id']}): "
        f"RPO {rpo_seconds} s, guest-agent quiesce, {SOURCE} -> {TARGET}"
    )
    await _follow(
        client,
        urls["replicator"],
        lambda cp: check_at_dr(world, cp),
        str(group["id"]),
        stop,
        duration,
        console,
        as_json,
    )


async def _wait(stop: asyncio.Event, duration: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=duration if duration > 0 else None)


def _print_services(console: Console, stack: Stack, data_dir: Path, world: DemoWorld) -> None:
    table = Table(title="Lifeboat on the embedded default (SQLite + embedded event log)")
    table.add_column("service")
    table.add_column("API")
    table.add_column("OpenAPI")
    for svc in stack.services:
        table.add_row(svc.name, svc.url, f"{svc.url}/v1/docs")
    console.print(table)
    receivers = ", ".join(f"{site} (receiver {addr})" for site, addr in world.receivers.items())
    console.print(f"sites: {receivers}; clouds.yaml {world.sites.clouds_yaml}")
    console.print(f"data: {data_dir.resolve()}   token: Authorization: Bearer {stack.token}")


def _mib(n: int) -> str:
    return f"{n / 1048576:.2f} MiB"


async def _follow(
    client: httpx.AsyncClient,
    replicator_url: str,
    check: Callable[[dict[str, Any]], dict[str, Any]],
    group_id: str,
    stop: asyncio.Event,
    duration: float,
    console: Console,
    as_json: bool,
) -> None:
    """Report each new CP of the group with ``check``'s verdict, until stopped.

    A poll or a check that fails (a slow replicator, a timeout, a 5xx) is reported on stderr and
    tried again with backoff; a CP whose check failed is checked again at the next poll.
    """
    seen: set[str] = set()
    backoff = Backoff()
    deadline = time.monotonic() + duration if duration > 0 else float("inf")
    while not stop.is_set() and time.monotonic() < deadline:
        delay = 0.5
        try:
            response = await client.get(
                f"{replicator_url}/v1/consistency-points", params={"group_id": group_id}
            )
            response.raise_for_status()
            for cp in reversed(response.json()):
                if cp["id"] in seen:
                    continue
                verdict = await asyncio.to_thread(check, cp)
                seen.add(cp["id"])
                _report(cp, len(seen), verdict, console, as_json)
            backoff.reset()
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            delay = backoff.failed()
            warn(f"following consistency points: {describe(exc)}; retrying in {delay:.1f} s")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=min(delay, deadline - time.monotonic()))


def _report(
    cp: dict[str, Any], n: int, check: dict[str, Any], console: Console, as_json: bool
) -> None:
    taken = datetime.fromisoformat(cp["taken_at"])
    changed = sum(int(m["bytes_changed"]) for m in cp["members"])
    rpo = (datetime.now(UTC) - taken).total_seconds()
    if as_json:
        event = {
            "event": "consistency-point",
            "n": n,
            "achieved_rpo_seconds": round(rpo, 3),
            "bytes_changed": changed,
            "check": {
                k: check[k]
                for k in (
                    "crash_consistent",
                    "application_consistent",
                    "ends_at_quiesce_mark",
                    "records_found",
                    "violations",
                )
            },
            **cp,
        }
        print(json.dumps(event), flush=True)
        return
    verdict = (
        "[green]consistent[/]"
        if check["crash_consistent"] and not check["violations"]
        else "[red]INCONSISTENT[/]"
    )
    app = " application-consistent" if check["application_consistent"] else ""
    console.print(
        f"  CP {n}: [cyan]{cp['consistency']}[/] {len(cp['members'])} volumes, "
        f"recovery point {taken:%H:%M:%S.%f}"[:-3]
        + f", sent {_mib(int(cp['bytes_sent']))} of {_mib(changed)} changed, "
        f"achieved RPO {rpo:.1f} s; checked at {TARGET}: {verdict}{app}, "
        f"{check['records_found']} records"
    )

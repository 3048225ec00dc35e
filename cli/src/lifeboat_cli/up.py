"""`lifeboat up`: the embedded default, with an event travelling end to end in plain sight."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from lifeboat_cli.stack import Stack, StackStartError

DEMO_GROUP = "demo-app"


async def run_up(
    data_dir: Path, port_base: int, duration: float, rpo_seconds: int, as_json: bool
) -> int:
    console = Console(stderr=as_json)
    stack = Stack(data_dir, port_base=port_base)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        with console.status("starting policy, replicator, orchestrator, verifier, billing..."):
            await stack.start()
    except StackStartError as exc:
        console.print(f"[red]error:[/] {exc}")
        return 1
    try:
        _print_services(console, stack, data_dir)
        urls = {s.name: s.url for s in stack.services}
        headers = {"Authorization": f"Bearer {stack.token}"}
        async with httpx.AsyncClient(headers=headers, timeout=10) as client:
            group = await _ensure_demo_group(client, urls["policy"], rpo_seconds)
            console.print(
                f"[bold]protection group[/] {group['name']} ({group['id']}), RPO {rpo_seconds}s: "
                "policy emits an RPO tick each interval; the replicator handles it."
            )
            await _follow_ticks(client, urls, str(group["id"]), stop, duration, console, as_json)
    finally:
        with console.status("stopping (finishing messages in hand, draining outboxes)..."):
            await stack.stop()
    console.print("[green]stopped cleanly[/]")
    return 0


def _print_services(console: Console, stack: Stack, data_dir: Path) -> None:
    table = Table(title="Lifeboat on the embedded default (SQLite + embedded event log)")
    table.add_column("service")
    table.add_column("API")
    table.add_column("OpenAPI")
    for svc in stack.services:
        table.add_row(svc.name, svc.url, f"{svc.url}/v1/docs")
    console.print(table)
    console.print(f"data: {data_dir.resolve()}   token: Authorization: Bearer {stack.token}")


async def _ensure_demo_group(client: httpx.AsyncClient, policy: str, rpo: int) -> dict[str, object]:
    """Find or create the demo group, so `lifeboat up` can be run again on the same data."""
    existing = await client.get(f"{policy}/v1/protection-groups", params={"project_id": "demo"})
    existing.raise_for_status()
    for group in existing.json():
        if group["name"] == DEMO_GROUP:
            return dict(group)
    created = await client.post(
        f"{policy}/v1/protection-groups",
        json={
            "name": DEMO_GROUP,
            "project_id": "demo",
            "rpo_seconds": rpo,
            "target_site": "site-b",
        },
    )
    created.raise_for_status()
    return dict(created.json())


async def _follow_ticks(
    client: httpx.AsyncClient,
    urls: dict[str, str],
    group_id: str,
    stop: asyncio.Event,
    duration: float,
    console: Console,
    as_json: bool,
) -> None:
    seen: set[str] = set()
    deadline = time.monotonic() + duration if duration > 0 else float("inf")
    while not stop.is_set() and time.monotonic() < deadline:
        response = await client.get(
            f"{urls['replicator']}/v1/replication-cycles", params={"group_id": group_id}
        )
        response.raise_for_status()
        for cycle in reversed(response.json()):
            if cycle["id"] in seen:
                continue
            seen.add(cycle["id"])
            if as_json:
                print(json.dumps({"event": "replication-cycle", **cycle}), flush=True)
            else:
                console.print(
                    f"  policy --[cyan]RpoTickElapsed #{cycle['tick_seq']}[/]--> bus --> "
                    f"replicator: cycle {cycle['id'][:8]} [yellow]{cycle['status']}[/] "
                    f"(event {cycle['trigger_event_id']})"
                )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=0.5)

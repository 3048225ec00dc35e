"""`lifeboat story`: the whole DR story on the embedded default, printed as it happens."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console

from lifeboat_cli.demo import SOURCE, TARGET, demo_world
from lifeboat_cli.stack import Stack, StackStartError
from lifeboat_cli.story import run_story, story_overrides
from lifeboat_cli.verbs.invoices import invoice_table
from lifeboat_dashboard.config import DashboardConfig
from lifeboat_dashboard.server import Dashboard

_TEXT = {
    "app": "3-tier app 'shop' on site-a: db (2 volumes, workload), app, web; fixed IPs",
    "protected": "protection group created: RPO 5 s, guest-agent quiesce, site-a -> site-b",
    "ready": "recovery plan 'shop' created; readiness check at site-b: ready",
    "bubble": "bubble at site-b: servers booted in an isolated network (BubbleReady sent)",
    "teardown": "bubble torn down: nothing left behind",
    "cut": "site-a CUT (every API answers 503); operator declares it down",
    "back": "site-a is back",
}


def _say(console: Console, as_json: bool) -> Any:
    def say(what: str, data: dict[str, Any]) -> None:
        if as_json:
            print(json.dumps({"event": what, **data}, default=str), flush=True)
            return
        if what == "progress":
            return
        if what == "start":
            console.print(f"[bold]{data['kind']}[/] started ({data['steps']} steps)")
        elif what == "done":
            extra = ""
            if data.get("rpo_seconds") is not None:
                extra += f", RPO {data['rpo_seconds']:.1f} s"
            if data.get("decision_seconds") is not None:
                extra += f", decided in {data['decision_seconds']:.1f} s"
            console.print(
                f"  [green]{data['kind']} {data['state']}[/] in {data['rto_seconds']:.1f} s "
                f"({data['done']}/{data['total']} steps{extra})"
            )
        elif what == "rpo-rto":
            console.print(
                f"[bold]failover to {TARGET}: achieved RPO {data['rpo']:.1f} s (data lost), "
                f"RTO {data['rto']:.1f} s[/]"
            )
        elif what == "bubble-test":
            console.print(
                f"[bold]scheduled bubble test[/] ({data['schedule']}, a week per second here) "
                f"fired: run {data['run']}"
            )
        elif what == "check":
            mark = "[green]passed[/]" if data["passed"] else f"[red]FAILED[/] {data['reason']}"
            console.print(
                f"  check {data['name']} ({data['kind']}) on {data['target']}: {mark} "
                f"({data['attempts']} attempt(s), {data['duration_seconds']:.1f} s)"
            )
        elif what == "verdict":
            rpo = "-" if data["rpo"] is None else f"{data['rpo']:.1f} s"
            rto = "-" if data["rto"] is None else f"{data['rto']:.1f} s"
            console.print(f"[bold]bubble test {data['status']}: RTO {rto}, CP age (RPO) {rpo}[/]")
        elif what == "report":
            console.print(
                f"  signed report {data['report_id']} ({data['checks']} checks; Ed25519 key "
                f"{data['fingerprint'][:23]}...): signature verified; page: {data['url']}"
            )
        elif what == "reverse":
            console.print(
                f"reprotect: replicated {TARGET} -> {SOURCE}, sent {data['sent'] / 2**20:.2f} MiB "
                f"for {data['changed'] / 2**20:.2f} MiB of changed blocks (differences only)"
            )
        elif what == "reverse-group":
            console.print(
                f"reverse protection group {data['id']}: {data['from']} -> {SOURCE} on its own "
                "RPO schedule"
            )
        elif what == "home":
            console.print(f"[bold]failback done: 'shop' runs at {data['site']} again[/]")
        elif what == "protected-again":
            console.print(
                f"[bold green]protected again: new CP {data['cp']} taken at {data['taken_at']} "
                f"(RPO target {data['rpo_target']} s), {SOURCE} -> {TARGET}, unattended[/]"
            )
            console.print(
                f"  {data['seeded']} of {data['volumes']} volumes seeded from the DR copy: sent "
                f"{data['sent'] / 2**20:.2f} MiB for {data['size'] / 2**30:.0f} GiB"
            )
        elif what == "invoice":
            console.print(invoice_table(data))
        elif what in _TEXT:
            console.print(_TEXT[what] + (f" {data}" if what == "teardown" else ""))

    return say


async def run_story_cmd(data_dir: Path, as_json: bool) -> int:
    console = Console(stderr=as_json)
    shutil.rmtree(data_dir / "story", ignore_errors=True)
    base = data_dir / "story"
    with demo_world(base) as world:
        stack = Stack(
            base,
            port_base=0,
            overrides=story_overrides(world),
        )
        try:
            await stack.start()
        except StackStartError as exc:
            console.print(f"[red]error:[/] {exc}")
            return 1
        urls = {s.name: s.url for s in stack.services}
        dashboard = Dashboard(DashboardConfig.from_urls(urls))
        try:
            console.print(
                f"dashboard: {await dashboard.start()} (token: the embedded default's, "
                "as `lifeboat up` prints it)"
            )
            async with httpx.AsyncClient(
                headers={"Authorization": f"Bearer {stack.token}"}, timeout=60
            ) as client:
                await run_story(client, urls, world, _say(console, as_json))
        except (RuntimeError, TimeoutError) as exc:
            console.print(f"[red]story stopped:[/] {exc} (logs: {base / 'lifeboat.log'})")
            return 1
        finally:
            await dashboard.stop()
            await stack.stop()
    console.print(
        "[green]the whole story ran: protect, test, fail over, reprotect, fail back, "
        "protected again, invoiced[/]"
    )
    return 0

"""`cloudsim` command line: `cloudsim up` starts sites, `cloudsim check` runs the checker."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.table import Table

from cloudsim.guest.checker_cli import check_command
from cloudsim.multisite import serve
from cloudsim.seed import SeedError, validate_seed

app = typer.Typer(
    help="cloudsim: simulated OpenStack sites.", add_completion=False, no_args_is_help=True
)
app.command("check", help="Check copies of workload volumes for crash/application consistency.")(
    check_command
)
console = Console(width=None if sys.stdout.isatty() else 200)  # full URLs when piped


def _names(sites: str) -> list[str]:
    names = [s.strip() for s in sites.split(",") if s.strip()]
    if not names or len(set(names)) != len(names):
        raise typer.BadParameter("give distinct site names, e.g. --sites a,b", param_hint="--sites")
    for n in names:
        if not n.replace("-", "").replace("_", "").isalnum():
            raise typer.BadParameter(
                f"site name {n!r}: use letters, digits, - and _", param_hint="--sites"
            )
    return names


def load_seed(path: Path) -> dict[str, object]:
    try:
        data = yaml.safe_load(path.read_text())
        validate_seed(data)
    except (OSError, yaml.YAMLError, SeedError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--seed") from None
    return dict(data)


@app.command()
def up(
    sites: Annotated[str, typer.Option(help="comma-separated site names")] = "site-a,site-b",
    dir: Annotated[Path, typer.Option("--dir", help="data dir; clouds.yaml goes here")] = Path(
        ".cloudsim"
    ),
    time_scale: Annotated[float, typer.Option(min=0.0, help="multiplies every delay")] = 1.0,
    ports: Annotated[
        str | None, typer.Option(help="comma-separated API ports (default: free ports)")
    ] = None,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    seed: Annotated[
        Path | None,
        typer.Option(
            help="YAML seed file: identity: {projects: [...], roles: [...], users: [...]}"
        ),
    ] = None,
) -> None:
    """Start the sites and serve until Ctrl-C; writes DIR/clouds.yaml and DIR/sites.json."""
    names = _names(sites)
    port_list: list[int] | None = None
    if ports:
        try:
            port_list = [int(p) for p in ports.split(",")]
        except ValueError:
            raise typer.BadParameter("ports must be integers", param_hint="--ports") from None
        if len(port_list) != len(names):
            raise typer.BadParameter("give one port per site", param_hint="--ports")
    seed_data = load_seed(seed) if seed is not None else None
    dir = dir.resolve()
    dir.mkdir(parents=True, exist_ok=True)
    (dir / "sites.json").unlink(missing_ok=True)
    logging.basicConfig(level=logging.WARNING)

    def announce() -> None:
        path = dir / "sites.json"
        while not path.exists():
            time.sleep(0.05)
        info = json.loads(path.read_text())
        table = Table(title="cloudsim sites")
        for col in ("site", "region", "auth_url", "admin_url", "admin token"):
            table.add_column(col)
        for s in info["sites"]:
            table.add_row(s["name"], s["region"], s["auth_url"], s["admin_url"], s["admin_token"])
        console.print(table)
        console.print(
            f"clouds.yaml: {dir / 'clouds.yaml'}  (clouds: "
            + ", ".join(f"{s['name']}, {s['name']}-admin" for s in info["sites"])
            + ")"
        )
        console.print(
            f"try: OS_CLIENT_CONFIG_FILE={dir / 'clouds.yaml'} openstack --os-cloud "
            f"{info['sites'][0]['name']} server list"
        )

    threading.Thread(target=announce, daemon=True).start()
    asyncio.run(
        serve(names, dir, time_scale=time_scale, host=host, ports=port_list, seed=seed_data)
    )


if __name__ == "__main__":
    app()

"""`lifeboat`: the operator command (OpenStack CLI conventions; verbs grow with each issue)."""

# Only `up` and `story` run the services in this process: they import them (and cloudsim) when
# called, so every other command starts without loading the five services
# (tests/integration/cli_startup/test_startup.py checks that none is imported).

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from lifeboat_cli.verbs import (
    app_sets,
    cps,
    dr_sites,
    evacuations,
    executions,
    groups,
    invoices,
    links,
    plans,
    policies,
    rate_cards,
    restores,
    sites,
    test_reports,
    tests,
    usage,
)

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
app.add_typer(sites.app, name="site")
app.add_typer(policies.app, name="policy")
app.add_typer(groups.app, name="group")
app.add_typer(links.app, name="link")
app.add_typer(app_sets.app, name="app-set")
app.add_typer(cps.app, name="cp")
app.add_typer(dr_sites.app, name="dr-site")
app.add_typer(plans.app, name="plan")
app.add_typer(executions.app, name="execution")
app.add_typer(evacuations.app, name="evacuation")
app.add_typer(rate_cards.app, name="rate-card")
app.add_typer(usage.app, name="usage")
app.add_typer(invoices.app, name="invoice")
test_reports.register(tests.app)  # `test report` and `test verify-report` beside define|run|...
app.add_typer(tests.app, name="test")
executions.register(app)
evacuations.register(app)
restores.register(app)


@app.callback()
def main(
    ctx: typer.Context,
    os_cloud: Annotated[
        str | None,
        typer.Option(
            "--os-cloud",
            envvar="OS_CLOUD",
            help="clouds.yaml cloud: Keystone token and Lifeboat's endpoint (catalog type "
            "disaster-recovery, else the entry's lifeboat_endpoint); flags and LIFEBOAT_* "
            "variables still win",
        ),
    ] = None,
) -> None:
    """`lifeboat`: the operator command (OpenStack CLI conventions)."""
    # Not for commands that call no API, nor for --help: no Keystone round trip there.
    if ctx.invoked_subcommand in ("up", "story", "version") or "--help" in sys.argv[1:]:
        return
    if os_cloud:
        from lifeboat_cli.cloud_auth import use_cloud

        use_cloud(os_cloud)


@app.command()
def up(
    data_dir: Annotated[
        Path, typer.Option(help="Where SQLite databases and the event log live")
    ] = Path(".lifeboat"),
    port_base: Annotated[
        int,
        typer.Option(
            help="Services listen on port_base+1..+5, all five under one URL on port_base "
            "(/policy, /orchestrator, ...); 0 picks free ports"
        ),
    ] = 8700,
    duration: Annotated[
        float, typer.Option(help="Stop after this many seconds (0: run until Ctrl-C)")
    ] = 0,
    rpo: Annotated[int, typer.Option(min=1, help="RPO of the demo protection group, seconds")] = 5,
    volumes: Annotated[int, typer.Option(min=1, max=8, help="Volumes of the demo VM")] = 3,
    json_output: Annotated[bool, typer.Option("--json", help="Events as JSON lines")] = False,
    sites: Annotated[
        str | None,
        typer.Option(help="Comma-separated cloudsim sites to run, each with its receiver"),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            help="YAML file: `sites: [a, b, c]` and optionally `demo: false` (instead of --sites)"
        ),
    ] = None,
    demo: Annotated[
        bool, typer.Option("--demo/--no-demo", help="Protect the demo VM (site-a -> site-b)")
    ] = True,
) -> None:
    """Run Lifeboat on the embedded default (no servers needed): cloudsim sites (site-a and
    site-b, or --sites), each with its receiver, the five services in one process, and a
    protected multi-volume VM getting verified consistency points at the DR site (unless
    --no-demo)."""
    import asyncio

    from lifeboat_cli.up import run_up
    from lifeboat_cli.up_sites import resolve_sites

    site_ids, demo = resolve_sites(sites, config, demo)
    raise typer.Exit(
        asyncio.run(
            run_up(data_dir, port_base, duration, rpo, json_output, volumes, site_ids, demo)
        )
    )


@app.command()
def story(
    data_dir: Annotated[
        Path, typer.Option(help="Where SQLite databases and the event log live")
    ] = Path(".lifeboat"),
    json_output: Annotated[bool, typer.Option("--json", help="Events as JSON lines")] = False,
) -> None:
    """The whole DR story on the embedded default: protect a 3-tier app, bubble test, site-a
    cut, failover (RPO/RTO printed), reprotect, failback, and protected again (a new CP by
    schedule)."""
    import asyncio

    from lifeboat_cli.story_cmd import run_story_cmd

    raise typer.Exit(asyncio.run(run_story_cmd(data_dir, json_output)))


@app.command()
def version() -> None:
    """Print Lifeboat's version."""
    typer.echo("lifeboat 0.1.0")


if __name__ == "__main__":
    app()

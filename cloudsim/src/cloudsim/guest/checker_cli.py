"""``cloudsim check``: run the consistency checker on volume files from a shell.

Exit status: 0 when the copy is crash-consistent (and application-consistent if
``--require-application`` is given), 1 when it is not, 2 on bad input. Volumes are given as
``NAME=PATH`` or just ``PATH`` (the path is then the name).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cloudsim.guest.checker import ConsistencyReport, check_consistency

checker_app = typer.Typer(
    help="Check copies of workload volumes for crash and application consistency.",
    add_completion=False,
)


def _parse_volumes(specs: list[str]) -> dict[str, Path]:
    volumes: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = spec, spec
        if not name or not path:
            raise typer.BadParameter(
                f"volume {spec!r} must be NAME=PATH or PATH", param_hint="VOLUMES"
            )
        if name in volumes:
            raise typer.BadParameter(f"volume name {name!r} given twice", param_hint="VOLUMES")
        file = Path(path)
        if not file.is_file():
            raise typer.BadParameter(f"{path} is not a file", param_hint="VOLUMES")
        volumes[name] = file
    return volumes


def _render(report: ConsistencyReport, console: Console) -> None:
    table = Table(title="volumes")
    for col in ("name", "workload", "vol", "server", "role", "records", "last seq"):
        table.add_column(col)
    for v in report.volumes:
        table.add_row(
            v.name,
            v.workload_id,
            str(v.volume_index),
            v.server_id,
            v.role,
            str(v.records),
            str(v.last_seq),
        )
    console.print(table)
    summary = Table(title="consistency", show_header=False)
    summary.add_row("crash consistent", "yes" if report.crash_consistent else "NO")
    summary.add_row("application consistent", "yes" if report.application_consistent else "no")
    summary.add_row("last seq", str(report.last_seq))
    if report.missing_records is not None:
        summary.add_row("missing vs source", str(report.missing_records))
    summary.add_row("corrupt records", str(report.corrupt_records))
    console.print(summary)
    for line in report.violations:
        console.print(f"[red]violation:[/red] {line}")


@checker_app.command("check")
def check_command(
    volumes: Annotated[list[str], typer.Argument(help="NAME=PATH or PATH of each volume copy")],
    expected_last_seq: Annotated[
        int | None, typer.Option(min=0, help="the source workload's last seq")
    ] = None,
    workload_id: Annotated[str | None, typer.Option(help="only check this workload")] = None,
    require_application: Annotated[
        bool, typer.Option(help="fail unless application-consistent too")
    ] = False,
    json_output: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Report whether the volumes hold one consistent prefix of a workload's records."""
    try:
        report = check_consistency(
            _parse_volumes(volumes),
            expected_last_seq=expected_last_seq,
            workload_id=workload_id,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if json_output:
        typer.echo(report.model_dump_json(indent=2))
    else:
        _render(report, Console())
    ok = report.application_consistent if require_application else report.crash_consistent
    raise typer.Exit(0 if ok else 1)

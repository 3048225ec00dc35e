"""What every API verb shares: service URL and token options, the HTTP call, error messages,
and output as a rich table or JSON (``--json``).

Errors from the API are shown as ``field: message`` lines (the services name the field in every
4xx), and an unreachable service says which URL was tried and how to point elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

# lifeboat_shared.secret_checks.DEV_TOKEN, spelt out: importing lifeboat_shared's settings would
# load pydantic-settings and SQLAlchemy into every command
# (tests/integration/cli_startup/test_startup.py).
DEV_TOKEN = "lifeboat-dev-token"

if TYPE_CHECKING:
    import httpx  # imported where a request is made: it is most of the start-up time

PolicyUrl = Annotated[
    str,
    typer.Option(
        "--policy-url", envvar="LIFEBOAT_POLICY_URL", help="Policy service URL", show_default=True
    ),
]
ReplicatorUrl = Annotated[
    str,
    typer.Option("--replicator-url", envvar="LIFEBOAT_REPLICATOR_URL", help="Replicator URL"),
]
Token = Annotated[
    str,
    typer.Option(
        "--token",
        envvar="LIFEBOAT_TOKEN",
        help="API token (default: the embedded development token)",
        show_default=False,
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]

DEFAULT_POLICY_URL = "http://127.0.0.1:8701"
DEFAULT_REPLICATOR_URL = "http://127.0.0.1:8702"
DEFAULT_TOKEN = DEV_TOKEN

console = Console()
errors = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    errors.print(f"[red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def call(
    method: str,
    base_url: str,
    path: str,
    token: str,
    *,
    body: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    env_hint: str = "LIFEBOAT_POLICY_URL",
    timeout: float = 30,
) -> Any:
    """One API call; returns the decoded JSON (None for 204) or exits with a clear message."""
    import httpx

    url = f"{base_url.rstrip('/')}{path}"
    try:
        response = httpx.request(
            method,
            url,
            json=body,
            params={k: v for k, v in (params or {}).items() if v is not None},
            headers={"Authorization": f"Bearer {token}", **(headers or {})},
            timeout=timeout,
        )
    except httpx.TransportError as exc:
        fail(
            f"cannot reach {base_url} ({type(exc).__name__}); is the service running "
            f"(`lifeboat up`)? Point elsewhere with {env_hint}."
        )
    if response.status_code == 204:
        return None
    if response.status_code >= 400:
        fail(f"{response.status_code}: {describe_error(response)}")
    try:
        return response.json()
    except ValueError:
        fail(f"{url} answered {response.status_code} with a body that is not JSON")


def describe_error(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text[:500] or response.reason_phrase
    if isinstance(detail, list):
        lines = []
        for item in detail:
            loc = [str(p) for p in item.get("loc", []) if p not in ("body", "query", "path")]
            lines.append(f"{'.'.join(loc) or 'request'}: {item.get('msg', item)}")
        return "; ".join(lines)
    return str(detail)


Column = tuple[str, Callable[[dict[str, Any]], Any]]


def show(data: Any, columns: Sequence[Column], *, as_json: bool, title: str | None = None) -> None:
    """A list (or one object) as a table, or as JSON."""
    if as_json:
        typer.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    rows = data if isinstance(data, list) else [data]
    table = Table(title=title)
    for header, _ in columns:
        table.add_column(header)
    for row in rows:
        table.add_row(*[_cell(get(row)) for _, get in columns])
    console.print(table)


def show_fields(data: dict[str, Any], *, as_json: bool) -> None:
    """One object as a two-column field/value table, or as JSON."""
    if as_json:
        typer.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    table = Table(show_header=True)
    table.add_column("field")
    table.add_column("value")
    for key, value in data.items():
        table.add_row(key, _cell(value))
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)

"""Every service's console entry point: ``lifeboat-<service> serve | migrate | openapi``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import typer
import uvicorn
from pydantic import ValidationError

from lifeboat_shared.persistence.database import Database
from lifeboat_shared.persistence.migrations import upgrade_to_head
from lifeboat_shared.service.app import create_app
from lifeboat_shared.service.server import uvicorn_config
from lifeboat_shared.service.spec import ServiceSpec


def service_cli(build_spec: Callable[[], ServiceSpec]) -> typer.Typer:
    app = typer.Typer(no_args_is_help=True, add_completion=False)

    def build() -> ServiceSpec:
        """Settings errors (e.g. the dev token in production) as one clear line, no traceback."""
        try:
            return build_spec()
        except ValidationError as exc:
            for err in exc.errors():
                field = ".".join(str(p) for p in err["loc"]) or "settings"
                typer.echo(f"error: {field}: {err['msg']}", err=True)
            raise typer.Exit(2) from None

    @app.command()
    def serve() -> None:
        """Run the service (HTTP API, consumer, outbox relay) until SIGTERM or Ctrl-C."""
        spec = build()
        config = uvicorn_config(
            create_app(spec),
            spec.settings,
            host=spec.settings.http_host,
            port=spec.settings.http_port,
        )
        uvicorn.Server(config).run()

    @app.command()
    def migrate() -> None:
        """Apply this service's database migrations (production start-up step)."""
        spec = build()

        async def run() -> None:
            db = Database(
                spec.settings.service_database_url(spec.name),
                schema=spec.name,
                pool=spec.settings.db_pool(),
            )
            try:
                await upgrade_to_head(db, spec.migrations)
            finally:
                await db.dispose()

        asyncio.run(run())
        typer.echo(f"{spec.name}: migrations applied")

    @app.command()
    def openapi() -> None:
        """Print the service's OpenAPI document."""
        typer.echo(json.dumps(create_app(build(), manage_runtime=False).openapi(), indent=2))

    return app

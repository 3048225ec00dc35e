"""All five services in one process on one shared bus: the embedded default (`lifeboat up`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from lifeboat_billing.bootstrap import build as build_billing
from lifeboat_billing.settings import BillingSettings
from lifeboat_cli.gateway import GatewayServer
from lifeboat_orchestrator.bootstrap import build as build_orchestrator
from lifeboat_orchestrator.settings import OrchestratorSettings
from lifeboat_policy.bootstrap import build as build_policy
from lifeboat_policy.settings import PolicySettings
from lifeboat_replicator.bootstrap import build as build_replicator
from lifeboat_replicator.settings import ReplicatorSettings
from lifeboat_shared.bus.factory import make_bus
from lifeboat_shared.bus.interface import EventBus
from lifeboat_shared.service.app import create_app
from lifeboat_shared.service.auth import TokenValidator
from lifeboat_shared.service.server import uvicorn_config
from lifeboat_shared.service.spec import ServiceSpec
from lifeboat_shared.settings import LifeboatSettings
from lifeboat_shared.telemetry.logging import configure_logging, stop_file_logging
from lifeboat_verifier.bootstrap import build as build_verifier
from lifeboat_verifier.settings import VerifierSettings

Builder = Callable[..., ServiceSpec]

SERVICES: tuple[tuple[str, Builder], ...] = (
    ("policy", lambda **kw: build_policy(PolicySettings(**kw))),
    ("replicator", lambda **kw: build_replicator(ReplicatorSettings(**kw))),
    ("orchestrator", lambda **kw: build_orchestrator(OrchestratorSettings(**kw))),
    ("verifier", lambda **kw: build_verifier(VerifierSettings(**kw))),
    ("billing", lambda **kw: build_billing(BillingSettings(**kw))),
)


class StackStartError(RuntimeError):
    pass


async def _serve(server: uvicorn.Server) -> None:
    """uvicorn exits the process (SystemExit) when it cannot bind or start; keep it a task error."""
    try:
        await server.serve()
    except SystemExit as exc:
        raise StackStartError(f"exited with code {exc.code}") from None


class _Server(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the stack (several share one loop)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@dataclass
class RunningService:
    name: str
    url: str
    app: FastAPI
    server: _Server


class Stack:
    def __init__(
        self,
        data_dir: Path,
        *,
        port_base: int,
        host: str = "127.0.0.1",
        overrides: dict[str, dict[str, object]] | None = None,
        token_validator: Callable[[], TokenValidator] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.settings = LifeboatSettings(data_dir=data_dir)
        self.bus: EventBus = make_bus(self.settings, client_id="lifeboat-up")
        data_dir.mkdir(parents=True, exist_ok=True)
        configure_logging(
            "lifeboat", file=data_dir / "lifeboat.log", redact=self.settings.secret_values()
        )
        self.services: list[RunningService] = []
        for i, (name, build) in enumerate(SERVICES):
            port = port_base + i + 1 if port_base else 0
            spec = build(data_dir=data_dir, http_port=port, **(overrides or {}).get(name, {}))
            validator = token_validator() if token_validator is not None else None
            app = create_app(spec, bus=self.bus, token_validator=validator, configure_logs=False)
            config = uvicorn_config(app, spec.settings, host=host, port=port, lifespan="on")
            self.services.append(
                RunningService(name, f"http://{host}:{port}", app, _Server(config))
            )
        self._serving: list[asyncio.Task[None]] = []
        # One public endpoint: all five under /<service> on port_base (gateway.py).
        apps = {s.name: s.app for s in self.services}
        self.gateway = GatewayServer(apps, self.settings, host, port_base)

    @property
    def token(self) -> str:
        return self.settings.api_token.get_secret_value()

    async def start(self) -> None:
        await self.bus.start()
        for svc in self.services:
            self._serving.append(asyncio.create_task(_serve(svc.server), name=svc.name))
        while not all(s.server.started for s in self.services):
            failed = [t.get_name() for t in self._serving if t.done()]
            if failed:
                await self.stop()
                raise StackStartError(
                    f"{', '.join(failed)} could not start (is its port in use? --port-base 0 "
                    f"picks free ports); details in {self.data_dir / 'lifeboat.log'}"
                )
            await asyncio.sleep(0.05)
        for svc in self.services:  # port 0: learn the port the OS gave
            sock = svc.server.servers[0].sockets[0]
            host, port = sock.getsockname()[:2]
            svc.url = f"http://{host}:{port}"
        try:
            await self.gateway.start()
        except RuntimeError as exc:
            await self.stop()
            raise StackStartError(
                f"{exc} (is the port in use? --port-base 0 picks free ports)"
            ) from None

    async def stop(self) -> None:
        await self.gateway.stop()
        for svc in self.services:
            svc.server.should_exit = True
        if self._serving:
            # uvicorn raises SystemExit when a lifespan start-up fails; keep it in the task.
            await asyncio.gather(*self._serving, return_exceptions=True)
        await self.bus.stop()
        stop_file_logging(self.data_dir / "lifeboat.log")

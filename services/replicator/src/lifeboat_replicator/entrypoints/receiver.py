"""``lifeboat-replicator receiver``: the DR end of a replication link, one per DR site.

It listens for senders (mutually authenticated with the link key), attaches each replica volume
through the DR site's own Cinder (attachments API, this host's connector), writes, fsyncs,
verifies and acknowledges. A separate process from the replicator service so the data path runs
where the DR site's storage is reachable.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from lifeboat_replicator.adapters.cinder_targets import CinderAttachmentTargets
from lifeboat_replicator.adapters.rbd_site import rbd_access
from lifeboat_replicator.datamover import LinkSecurity, Receiver
from lifeboat_replicator.settings import ReplicatorSettings
from lifeboat_shared.cloud import CloudDriver, SiteConfig


@contextlib.contextmanager
def _loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop in a thread: the cloud driver is async, the receiver's threads are not."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="receiver-cloud-loop", daemon=True)
    thread.start()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


def receiver(
    site: Annotated[str, typer.Option(help="The DR site this receiver serves")],
    cloud: Annotated[
        str | None, typer.Option(help="clouds.yaml cloud of that site (default: the site name)")
    ] = None,
    listen: Annotated[
        str | None, typer.Option(help="host:port (default LIFEBOAT_REPLICATOR_RECEIVER_LISTEN)")
    ] = None,
) -> None:
    """Serve the DR end of replication links until SIGTERM or Ctrl-C."""
    try:
        settings = ReplicatorSettings()
    except ValidationError as exc:
        for err in exc.errors():
            typer.echo(f"error: {'.'.join(map(str, err['loc']))}: {err['msg']}", err=True)
        raise typer.Exit(2) from None
    host, _, port_text = (listen or settings.receiver_listen).rpartition(":")
    if not host or not port_text.isdigit():
        typer.echo("error: listen: expected host:port", err=True)
        raise typer.Exit(2)
    security = LinkSecurity.from_psk_file(settings.resolved_psk_file())
    config = SiteConfig(name=site, cloud=cloud or site, clouds_yaml=settings.clouds_yaml)
    with _loop_thread() as loop:
        driver = CloudDriver([config])
        project = asyncio.run_coroutine_threadsafe(driver.project(site), loop).result(timeout=120)
        rbd = settings.rbd_sites.get(site)
        targets = CinderAttachmentTargets(
            project,
            connector=settings.connector(),
            loop=loop,
            rbd=rbd_access(rbd) if rbd is not None else None,
        )
        state_dir = settings.resolved_state_dir() / f"receiver-{site}"
        state_dir.mkdir(parents=True, exist_ok=True)
        server = Receiver(
            listen=(host, int(port_text)),
            security=security,
            state_dir=state_dir,
            resolve_target=targets,
        )

        def stop(_sig: int, _frame: object) -> None:
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        print(f"listening on {host}:{server.port}", flush=True)
        try:
            server.serve_forever()
        finally:
            asyncio.run_coroutine_threadsafe(driver.aclose(), loop).result(timeout=30)
    sys.stdout.flush()


@contextlib.contextmanager
def spawned_receiver(
    site: str,
    *,
    data_dir: Path,
    clouds_yaml: Path,
    cloud: str | None = None,
    listen: str = "127.0.0.1:0",
    extra_env: dict[str, str] | None = None,
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Run a receiver as its own process (as in production: the DR end is another host), wait
    for it to listen, yield (process, "host:port"); SIGTERM it on exit. Used by `lifeboat up` and
    the tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIFEBOAT_", "OS_"))}
    env.update(
        LIFEBOAT_DATA_DIR=str(data_dir),
        LIFEBOAT_REPLICATOR_CLOUDS_YAML=str(clouds_yaml),
        LIFEBOAT_JSON_LOGS="false",
        **(extra_env or {}),
    )
    log = data_dir / f"receiver-{site}.log"
    args = ["receiver", "--site", site, "--cloud", cloud or site, "--listen", listen]
    with log.open("a") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lifeboat_replicator.entrypoints.cli", *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("listening on "):
            raise RuntimeError(f"the receiver for {site} did not start; see {log}")
        yield proc, line.split()[-1]
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

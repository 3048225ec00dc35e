"""A warm orchestrator process (python -m tests.integration.orchestrator.standby): it imports the
service first, then waits for a line on stdin before it serves. The SIGKILL test keeps one ready
so that a restart costs the service's own start (database, Kafka, claiming its executions), not
seconds of Python imports, sixty times over. Nothing is read from the database or the bus before
the line arrives: until then it is not yet an orchestrator, only a loaded interpreter."""

from __future__ import annotations

import contextlib
import importlib
import sys

from lifeboat_orchestrator.entrypoints import cli

# What the first request, the first cloud call and uvicorn would otherwise import after the start.
WARM = (
    "uvicorn.lifespan.on",
    "uvicorn.loops.auto",
    "uvicorn.protocols.http.auto",
    "uvicorn.protocols.websockets.auto",
    "openstack.compute.v2._proxy",
    "openstack.block_storage.v3._proxy",
    "openstack.network.v2._proxy",
    "openstack.image.v2._proxy",
    "openstack.dns.v2._proxy",
)


def main() -> None:
    for name in WARM:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    if sys.stdin.readline().strip() != "go":
        return  # the test ended without needing this one
    sys.argv = ["lifeboat-orchestrator", "serve"]
    cli.main()


if __name__ == "__main__":
    main()

"""A service process that stages state + events and dies (python -m ...persistence.writer)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import sqlalchemy as sa

from lifeboat_shared.contracts.envelope import new_envelope
from lifeboat_shared.persistence.database import Database
from lifeboat_shared.persistence.outbox import add_to_outbox
from tests.integration.bus.harness import ProbeRecorded
from tests.integration.persistence.tables import widgets


async def main(args: dict[str, str]) -> None:
    db = Database(args["url"], schema=args.get("schema") or None)
    prefix, mode = args["prefix"], args["mode"]
    for i in range(int(args["count"])):
        async with db.transaction() as session:
            await session.execute(sa.insert(widgets).values(id=f"{prefix}-{i}"))
            event = ProbeRecorded(key=f"{prefix}-{i}", seq=i)
            envelope = new_envelope(event, source="/t", event_id=f"{prefix}-{i}")
            await add_to_outbox(session, [envelope])
            if mode == "die-in-transaction":
                print("in-transaction", flush=True)
                await asyncio.sleep(3600)
    print("committed", flush=True)
    # Killed between commit and publish: no relay ever ran in this process.
    os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))

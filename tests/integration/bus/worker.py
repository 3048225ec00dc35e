"""A consumer in its own process, for the tests that kill it."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

from lifeboat_shared.bus.consumer import ConsumerLoop
from tests.integration.bus.harness import BackendConfig, ProbeHandler, ProbeRecorded


async def main(args: dict[str, object]) -> None:
    cfg = BackendConfig.from_json(str(args["backend"]))
    bus = cfg.make_bus()
    db = cfg.make_db()
    await bus.start()
    deliveries = args.get("deliveries")
    loop = ConsumerLoop(
        bus=bus,
        db=db,
        group=str(args["group"]),
        topics=[str(t) for t in args["topics"]],  # type: ignore[attr-defined]
        handlers={
            ProbeRecorded: ProbeHandler(
                delay=float(args.get("delay", 0.0)),  # type: ignore[arg-type]
                deliveries=Path(str(deliveries)) if deliveries else None,
            )
        },
        source="/lifeboat/test-worker",
        dead_letter_topic=str(args["dlq"]),
        batch_size=int(args.get("batch_size", 50)),  # type: ignore[call-overload]
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    task = asyncio.create_task(loop.run(stop))
    await loop.running.wait()
    print("ready", flush=True)
    await task
    await bus.stop()
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))

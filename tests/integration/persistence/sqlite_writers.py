"""Many concurrent writers on one SQLite file, from one process (python -m ...sqlite_writers).

Prints ``ready``, waits for a line on stdin (so every process starts writing at once), runs
``tasks`` asyncio tasks of ``per_task`` write transactions each (read, then insert, with an await
in between, as handlers do) beside readers, and prints a JSON summary: rows written and every
error met.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import sqlalchemy as sa

from lifeboat_shared.persistence.database import Database, PoolConfig
from tests.integration.persistence.tables import widgets


async def write_many(db: Database, prefix: str, tasks: int, per_task: int) -> dict[str, Any]:
    errors: list[str] = []
    written = 0
    done = asyncio.Event()

    async def writer(t: int) -> None:
        nonlocal written
        for i in range(per_task):
            try:
                async with db.transaction() as s:
                    await s.execute(sa.select(sa.func.count()).select_from(widgets))
                    await asyncio.sleep(0)  # other tasks run while this one is in a transaction
                    await s.execute(sa.insert(widgets).values(id=f"{prefix}-{t}-{i}"))
                written += 1
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:300])

    async def reader() -> None:
        while not done.is_set():
            try:
                async with db.read() as s:
                    await s.execute(sa.select(sa.func.count()).select_from(widgets))
            except Exception as exc:
                errors.append(f"reader {type(exc).__name__}: {exc}"[:300])
            await asyncio.sleep(0.01)

    readers = [asyncio.create_task(reader()) for _ in range(2)]
    await asyncio.gather(*(writer(t) for t in range(tasks)))
    done.set()
    await asyncio.gather(*readers)
    return {"written": written, "errors": errors}


async def main(args: dict[str, Any]) -> None:
    db = Database(args["url"], pool=PoolConfig(**args.get("pool", {})))
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    try:
        summary = await write_many(db, args["prefix"], int(args["tasks"]), int(args["per_task"]))
    finally:
        await db.dispose()
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))

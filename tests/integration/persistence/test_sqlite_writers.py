"""The embedded default never surfaces ``database is locked``: many writers on one SQLite file,
as asyncio tasks in three processes at once, every row written.

The busy timeout is cut to 10 ms so that waiting for another process's write outlasts it all the
time (as a long write under load outlasts the default): a writer must then get its turn by retrying,
never by an error. Before one-writer-per-process and those retries, this run lost nearly all its
rows to ``OperationalError: database is locked`` at ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from lifeboat_shared.persistence.database import Database, NestedWriteTransaction, PoolConfig
from tests.integration.persistence.sqlite_writers import write_many
from tests.integration.persistence.tables import widget_metadata, widgets
from tests.support.services import ROOT

TASKS, PER_TASK, CHILDREN = 20, 15, 2
POOL = {"sqlite_busy_timeout_seconds": 0.01, "sqlite_write_wait_seconds": 240.0}


async def test_many_writers_in_several_processes_never_see_database_is_locked(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'writers.db'}"
    db = Database(url, pool=PoolConfig(**POOL))
    async with db.engine.begin() as conn:
        await conn.run_sync(widget_metadata.create_all)
    children = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.integration.persistence.sqlite_writers",
                json.dumps(
                    {
                        "url": url,
                        "prefix": f"child{i}",
                        "tasks": TASKS,
                        "per_task": PER_TASK,
                        "pool": POOL,
                    }
                ),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        for i in range(CHILDREN)
    ]
    try:
        for child in children:
            assert child.stdout is not None and child.stdin is not None
            line = await asyncio.to_thread(child.stdout.readline)
            assert line.strip() == "ready", line
        for child in children:  # all start together, and this process writes beside them
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        mine = await write_many(db, "parent", TASKS, PER_TASK)
        summaries = [mine]
        for child in children:
            assert child.stdout is not None
            summaries.append(json.loads(await asyncio.to_thread(child.stdout.readline)))
            assert await asyncio.to_thread(child.wait, 60) == 0
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    errors = [e for s in summaries for e in s["errors"]]
    assert errors == [], f"{len(errors)} errors, first: {errors[:3]}"
    assert [s["written"] for s in summaries] == [TASKS * PER_TASK] * (CHILDREN + 1)
    async with db.read() as s:
        rows = (await s.execute(sa.select(sa.func.count()).select_from(widgets))).scalar_one()
    await db.dispose()
    assert rows == TASKS * PER_TASK * (CHILDREN + 1)


async def test_a_write_inside_a_read_session_or_a_nested_write_fails_at_once(
    tmp_path: Path,
) -> None:
    """The two ways a writer used to wait for nothing: both are now a clear error, at once."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'misuse.db'}")
    async with db.engine.begin() as conn:
        await conn.run_sync(widget_metadata.create_all)
    try:
        async with db.read() as s:
            with pytest.raises(sa.exc.OperationalError, match="readonly"):
                await s.execute(sa.insert(widgets).values(id="from-a-read"))
        async with db.transaction() as outer:
            await outer.execute(sa.insert(widgets).values(id="outer"))
            with pytest.raises(NestedWriteTransaction):
                async with db.transaction():
                    pass
        async with db.read() as s:
            ids = (await s.execute(sa.select(widgets.c.id))).scalars().all()
        assert ids == ["outer"]
    finally:
        await db.dispose()

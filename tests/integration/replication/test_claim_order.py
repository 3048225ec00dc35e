"""Claims take the earliest deadline first (SQLite, the embedded default, and PostgreSQL).

A tick's cycle is due by its group's newest CP's recovery point + the RPO. When cycles queue for
a runner's slots, the group nearest to breaching goes first, whatever order the ticks came in;
a group's first copy (no CP yet) is due at once. The real handler makes the cycles and the real
claim statement takes them.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lifeboat_replicator.adapters.repository import ConsistencyPointRepository, CycleRepository
from lifeboat_replicator.bootstrap import build
from lifeboat_replicator.domain.model import Consistency, ConsistencyPoint
from lifeboat_replicator.service_layer.handlers import HANDLERS
from lifeboat_shared.bus.handlers import HandlerContext
from lifeboat_shared.contracts.envelope import new_envelope
from lifeboat_shared.contracts.messages import ReplicationSpec, RpoTickElapsed, SiteRef
from lifeboat_shared.persistence.database import Database
from lifeboat_shared.persistence.migrations import upgrade_to_head
from tests.integration.replication.harness import fresh_database

SPEC = ReplicationSpec(
    project_id="demo",
    source=SiteRef(site_id="a", cloud="a"),
    target=SiteRef(site_id="b", cloud="b", data_endpoint="127.0.0.1:9"),
    volumes=["v1"],
)


@pytest.fixture(params=["sqlite", "postgresql"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'replicator.db'}")
    else:
        url = await fresh_database(request.getfixturevalue("postgres_url"))
        database = Database(url, schema="replicator")
    try:
        await database.ensure_schema()
        spec = build()
        assert spec.migrations is not None
        await upgrade_to_head(database, spec.migrations)
        yield database
    finally:
        await database.dispose()


async def deliver(db: Database, message: RpoTickElapsed) -> None:
    async with db.transaction() as s:
        envelope = new_envelope(message, source="/tests")
        await HANDLERS[type(message)](message, HandlerContext(s, envelope, "/tests"))


def tick(group: str, rpo: int) -> RpoTickElapsed:
    return RpoTickElapsed(
        group_id=group,
        project_id="demo",
        tick_seq=1,
        rpo_seconds=rpo,
        due_at=datetime.now(UTC),
        spec=SPEC,
    )


async def test_the_group_nearest_to_breaching_is_claimed_first(db: Database) -> None:
    now = datetime.now(UTC)
    # Newest recovery points: "early" 5 s ago, "late" 25 s ago (RPO 30 s for both): "late" is
    # due in 5 s, "early" in 25 s. "fresh" has no CP yet: its first copy is due at once.
    async with db.transaction() as s:
        for group, age in (("early", 5), ("late", 25)):
            await ConsistencyPointRepository(s).add(
                ConsistencyPoint(
                    id=str(uuid.uuid4()),
                    group_id=group,
                    project_id="demo",
                    source_site="a",
                    target_site="b",
                    consistency=Consistency.CRASH,
                    taken_at=now - timedelta(seconds=age),
                    created_at=now - timedelta(seconds=age - 1),
                    cycle_id=str(uuid.uuid4()),
                    members=(),
                )
            )
    # The ticks arrive in the wrong order: the group with the most time left first.
    await deliver(db, tick("early", 30))
    await deliver(db, tick("late", 30))
    await deliver(db, tick("fresh", 30))

    async def claim_one(owner: str) -> str:
        async with db.transaction() as s:
            [cycle_id] = await CycleRepository(s).claim(
                owner, datetime.now(UTC), datetime.now(UTC) + timedelta(seconds=15), limit=1
            )
            cycle = await CycleRepository(s).get(cycle_id)
        assert cycle is not None
        return cycle.group_id

    assert [await claim_one(f"r{i}") for i in range(3)] == ["fresh", "late", "early"]
    async with db.read() as s:
        cycles = {c.group_id: c for c in await CycleRepository(s).list(limit=10)}
    assert cycles["fresh"].due_by is None
    late_due = cycles["late"].due_by
    assert late_due is not None and abs((late_due - now).total_seconds() - 5) < 1

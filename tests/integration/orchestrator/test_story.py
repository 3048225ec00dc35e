"""The README's story end to end on the embedded default (SQLite + embedded event log + cloudsim):
protect a 3-tier app, bubble test and teardown, site cut, failover, reprotect, failback."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from lifeboat_cli.demo import SOURCE, TARGET, demo_world
from lifeboat_cli.stack import Stack
from lifeboat_cli.story import run_story
from lifeboat_cli.story_cmd import story_verifier

pytestmark = pytest.mark.timeout(600)


async def test_whole_story(tmp_path: Path) -> None:
    lines: list[tuple[str, dict[str, Any]]] = []

    def say(what: str, data: dict[str, Any]) -> None:
        lines.append((what, data))
        print(what, data)

    with demo_world(tmp_path) as world:
        stack = Stack(
            tmp_path,
            port_base=0,
            overrides={
                "replicator": {"clouds_yaml": world.sites.clouds_yaml},
                "policy": {"clouds_yaml": world.sites.clouds_yaml},
                "orchestrator": {
                    "clouds_yaml": world.sites.clouds_yaml,
                    "runner_interval_seconds": 0.1,
                    "step_backoff_seconds": 0.2,
                },
                "verifier": story_verifier(world),
            },
        )
        await stack.start()
        try:
            urls = {s.name: s.url for s in stack.services}
            async with httpx.AsyncClient(
                headers={"Authorization": f"Bearer {stack.token}"}, timeout=60
            ) as client:
                result = await run_story(client, urls, world, say)
        finally:
            await stack.stop()
    events = result.events
    assert events["failover"]["target_site"] == TARGET
    assert events["failback"]["target_site"] == SOURCE
    assert 0 <= events["failover"]["rpo_seconds"] < 60
    teardown = next(d for w, d in lines if w == "teardown")
    assert teardown["deleted"] > 0 and teardown["cleanup"] == "clean"
    bubble = events["bubble-test"]
    assert bubble["status"] == "passed" and bubble["rto_seconds"] > 0
    checks = [d for w, d in lines if w == "check"]
    assert {c["name"] for c in checks} == {"boots", "db-data"} and all(c["passed"] for c in checks)
    # The lifecycle closes: reprotect made a reverse group with its own schedule; after
    # failback the plan is protected again and the forward group's own RPO schedule (nobody
    # asked) brought a new CP of the servers failback made, within one RPO (5 s) plus a cycle.
    assert next(d for w, d in lines if w == "reverse-group")["from"] == TARGET
    home = next(d for w, d in lines if w == "home")
    assert home == {"site": SOURCE, "status": "protected"}
    again = next(d for w, d in lines if w == "protected-again")
    assert not again["suspended"]
    finished = datetime.fromisoformat(events["failback"]["finished_at"])
    assert datetime.fromisoformat(again["taken_at"]) > finished
    assert (datetime.fromisoformat(again["taken_at"]) - finished).total_seconds() < 5 + 30
    # Its first cycle started from the DR copy failback stopped: every volume seeded, and only
    # what differs travels (the DR copy is what the new volumes were restored from).
    assert again["seeded"] == again["volumes"] == 4
    assert again["sent"] < 0.05 * again["size"], again

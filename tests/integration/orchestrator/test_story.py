"""The README's story end to end on the embedded default (SQLite + embedded event log + cloudsim):
protect a 3-tier app, bubble test and teardown, site cut, failover, reprotect, failback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from lifeboat_cli.demo import SOURCE, TARGET, demo_world
from lifeboat_cli.stack import Stack
from lifeboat_cli.story import run_story

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
    assert teardown["deleted"] > 0

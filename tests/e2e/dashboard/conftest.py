"""A real embedded stack (two cloudsim sites, five services, the dashboard) and Debian's chromium.

The stack runs in its own thread and event loop (Playwright's sync API wants the test's thread):
two static tokens, an admin operator and a reader of the demo project; the story's 3-tier app
protected site-a -> site-b with a ready recovery plan.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from lifeboat_shared.service.tokens_file import token_digest

ADMIN_TOKEN = "dashboard-e2e-admin-token-0123456789"
READER_TOKEN = "dashboard-e2e-reader-token-0123456789"


@dataclass
class RunningStack:
    dashboard: str = ""
    urls: dict[str, str] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    sites: Any = None  # cloudsim's running sites (their admin APIs)
    error: BaseException | None = None


def _tokens_file(path: Path) -> Path:
    path.write_text(
        "tokens:\n"
        f"  - {{sha256: {token_digest(ADMIN_TOKEN)}, user: ops, roles: [admin]}}\n"
        f"  - {{sha256: {token_digest(READER_TOKEN)}, user: auditor, project_id: demo, "
        "roles: [reader]}\n"
    )
    return path


async def _run(base: Path, out: RunningStack, ready: threading.Event, stop: asyncio.Event) -> None:
    from lifeboat_cli.demo import demo_world
    from lifeboat_cli.stack import Stack
    from lifeboat_cli.story import protect_app
    from lifeboat_dashboard.config import DashboardConfig
    from lifeboat_dashboard.server import Dashboard

    tokens = {"tokens_file": _tokens_file(base / "tokens.yaml")}
    with demo_world(base) as world:
        clouds = {"clouds_yaml": world.sites.clouds_yaml, **tokens}
        stack = Stack(
            base,
            port_base=0,
            overrides={
                "replicator": clouds,
                "policy": clouds,
                "orchestrator": {**clouds, "runner_interval_seconds": 0.1},
                "verifier": tokens,
                "billing": tokens,
            },
        )
        await stack.start()
        dashboard = Dashboard(DashboardConfig.from_urls({s.name: s.url for s in stack.services}))
        try:
            out.urls = {s.name: s.url for s in stack.services}
            out.sites = world.sites
            out.dashboard = await dashboard.start()
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
            async with httpx.AsyncClient(headers=headers, timeout=60) as client:
                out.plan, _ = await protect_app(client, out.urls, world, lambda _w, _d: None)
            ready.set()
            await stop.wait()
        finally:
            await dashboard.stop()
            await stack.stop()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    base = tmp_path_factory.mktemp("dash")
    out = RunningStack()
    ready = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    def main() -> None:
        try:
            loop.run_until_complete(_run(base, out, ready, stop))
        except BaseException as exc:  # reported to the test
            out.error = exc
        finally:
            ready.set()

    thread = threading.Thread(target=main, name="lifeboat-stack", daemon=True)
    thread.start()
    assert ready.wait(240), "the stack and its ready plan did not come up within 240 s"
    if out.error is not None:
        raise out.error
    yield out
    loop.call_soon_threadsafe(stop.set)
    thread.join(120)


def _chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is missing in CI (scripts/test installs it with apt)")
        pytest.skip("Debian's chromium is not installed (scripts/test installs it)")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    env = os.environ.get("LIFEBOAT_ARTIFACTS")
    path = Path(env) / "dashboard" if env else tmp_path_factory.mktemp("dashboard-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path

"""The dashboard in Debian's chromium against a real embedded stack (tests/e2e/dashboard/conftest).

One browser walk per role: the admin signs in with a token, sees the stack's real sites, group
(RPO chart, CP timeline) and ready plan, starts a test failover from the page and watches its
steps progress live (no reload) to success, cleans the bubble up, is refused a failover whose
plan name is mistyped, and approves an evacuation's first wave; a reader sees the same pages
without a single action button. No console error or page error on any page; screenshots of each
page are kept ($LIFEBOAT_ARTIFACTS/dashboard, else the test's tmp dir).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.dashboard.conftest import ADMIN_TOKEN, READER_TOKEN, RunningStack

pytestmark = pytest.mark.timeout(240)
DONE_RECOVERY = "li[data-step^=recover][data-state=succeeded]"
PAGES = ("/", "/groups", "/plans", "/executions", "/evacuations", "/tests", "/usage")


class Browsing:
    """A signed-in page that records every console error and uncaught page error."""

    def __init__(self, browser: Any, stack: RunningStack, artifacts: Path, who: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on(
            "console",
            lambda m: (
                self.errors.append(f"console {m.type}: {m.text} ({self.page.url})")
                if m.type == "error"
                else None
            ),
        )
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e} ({self.page.url})"))
        self.base = stack.dashboard
        self.artifacts = artifacts
        self.who = who

    def sign_in(self, token: str) -> None:
        self.page.goto(f"{self.base}/")
        assert self.page.url.endswith("/login"), "an anonymous visitor is sent to sign in"
        self.page.fill("input[name=token]", token)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(f"{self.base}/")
        self.goto("/")  # and the landing page renders (200)

    def goto(self, path: str) -> Any:
        url = path if path.startswith("http") else f"{self.base}{path}"
        response = self.page.goto(url)
        assert response is not None and response.status == 200, (path, response)
        return self.page

    def shot(self, name: str) -> Path:
        path = self.artifacts / f"{self.who}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def admin(browser: Any, stack: RunningStack, artifacts: Path) -> Iterator[Browsing]:
    b = Browsing(browser, stack, artifacts, "admin")
    b.sign_in(ADMIN_TOKEN)
    yield b
    b.close()


def _until(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.2)


def _watch_live(b: Browsing, shot: str | None = None, timeout: float = 150) -> list[str]:
    """Until the execution page says succeeded, without reloading; the progress texts seen."""
    page = b.page
    page.evaluate("window.__sameDocument = true")
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        state = page.inner_text("#execution-state")
        progress = page.inner_text("#progress")
        if not seen or seen[-1] != progress:
            seen.append(progress)
            if shot and state == "running" and page.locator(DONE_RECOVERY).count():
                b.shot(shot)
                shot = None
        if state != "running":
            break
        assert time.monotonic() < deadline, f"still running after {timeout:.0f} s: {seen}"
        time.sleep(0.15)
    assert state == "succeeded", (state, page.inner_text("#live"))
    assert shot is None, f"no screenshot {shot}: never saw a recovered tier while running: {seen}"
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    return seen


def test_admin_watches_a_test_failover_live_and_approves_a_wave(
    admin: Browsing, stack: RunningStack
) -> None:
    page = admin.page
    started = time.monotonic()
    # Sites and their health, from the policy catalog and the orchestrator.
    rows = page.locator("#sites tbody tr")
    assert {"site-a", "site-b"} <= {rows.nth(i).locator("td").first.inner_text()
                                    for i in range(rows.count())}  # fmt: skip
    assert page.locator("[data-role=admin]").count() == 1
    admin.shot("sites")
    # The group, its RPO chart over its CP history and the CP timeline.
    admin.goto("/groups")
    page.click("#groups a:text('shop')")
    _until("two CPs in the timeline", lambda: admin.goto(page.url).locator("#cps tbody tr")
           .count() >= 2)  # fmt: skip
    assert page.locator("#rpo-chart svg polyline.rpo").count() == 1
    assert page.locator("#rpo-chart svg line.target").count() == 1
    admin.shot("group")
    # The plan is ready; a test failover asks one confirming click, then runs live.
    admin.goto("/plans")
    row = page.locator("tr[data-plan=shop]")
    assert "ready" in row.inner_text()
    row.locator("[data-action=test-failover]").click()
    # Each server boot at site-b takes >= 0.8 s (cloudsim latency): the three tiers' recoveries
    # then last longer than the page's 1 s polls, whatever the machine's speed.
    slow_boots(stack, 800)
    page.click("#confirm button[type=submit]")
    page.wait_for_url("**/executions/*")
    test_url = page.url
    seen = _watch_live(admin, shot="failover-in-progress")
    slow_boots(stack, 0)
    assert len(seen) >= 3, f"the steps did not progress live on the page: {seen}"
    assert page.locator("li[data-step=bubble-ready][data-state=succeeded]").count() == 1
    admin.shot("test-failover-done")
    # The verifier's bubble test run appears.
    _until("the bubble test run", lambda: admin.goto("/tests").locator("#test-runs tbody tr a")
           .count() >= 1)  # fmt: skip
    admin.shot("tests")
    # Clean the bubble up (one click), watched live too.
    admin.goto(test_url.removeprefix(admin.base))
    page.click("[data-action=test-cleanup]")
    page.click("#confirm button[type=submit]")
    page.wait_for_url("**/executions/*")
    _watch_live(admin)
    # A real failover asks for the plan's name: a wrong one starts nothing.
    admin.goto("/plans")
    before = len(_api(stack, "GET", "/v1/executions"))
    page.locator("tr[data-plan=shop] [data-action=failover]").click()
    page.fill("input[name=confirm_name]", "shop-typo")
    page.click("#confirm button[type=submit]")
    assert "type the plan's name, shop" in page.inner_text(".error")
    assert len(_api(stack, "GET", "/v1/executions")) == before
    admin.shot("failover-confirmation-refused")
    # An evacuation of site-a waits for its first wave's approval: approve it on the page.
    evacuation = _api(stack, "POST", "/v1/evacuations", {"source_site": "site-a"})
    admin.goto("/evacuations")
    section = page.locator(f"[data-evacuation='{evacuation['id']}']")
    assert "awaiting-approval" in section.inner_text()
    admin.shot("evacuation-awaiting")
    section.locator("[data-action=approve]").click()
    assert "shop → site-b" in page.inner_text("main")
    page.click("#confirm button[type=submit]")
    page.wait_for_url(f"{admin.base}/evacuations")
    wave = _api(stack, "GET", f"/v1/evacuations/{evacuation['id']}")["waves"][0]
    assert wave["state"] != "awaiting-approval", wave
    assert page.locator("[data-action=approve]").count() == 0
    # The wave's failover is linked (the page polls while an evacuation runs; no reload).
    page.evaluate("window.__sameDocument = true")
    steps = page.locator(f"[data-evacuation='{evacuation['id']}'] a:text('steps')")
    _until("the wave's failover on the page", lambda: steps.count() >= 1)
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded"
    admin.shot("evacuation-approved")
    for path in PAGES:  # every page once more, for console errors
        admin.goto(path)
    assert admin.errors == []
    print(f"admin walk: {time.monotonic() - started:.1f} s")


def test_reader_sees_the_pages_without_action_buttons(
    browser: Any, stack: RunningStack, artifacts: Path
) -> None:
    reader = Browsing(browser, stack, artifacts, "reader")
    try:
        reader.sign_in(READER_TOKEN)
        assert reader.page.locator("[data-role=reader]").count() == 1
        for path in PAGES:
            page = reader.goto(path)
            assert page.locator("[data-action]").count() == 0, path
            assert (
                page.locator("form[action*='/executions'], form[action*='/approve']").count() == 0
            )
        reader.goto("/plans")
        assert "shop" in reader.page.inner_text("#plans")  # the reader's project's plan
        reader.shot("plans")
        # The action pages refuse a reader too (the API would anyway).
        plan_id = stack.plan["id"]
        r = reader.page.goto(f"{reader.base}/plans/{plan_id}/confirm?kind=test-failover")
        assert r is not None and r.status == 403
        assert [e for e in reader.errors if "403" not in e] == []
    finally:
        reader.close()


def slow_boots(stack: RunningStack, latency_ms: int) -> None:
    rules = [{"operation": "server.create", "latency_ms": latency_ms}] if latency_ms else []
    with stack.sites.sites["site-b"].admin() as cloud_admin:
        cloud_admin.put("/rules", json={"rules": rules}).raise_for_status()


def _api(stack: RunningStack, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    r = httpx.request(
        method,
        stack.urls["orchestrator"] + path,
        json=body,
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        timeout=30,
    )
    assert r.status_code < 300, r.text
    return r.json()

"""The in-process wake-ups the RPO scheduler and the cycle runners sleep on."""

from __future__ import annotations

import asyncio
import threading
import time

from lifeboat_shared.service.wakeups import Wakeups, first_of, setter


def test_a_post_reaches_every_subscriber_until_it_unsubscribes_and_never_raises() -> None:
    news: Wakeups[int] = Wakeups("the test's loops")
    heard: list[int] = []

    def broken(_: int) -> None:
        raise RuntimeError("loop closed")

    unsubscribe_broken = news.subscribe(broken)
    unsubscribe = news.subscribe(heard.append)
    assert news.has_subscribers()
    news.post(1)  # the broken subscriber does not stop the others nor raise into the poster
    unsubscribe()
    news.post(2)
    unsubscribe_broken()
    unsubscribe_broken()  # twice is harmless
    assert heard == [1] and not news.has_subscribers()


async def test_a_wake_from_another_thread_ends_the_sleep_early() -> None:
    stop, wake = asyncio.Event(), asyncio.Event()
    set_wake = setter(wake)
    threading.Timer(0.05, set_wake).start()
    started = time.monotonic()
    await first_of(stop, wake, timeout=30)
    assert wake.is_set() and time.monotonic() - started < 10


async def test_the_sleep_ends_at_its_timeout_or_at_stop() -> None:
    stop, wake = asyncio.Event(), asyncio.Event()
    started = time.monotonic()
    await first_of(stop, wake, timeout=0.05)
    assert not wake.is_set() and time.monotonic() - started >= 0.05
    setter(stop)()  # same loop: set at once
    await first_of(stop, wake, timeout=30)
    assert stop.is_set()

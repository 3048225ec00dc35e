"""Runs blocking openstacksdk calls off the event loop, a bounded number at a time per site.

openstacksdk (and keystoneauth under it) is synchronous. Each site gets its own small thread pool,
so a slow or unreachable site ties up only its own threads, and no site gets more concurrent API
requests than the pool size. Exceptions are translated inside the worker thread, so what reaches
the caller is always a `lifeboat_shared.cloud.errors` type.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from lifeboat_shared.cloud.translate import translate_errors

P = ParamSpec("P")
R = TypeVar("R")


class SiteExecutor:
    """A bounded thread pool for one site's SDK calls."""

    def __init__(self, site: str, max_workers: int) -> None:
        self.site = site
        self.max_workers = max_workers
        self._pool = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix=f"lifeboat-cloud-{site}"
        )
        # How long this site's waits of each kind took (see ProjectContext.wait_for)
        self.wait_seconds: dict[str, float] = {}

    async def run(
        self, operation: str, func: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Run `func(*args, **kwargs)` in this site's pool; SDK errors become CloudErrors."""
        loop = asyncio.get_running_loop()
        ctx = contextvars.copy_context()

        def job() -> R:
            with translate_errors(operation):
                return func(*args, **kwargs)

        return await loop.run_in_executor(self._pool, lambda: ctx.run(job))

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

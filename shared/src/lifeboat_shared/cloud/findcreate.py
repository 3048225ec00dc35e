"""Idempotent creation: look for a resource carrying the Lifeboat tag before creating one.

The find and the create run in the same worker-thread job, and the pair is what gets retried on
429/503: if a first attempt's create reached the cloud before the error, the retry's find returns
it. Without a tag, a creation is retried only on 429 (the cloud refused it before doing anything),
never on 503 or a lost connection, where the outcome is unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from lifeboat_shared.cloud.context import ProjectContext
from lifeboat_shared.cloud.retry import RATE_LIMIT_ONLY, RETRYABLE
from lifeboat_shared.cloud.tags import LifeboatTag

T = TypeVar("T")


async def find_or_create(
    ctx: ProjectContext,
    operation: str,
    tag: LifeboatTag | None,
    find: Callable[[LifeboatTag], T | None],
    create: Callable[[], T],
    *,
    fresh: bool = False,
) -> tuple[T, bool]:
    """Return (resource, created). `find` and `create` are blocking SDK-calling functions.

    ``fresh``: the caller knows no earlier attempt can have made it (a workflow step's first
    run), so the first try skips the find (a list call); retries after a 429/503 still find.
    """
    if tag is None:
        made = await ctx.retry.call(
            lambda: ctx.executor.run(operation, create), retry_on=RATE_LIMIT_ONLY
        )
        return made, True

    tries = [0]

    def job() -> tuple[T, bool]:
        tries[0] += 1
        if not (fresh and tries[0] == 1):
            found = find(tag)
            if found is not None:
                return found, False
        return create(), True

    return await ctx.retry.call(lambda: ctx.executor.run(operation, job), retry_on=RETRYABLE)

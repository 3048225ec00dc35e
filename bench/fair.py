"""One timing method for every script in bench/: run each tool N times, alternately, same run.

Every tool a benchmark compares (Lifeboat's and the references) goes through `alternate` (or
`alternate_async`): round r runs every tool once, in an order rotated by r so that no tool always
runs first (or right after the same neighbour) on a noisy shared host; an optional `before_each`
(not timed: e.g. `sync`, or restoring a destination file) runs before every trial. Each tool gets
the same number of runs and is reported the same way: the **median** (the figure to quote) and
the best. Ratios are only taken between series measured in the same call (`ratio`).

A trial is a callable returning the seconds to count (so it can exclude its own setup), or None to
let the helper time the whole call.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

QUOTED = "median"  # what README tables quote; best is shown beside it

Trial = Callable[[], "float | None"]
AsyncTrial = Callable[[], Awaitable["float | None"]]


@dataclass
class Series:
    """The runs of one tool, in seconds."""

    name: str
    runs: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def best(self) -> float:
        return min(self.runs)

    def fmt(self, unit: str = "s", scale: float = 1.0, digits: int = 3) -> str:
        """'median X (best Y)' in the given unit."""
        return f"{self.median * scale:.{digits}f} {unit} (best {self.best * scale:.{digits}f})"

    def as_dict(self) -> dict[str, object]:
        return {"runs": self.runs, "median": self.median, "best": self.best}


def ratio(reference: Series, ours: Series) -> tuple[float, float]:
    """How many times faster `ours` is than `reference`: (median/median, best/best)."""
    return reference.median / ours.median, reference.best / ours.best


def fmt_ratio(reference: Series, ours: Series) -> str:
    med, best = ratio(reference, ours)
    return f"{med:.1f}x (best/best {best:.1f}x)"


def _order(names: list[str], r: int) -> list[str]:
    k = r % len(names)
    return names[k:] + names[:k]


def alternate(
    trials: Mapping[str, Trial],
    repeat: int,
    *,
    before_each: Callable[[str, int], None] | None = None,
) -> dict[str, Series]:
    """Run every trial `repeat` times, one round at a time, rotating the order each round."""
    names = list(trials)
    out = {n: Series(n) for n in names}
    for r in range(max(1, repeat)):
        for name in _order(names, r):
            if before_each is not None:
                before_each(name, r)
            start = time.perf_counter()
            counted = trials[name]()
            out[name].runs.append(counted if counted is not None else time.perf_counter() - start)
    return out


async def alternate_async(
    trials: Mapping[str, AsyncTrial],
    repeat: int,
    *,
    before_each: Callable[[str, int], None] | None = None,
) -> dict[str, Series]:
    """`alternate` for coroutine trials (run one at a time, never concurrently)."""
    names = list(trials)
    out = {n: Series(n) for n in names}
    for r in range(max(1, repeat)):
        for name in _order(names, r):
            if before_each is not None:
                before_each(name, r)
            start = time.perf_counter()
            counted = await trials[name]()
            out[name].runs.append(counted if counted is not None else time.perf_counter() - start)
    return out


def table(series: Mapping[str, Series], unit: str = "s", scale: float = 1.0) -> str:
    """A plain table: tool, runs, median (quoted), best."""
    w = max(len(n) for n in series)
    lines = [f"{'tool':<{w}}  runs  {'median':>10}  {'best':>10}"]
    for name, s in series.items():
        lines.append(
            f"{name:<{w}}  {len(s.runs):>4}  {s.median * scale:>8.3f} {unit}"
            f"  {s.best * scale:>8.3f} {unit}"
        )
    return "\n".join(lines)


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """--help shows the script's whole docstring as written, and every option's default."""


def host_speed(rounds: int = 3) -> float:
    """Seconds a fixed pure-Python loop takes (median of ``rounds``), to record beside a figure
    that is not a same-run comparison (P6): the development VM's host is shared, and on
    2026-12-06 this read from 0.63 to 1.22 s within minutes on an idle VM; runs are comparable
    only at similar readings."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        sum(i * i for i in range(10**7))
        times.append(time.perf_counter() - started)
    return statistics.median(times)

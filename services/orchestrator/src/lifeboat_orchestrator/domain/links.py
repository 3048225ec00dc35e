"""Site-to-site links and partitions (UC6). Pure Python with explicit clocks.

A link is an ordered pair source -> target, seen by the sending side (its replicator reports
whether a transfer reached the target's receiver). Like site health, one failed transfer never
changes anything: the link is CUT when the last ``cut_after_failures`` observations all failed
(consecutive: a success in between resets the run) and the oldest of them is within
``cut_window_seconds``; it is REACHABLE again after ``up_after_successes`` consecutive successes.

A partition is a cut link whose two sites are both declared up and were both probed healthy
recently (``probe_max_age_seconds``): each side runs, neither reaches the other, so a split brain
is possible. A cut link with a site down is that site's outage, not a partition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True)
class LinkRules:
    cut_after_failures: int = 3
    cut_window_seconds: float = 600.0
    up_after_successes: int = 1
    probe_max_age_seconds: float = 60.0
    """A site counts as up for a partition only if probed healthy this recently."""

    def __post_init__(self) -> None:
        if self.cut_after_failures < 1:
            raise ValueError("link_cut_after_failures: must be at least 1")
        if self.up_after_successes < 1:
            raise ValueError("link_up_after_successes: must be at least 1")
        if self.cut_window_seconds <= 0:
            raise ValueError("link_cut_window_seconds: must be positive")
        if self.probe_max_age_seconds <= 0:
            raise ValueError("partition_probe_max_age_seconds: must be positive")


@dataclass(frozen=True)
class LinkTransition:
    reachable: bool
    at: datetime
    reason: str


@dataclass
class SiteLink:
    """One ordered link's hysteresis state; persisted so that a restart keeps the counts."""

    source_site: str
    target_site: str
    reachable: bool = True
    since: datetime | None = None
    """When the current state began (None: reachable, never seen cut or reached yet)."""
    last_observed_at: datetime | None = None
    observer: str = ""
    detail: str = ""
    failures: list[datetime] = field(default_factory=list)
    """The current run of consecutive failures (newest last, at most ``cut_after_failures``)."""
    successes: int = 0
    """The current run of consecutive successes."""

    @property
    def name(self) -> str:
        return f"{self.source_site}->{self.target_site}"

    @property
    def consecutive_failures(self) -> int:
        return len(self.failures)

    def observe(
        self, reachable: bool, at: datetime, observer: str, detail: str, rules: LinkRules
    ) -> LinkTransition | None:
        """Record one observation; one older than the newest is ignored (the present matters)."""
        if self.last_observed_at is not None and at < self.last_observed_at:
            return None
        self.last_observed_at, self.observer, self.detail = at, observer, detail
        if reachable:
            self.failures = []
            self.successes += 1
            if self.since is None:
                self.since = at
            if not self.reachable and self.successes >= rules.up_after_successes:
                self.reachable, self.since = True, at
                return LinkTransition(True, at, f"{self.successes} transfer(s) got through")
            return None
        self.successes = 0
        self.failures = [*self.failures, at][-rules.cut_after_failures :]
        if not self.reachable:
            return None
        window = timedelta(seconds=rules.cut_window_seconds)
        if len(self.failures) >= rules.cut_after_failures and self.failures[0] >= at - window:
            self.reachable, self.since = False, at
            return LinkTransition(
                False,
                at,
                f"{len(self.failures)} consecutive failed transfers within "
                f"{rules.cut_window_seconds:g} s: {detail}",
            )
        return None


@dataclass(frozen=True)
class SiteSeen:
    """A site as the partition rule needs it: declared state and its newest healthy probe."""

    site_id: str
    declared: str
    last_healthy_at: datetime | None

    def up_recently(self, now: datetime, rules: LinkRules) -> bool:
        return (
            self.declared == "up"
            and self.last_healthy_at is not None
            and now - self.last_healthy_at <= timedelta(seconds=rules.probe_max_age_seconds)
        )


def partition_of(
    link: SiteLink, sites: Mapping[str, SiteSeen], now: datetime, rules: LinkRules
) -> tuple[bool, str]:
    """(partitioned, why): a cut link between two sites both up and recently probed healthy."""
    if link.reachable:
        return False, "link reachable"
    missing = []
    for site_id in (link.source_site, link.target_site):
        seen = sites.get(site_id)
        if seen is None or not seen.up_recently(now, rules):
            state = "unknown" if seen is None else seen.declared
            missing.append(
                f"{site_id} is {state}"
                if state != "up"
                else f"{site_id} not probed healthy in the last {rules.probe_max_age_seconds:g} s"
            )
    if missing:
        return False, "link cut, but " + "; ".join(missing) + ": not a partition"
    return True, (
        f"link cut since {link.since.isoformat() if link.since else '?'} while both "
        f"{link.source_site} and {link.target_site} are up: split brain possible"
    )

"""Token buckets shared by every transfer of a group and of a site link (UC2d)."""

from __future__ import annotations

import threading

from lifeboat_replicator.datamover import TokenBucket
from lifeboat_shared.contracts.messages import ReplicationSpec


class Throttles:
    def __init__(self, link_rate: int | None) -> None:
        self._link_rate = link_rate
        self._groups: dict[str, TokenBucket] = {}
        self._links: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    def __call__(self, spec: ReplicationSpec, group_id: str) -> list[TokenBucket]:
        buckets: list[TokenBucket] = []
        with self._lock:
            if spec.bandwidth_bytes_per_s:
                bucket = self._groups.get(group_id)
                if bucket is None:
                    bucket = self._groups[group_id] = TokenBucket(spec.bandwidth_bytes_per_s)
                else:
                    bucket.set_rate(spec.bandwidth_bytes_per_s)
                buckets.append(bucket)
            if self._link_rate:
                link = (spec.source.site_id, spec.target.site_id)
                if link not in self._links:
                    self._links[link] = TokenBucket(self._link_rate)
                buckets.append(self._links[link])
        return buckets

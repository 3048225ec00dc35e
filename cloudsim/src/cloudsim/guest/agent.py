"""GuestAgent: the in-guest quiesce seam (qemu-guest-agent's fsfreeze) of one simulated server.

Nova's createImage of a volume-backed server and Lifeboat's application-consistent points both
freeze the guest, snapshot, then thaw. The agent fails on demand (fault injection) and tells the
workloads writing to this server's volumes, so a frozen guest really stops writing and leaves a
quiesce mark that a checker can find on the copies.
"""

from __future__ import annotations

import threading
from typing import Protocol


class QuiesceError(RuntimeError):
    """The guest could not be frozen (agent disabled, or failure injected)."""


class FreezeListener(Protocol):
    def guest_frozen(self, agent: GuestAgent) -> None: ...

    def guest_thawed(self, agent: GuestAgent) -> None: ...


class GuestAgent:
    """One per server. ``enabled`` is whether the image ships a guest agent at all."""

    def __init__(self, server_id: str, *, enabled: bool = True) -> None:
        self.server_id = server_id
        self.enabled = enabled
        self.frozen = False
        self.powered = True  # a stopped guest writes nothing (its workload waits)
        self.freezes = 0
        self._fail = False
        self._lock = threading.Lock()
        self._listeners: list[FreezeListener] = []

    def add_listener(self, listener: FreezeListener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: FreezeListener) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def fail_quiesce(self, fail: bool) -> None:
        """Fault injection: while set, every freeze raises :class:`QuiesceError`."""
        with self._lock:
            self._fail = fail

    def freeze(self) -> None:
        """Freeze the guest's file systems; returns once writes stopped and a mark is on disk."""
        with self._lock:
            if not self.enabled:
                raise QuiesceError(f"server {self.server_id} has no guest agent enabled")
            if self._fail:
                raise QuiesceError(f"guest agent of server {self.server_id} failed to freeze")
            if self.frozen:
                return
            self.frozen = True
            self.freezes += 1
            listeners = list(self._listeners)
        for listener in listeners:  # outside our lock: listeners take their own
            listener.guest_frozen(self)

    def thaw(self) -> None:
        with self._lock:
            if not self.frozen:
                return
            self.frozen = False
            listeners = list(self._listeners)
        for listener in listeners:
            listener.guest_thawed(self)

    def status(self) -> dict[str, object]:
        with self._lock:
            return {
                "server_id": self.server_id,
                "enabled": self.enabled,
                "frozen": self.frozen,
                "fail_quiesce": self._fail,
                "freezes": self.freezes,
            }

"""Errors the data mover raises to its caller (the replicator's orchestration).

One base class so the caller can catch "the transfer failed" in one place, and subclasses that say
what to do next: fix the key (AuthenticationFailed), fix the request (TargetRejected), wait and
retry (LinkDown: the journal makes a retry resume), or alert (IntegrityError).
"""

from __future__ import annotations


class TransferError(Exception):
    """A transfer did not complete; the message says why in words an operator understands."""


class AuthenticationFailed(TransferError):
    """The peer could not prove it holds the key or certificate; nothing was written."""


class TargetRejected(TransferError):
    """The receiver refused the request (unknown or unsafe target, busy, reused transfer id)."""


class LinkDown(TransferError):
    """The connection could not be made or broke; resending the same transfer id resumes."""


class IntegrityError(TransferError):
    """Data or a digest did not match what was sent; the replica must not be trusted."""


class ProtocolError(TransferError):
    """The peer spoke something that is not this protocol (garbage, wrong version)."""


class TransferCancelled(TransferError):
    """The caller stopped the transfer (e.g. its group was suspended); resending the same
    transfer id resumes from the receiver's last acknowledged chunk."""

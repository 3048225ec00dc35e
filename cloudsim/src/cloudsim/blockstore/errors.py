"""Errors the block store raises; the HTTP layer maps them to 404 / 409 / 400.

They are the store's own types (not OSError) so nothing above the store has to guess whether a
FileNotFoundError meant "no such volume" or "the disk broke".
"""

from __future__ import annotations


class BlockStoreError(Exception):
    """Base class of every error the block store raises on purpose."""


class NotFoundError(BlockStoreError):
    """The volume, snapshot or backup does not exist (HTTP 404)."""


class ConflictError(BlockStoreError):
    """The object exists already, or its state forbids the operation (HTTP 409)."""


class InvalidArgumentError(BlockStoreError, ValueError):
    """A size, offset, id or record is malformed (HTTP 400); the message names the field."""

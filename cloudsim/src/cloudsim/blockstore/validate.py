"""Argument checks shared by the store's modules; errors name the offending field."""

from __future__ import annotations

import re

from cloudsim.blockstore.errors import InvalidArgumentError

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


def check_id(value: str, field: str) -> str:
    if not isinstance(value, str) or not _ID.match(value) or ".." in value:
        raise InvalidArgumentError(f"{field} {value!r} is not a valid id (letters, digits, ._-)")
    return value


def check_size(value: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidArgumentError(f"{field} must be a positive integer, got {value!r}")
    return value

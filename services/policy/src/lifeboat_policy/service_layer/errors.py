"""Domain errors of the use cases; the API turns each into one HTTP status naming the field."""

from __future__ import annotations


class PolicyServiceError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class NotFound(PolicyServiceError):
    """404: the id in the path names nothing."""


class Conflict(PolicyServiceError):
    """409: the request is well-formed but clashes with the current state."""


class Invalid(PolicyServiceError):
    """422: a field names something that does not exist or cannot be used (e.g. a site)."""

"""Static tokens of the embedded default, each a named principal with a project and roles.

The file (JSON or YAML) holds SHA-256 digests, never the tokens themselves::

    tokens:
      - sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
        user: alice
        project_id: 6d1f...        # omit (null) only for an admin operator
        roles: [member]            # reader | member | admin
        expires_at: 2027-01-01T00:00:00Z   # optional

A presented token is hashed and compared with every digest in constant time.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from lifeboat_shared.service.auth import ROLES, Principal


class TokensFileError(ValueError):
    """The tokens file is unreadable or an entry is malformed (the message names the entry)."""


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class _Entry:
    digest: bytes
    principal: Principal


def _parse_time(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise TokensFileError(f"{where}.expires_at: not an ISO 8601 time: {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _entry(raw: Any, where: str) -> _Entry:
    if not isinstance(raw, dict):
        raise TokensFileError(f"{where}: expected a mapping")
    digest = raw.get("sha256")
    if not isinstance(digest, str) or len(digest) != 64:
        raise TokensFileError(f"{where}.sha256: the token's SHA-256, 64 hex digits")
    try:
        digest_bytes = bytes.fromhex(digest)
    except ValueError:
        raise TokensFileError(f"{where}.sha256: not hexadecimal") from None
    user = raw.get("user")
    if not isinstance(user, str) or not user:
        raise TokensFileError(f"{where}.user: a non-empty name is required")
    roles = raw.get("roles")
    if not isinstance(roles, list) or not roles or any(r not in ROLES for r in roles):
        raise TokensFileError(f"{where}.roles: a non-empty list of {', '.join(ROLES)}")
    project = raw.get("project_id")
    if project is not None and (not isinstance(project, str) or not project):
        raise TokensFileError(f"{where}.project_id: a project id or null")
    if project is None and "admin" not in roles:
        raise TokensFileError(f"{where}.project_id: required unless the principal is an admin")
    principal = Principal(
        user_id=user,
        user_name=user,
        project_id=project,
        roles=frozenset(roles),
        scope="project" if project else "operator",
        expires_at=_parse_time(raw.get("expires_at"), where),
    )
    return _Entry(digest_bytes, principal)


class TokensFileValidator:
    def __init__(self, entries: list[_Entry]) -> None:
        self._entries = entries

    @classmethod
    def load(cls, path: Path) -> TokensFileValidator:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise TokensFileError(f"tokens_file: cannot read {path}: {exc.strerror}") from None
        try:
            doc = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise TokensFileError(f"tokens_file: {path} is not valid JSON/YAML: {exc}") from None
        raw = doc.get("tokens") if isinstance(doc, dict) else None
        if not isinstance(raw, list):
            raise TokensFileError(f"tokens_file: {path} needs a 'tokens' list")
        entries = [_entry(e, f"tokens[{i}]") for i, e in enumerate(raw)]
        return cls(entries)

    async def validate(self, token: str) -> Principal | None:
        presented = hashlib.sha256(token.encode()).digest()
        found: Principal | None = None
        for entry in self._entries:  # no early exit: the time does not depend on the match
            if secrets.compare_digest(presented, entry.digest):
                found = entry.principal
        if found is None:
            return None
        if found.expires_at is not None and found.expires_at <= datetime.now(UTC):
            return None
        return found

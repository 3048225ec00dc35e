"""Secrets: placeholder values refused in production, and the values to redact from output.

Production mode refuses every secret that ships in this repository (the development token,
docker-compose's former fallback token, the sample database passwords): a deployment that forgot
to set one would otherwise run with a password anyone can read on GitHub. Messages name the
setting and the environment variable, never the value.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEV_TOKEN = "lifeboat-dev-token"
# Tokens and passwords that appear in this repository (code, compose, docs, charts) or are
# common placeholders; compared case-insensitively.
PLACEHOLDER_TOKENS = frozenset(
    {DEV_TOKEN, "lifeboat-compose-change-me", "change-me", "changeme", "secret", "token"}
)
PLACEHOLDER_PASSWORDS = frozenset(
    {"lifeboat", "postgres", "password", "change-me", "changeme", "secret", "admin", "kafka"}
)


def url_password(url: str | None) -> str | None:
    """The password in a SQLAlchemy URL, or None (no URL, no password, unparsable)."""
    if not url:
        return None
    try:
        return make_url(url).password
    except (ArgumentError, ValueError):
        return None


def placeholder_problems(
    *,
    api_token: SecretStr,
    database_urls: Iterable[tuple[str, str | None]],
    kafka_password: SecretStr | None,
) -> list[str]:
    """One line per setting that holds a placeholder (setting name and env variable only)."""
    problems: list[str] = []
    if api_token.get_secret_value().strip().lower() in PLACEHOLDER_TOKENS:
        problems.append(
            "api_token: a placeholder token is refused in production mode; set "
            "LIFEBOAT_API_TOKEN to a generated secret (e.g. openssl rand -hex 24)"
        )
    for field, url in database_urls:
        password = url_password(url)
        if password is not None and password.strip().lower() in PLACEHOLDER_PASSWORDS:
            problems.append(
                f"{field}: the URL's password is a placeholder, refused in production mode; "
                f"set LIFEBOAT_{field.upper()} with the database's real password"
            )
    if kafka_password is not None and (
        kafka_password.get_secret_value().strip().lower() in PLACEHOLDER_PASSWORDS
    ):
        problems.append(
            "kafka_sasl_password: a placeholder password is refused in production mode; "
            "set LIFEBOAT_KAFKA_SASL_PASSWORD"
        )
    return problems


def weak_link_key(key: bytes) -> bool:
    """A link PSK nobody should deploy: all one byte value (zeros, 0xff...) or a short cycle."""
    return len(set(key)) <= 2


def secret_values(*values: SecretStr | str | None) -> list[str]:
    """The non-empty plain values, longest first (what a redacting log formatter replaces)."""
    plain = {v.get_secret_value() if isinstance(v, SecretStr) else v for v in values if v}
    return sorted((v for v in plain if v and len(v) >= 4), key=len, reverse=True)

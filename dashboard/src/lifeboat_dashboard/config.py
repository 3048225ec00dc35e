"""Where the dashboard finds the five services: five base URLs, or one base URL + a path each."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field

SERVICES = ("policy", "replicator", "orchestrator", "verifier", "billing")


@dataclass(frozen=True)
class DashboardConfig:
    urls: dict[str, str]
    secret_key: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    secure_cookie: bool = False  # set behind HTTPS (the cookie is then Secure)
    session_seconds: int = 8 * 3600

    def __post_init__(self) -> None:
        missing = [s for s in SERVICES if s not in self.urls]
        if missing:
            raise ValueError(f"urls: no base URL for {', '.join(missing)}")

    @classmethod
    def from_urls(cls, urls: dict[str, str], **kw: object) -> DashboardConfig:
        """Five base URLs, e.g. {'policy': 'http://127.0.0.1:8101', ...}."""
        return cls({k: v.rstrip("/") for k, v in urls.items()}, **kw)  # type: ignore[arg-type]

    @classmethod
    def from_base(
        cls, base: str, prefixes: dict[str, str] | None = None, **kw: object
    ) -> DashboardConfig:
        """One public endpoint: every service under ``base`` + its path (default ``/<service>``)."""
        prefixes = prefixes or {s: f"/{s}" for s in SERVICES}
        return cls.from_urls({s: base.rstrip("/") + prefixes[s] for s in SERVICES}, **kw)

    @classmethod
    def from_env(cls) -> DashboardConfig:
        """LIFEBOAT_DASHBOARD_BASE_URL, or LIFEBOAT_DASHBOARD_<SERVICE>_URL for each service;
        LIFEBOAT_DASHBOARD_SECRET_KEY_FILE (the session signing key shared by every replica:
        without it each process signs with a key of its own and a restart signs everyone out)
        and LIFEBOAT_DASHBOARD_SECURE_COOKIE=true behind HTTPS."""
        kw: dict[str, object] = {
            "secure_cookie": os.environ.get("LIFEBOAT_DASHBOARD_SECURE_COOKIE", "").lower()
            in ("1", "true", "yes")
        }
        key_file = os.environ.get("LIFEBOAT_DASHBOARD_SECRET_KEY_FILE")
        if key_file:
            with open(key_file, "rb") as f:
                key = f.read().strip()
            if len(key) < 32:
                raise ValueError("LIFEBOAT_DASHBOARD_SECRET_KEY_FILE: at least 32 bytes")
            kw["secret_key"] = key
        base = os.environ.get("LIFEBOAT_DASHBOARD_BASE_URL")
        if base:
            return cls.from_base(base, None, **kw)
        urls = {s: os.environ.get(f"LIFEBOAT_DASHBOARD_{s.upper()}_URL", "") for s in SERVICES}
        missing = [s for s, u in urls.items() if not u]
        if missing:
            raise ValueError(
                "set LIFEBOAT_DASHBOARD_BASE_URL or LIFEBOAT_DASHBOARD_<SERVICE>_URL for "
                + ", ".join(missing)
            )
        return cls.from_urls(urls, **kw)

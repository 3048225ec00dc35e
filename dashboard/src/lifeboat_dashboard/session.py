"""The session cookie: the user's token, role and CSRF secret, HMAC-signed, HttpOnly, Strict.

The cookie is signed (tampering is detected), not encrypted: it holds the user's own token, which
only the user's browser has (HttpOnly keeps scripts away from it). Pages never show it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from lifeboat_dashboard.config import DashboardConfig

COOKIE = "lifeboat_session"


def _sign(key: bytes, payload: bytes) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, payload, hashlib.sha256).digest()).decode()


def load(request: Request, config: DashboardConfig) -> dict[str, Any]:
    raw = request.cookies.get(COOKIE, "")
    body, _, sig = raw.partition(".")
    if not body or not sig:
        return {}
    try:
        payload = base64.urlsafe_b64decode(body.encode())
    except ValueError:
        return {}
    if not hmac.compare_digest(_sign(config.secret_key, payload), sig):
        return {}
    try:
        data = json.loads(payload)
    except ValueError:
        return {}
    if not isinstance(data, dict) or data.get("exp", 0) < time.time():
        return {}
    return data


def save(response: Response, data: dict[str, Any], config: DashboardConfig) -> None:
    data = {**data, "exp": time.time() + config.session_seconds}
    payload = json.dumps(data, separators=(",", ":")).encode()
    value = base64.urlsafe_b64encode(payload).decode() + "." + _sign(config.secret_key, payload)
    response.set_cookie(
        COOKIE,
        value,
        max_age=config.session_seconds,
        httponly=True,
        samesite="strict",
        secure=config.secure_cookie,
        path="/",
    )


def clear(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")


def csrf_of(data: dict[str, Any]) -> str:
    token = data.get("csrf")
    if not isinstance(token, str) or not token:
        token = secrets.token_urlsafe(24)
        data["csrf"] = token
    return token


def csrf_ok(data: dict[str, Any], presented: str | None) -> bool:
    expected = data.get("csrf")
    return bool(expected and presented and hmac.compare_digest(str(expected), presented))

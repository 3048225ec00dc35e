"""Request limits enforced before a route runs, and bounded validation errors.

``RequestLimits`` (an ASGI middleware in front of every service's app):

- more than ``max_header_count`` headers, or headers over ``max_header_bytes``: 431 (a head
  that arrives in pieces and passes that size is already refused by h11 with 400);
- a ``Content-Length`` over ``max_body_bytes``: 413 at once, nothing read; a body without one
  (chunked) is read up to the limit and refused with 413 the moment it passes it; a body that
  does not arrive within ``body_timeout_seconds``: 408. A refused request's connection is closed;
- a JSON body (``application/json``, ``*+json`` or no content type) that is not strict JSON:
  ``NaN``, ``Infinity``, ``-Infinity``, numbers beyond a double (``1e999``) or integers of over
  1000 digits, lone UTF-16 surrogates (``"\\ud800"``), invalid UTF-8,
  or not JSON at all: 422 naming what is wrong, never echoing the input;
- a client address whose rejected-token (401) bucket is empty: 429 with ``Retry-After``.

``validation_error_handler`` answers FastAPI's 422 in its own shape (``detail``: a list of
``{loc, msg, type}``) but without the echoed ``input``/``ctx`` (which could be huge or not
serialisable: the cause of the 500s this replaces), at most 20 errors and 300 characters each.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lifeboat_shared.service.ratelimit import TOO_MANY, RateLimiter

MAX_ERRORS = 20
MAX_MESSAGE = 300
MAX_INT_DIGITS = 1000


def _clip(text: str, limit: int = MAX_MESSAGE) -> str:
    text = text.encode("utf-8", "replace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _loc_part(part: Any) -> str | int:
    return part if isinstance(part, int) else _clip(str(part), 100)


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    detail = [
        {
            "loc": [_loc_part(p) for p in err.get("loc", ())],
            "msg": _clip(str(err.get("msg", "invalid"))),
            "type": _clip(str(err.get("type", "value_error")), 100),
        }
        for err in errors[:MAX_ERRORS]
    ]
    if len(errors) > MAX_ERRORS:
        detail.append(
            {
                "loc": ["body"],
                "msg": f"{len(errors) - MAX_ERRORS} more errors left out",
                "type": "too_many_errors",
            }
        )
    return JSONResponse({"detail": detail}, status_code=422)


class NonStandardJson(ValueError):
    pass


def _refuse_constant(name: str) -> Any:
    raise NonStandardJson(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NonStandardJson(f"number {_clip(text, 40)} is out of range (not a finite double)")
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise NonStandardJson(f"an integer of more than {MAX_INT_DIGITS} digits")
    return int(text)


def check_json(body: bytes) -> str | None:
    """What is wrong with ``body`` as strict JSON, or None when it is fine."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at byte {exc.start}"
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_bounded_int,
        )
    except NonStandardJson as exc:
        return str(exc)
    except json.JSONDecodeError as exc:
        return f"invalid JSON at line {exc.lineno} column {exc.colno}: {_clip(exc.msg, 100)}"
    except RecursionError:
        return "JSON nested too deeply"
    except ValueError as exc:
        return f"invalid JSON: {_clip(str(exc), 100)}"
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return "a string holds a lone UTF-16 surrogate (e.g. \\ud800), which is not valid Unicode"
    except RecursionError:
        return "JSON nested too deeply"
    return None


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True  # FastAPI parses a body without a content type as JSON
    main = content_type.split(";", 1)[0].strip().lower()
    return main == "application/json" or (
        main.startswith("application/") and main.endswith("+json")
    )


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def _answer(
    send: Send, status: int, detail: Any, headers: dict[str, str] | None = None
) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class RequestLimits:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        max_header_count: int,
        max_header_bytes: int,
        body_timeout_seconds: float,
        unauthenticated: RateLimiter,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_header_count = max_header_count
        self.max_header_bytes = max_header_bytes
        self.body_timeout_seconds = body_timeout_seconds
        self.unauthenticated = unauthenticated

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if len(scope["headers"]) > self.max_header_count:
            await _answer(send, 431, f"more than {self.max_header_count} request headers")
            return
        if sum(len(k) + len(v) + 4 for k, v in scope["headers"]) > self.max_header_bytes:
            await _answer(send, 431, f"request headers over {self.max_header_bytes} bytes")
            return
        client = _client(scope)
        wait = self.unauthenticated.retry_after(client)
        if wait is not None and scope["path"].startswith("/v1"):
            await _answer(send, 429, TOO_MANY, {"Retry-After": str(wait)})
            return
        length = _header(scope, b"content-length")
        if length is not None:
            if not length.strip().isdigit():
                await _answer(send, 400, "Content-Length is not a number")
                return
            if int(length) > self.max_body_bytes:
                await _answer(send, 413, self._too_large())
                return
        body = await self._read_body(receive, send)
        if body is None:
            return
        if body and _is_json(_header(scope, b"content-type")):
            problem = check_json(body)
            if problem is not None:
                detail = [{"loc": ["body"], "msg": problem, "type": "json_invalid"}]
                await _answer(send, 422, detail)
                return
        await self.app(scope, _replay(body, receive), self._watch_401(send, client))

    def _too_large(self) -> str:
        return f"request body over the {self.max_body_bytes}-byte limit (max_body_bytes)"

    async def _read_body(self, receive: Receive, send: Send) -> bytes | None:
        """The whole body, or None once a refusal (413/408) was sent or the client left."""
        chunks: list[bytes] = []
        size = 0
        deadline = time.monotonic() + self.body_timeout_seconds
        while True:
            try:
                message = await asyncio.wait_for(receive(), deadline - time.monotonic())
            except TimeoutError:
                await _answer(send, 408, "request body not received in time")
                return None
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await _answer(send, 413, self._too_large())
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    def _watch_401(self, send: Send, client: str) -> Send:
        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.unauthenticated.take(client)
            await send(message)

        return watched


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay

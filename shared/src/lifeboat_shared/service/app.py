"""The one app factory every service is built with.

``/healthz`` (process alive), ``/readyz`` (database and bus reachable, background tasks alive),
``/metrics`` (Prometheus), OpenAPI at ``/v1/openapi.json`` and docs at ``/v1/docs``. Every ``/v1``
route requires a token checked by the configured TokenValidator (auth.py) and the operation's
oslo.policy rule (authz.py, authz_rules.py). Every path also answers under ``/<service>``
(``/orchestrator/v1/plans``, prefix.py), so one base URL reaches all five services. Request
limits (body and header size, strict JSON, rate limits per principal and per address) are in
``limits.py`` and ``ratelimit.py``; the HTTP server's (header size, timeouts, connections) in
``server.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from lifeboat_shared.bus.interface import EventBus
from lifeboat_shared.service.auth import TokenValidator, make_token_validator
from lifeboat_shared.service.authz import (
    AUTH_RESPONSES,
    Authorizer,
    authorize,
    route_templates,
)
from lifeboat_shared.service.authz_rules import rules_service
from lifeboat_shared.service.limits import RequestLimits, validation_error_handler
from lifeboat_shared.service.prefix import ServicePrefix
from lifeboat_shared.service.ratelimit import RateLimiter, limit_principal
from lifeboat_shared.service.runtime import ServiceRuntime
from lifeboat_shared.service.spec import ServiceSpec
from lifeboat_shared.telemetry.logging import configure_logging
from lifeboat_shared.telemetry.tracing import configure_tracing


def create_app(
    spec: ServiceSpec,
    *,
    bus: EventBus | None = None,
    token_validator: TokenValidator | None = None,
    manage_runtime: bool = True,
    configure_logs: bool = True,
) -> FastAPI:
    """Build the service's FastAPI app; its lifespan starts and stops the runtime."""
    settings = spec.settings
    runtime = ServiceRuntime(spec, bus=bus)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_runtime:
            await runtime.start()
        try:
            yield
        finally:
            if manage_runtime:
                await runtime.stop()
            closing = getattr(_app.state.token_validator, "aclose", None)
            if closing is not None:
                await closing()

    app = FastAPI(
        title=f"Lifeboat {spec.name}",
        description=spec.description,
        version="1",
        openapi_url="/v1/openapi.json",
        docs_url="/v1/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.token_validator = token_validator or make_token_validator(settings)
    app.state.authorizer = Authorizer(rules_service(spec.name), settings.policy_file)

    @app.get("/healthz", tags=["health"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": spec.name}

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Readiness: database and bus reachable",
        responses={503: {"description": "Not ready: the checks say what is not"}},
    )
    async def readyz() -> JSONResponse:
        checks = await runtime.readiness()
        ok = runtime.started and all(v == "ok" for v in checks.values())
        body: dict[str, Any] = {"status": "ok" if ok else "unavailable", "checks": checks}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get(
        "/metrics",
        tags=["health"],
        summary="Prometheus metrics",
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST.split(";")[0]: {}}}},
    )
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    app.state.principal_rate_limiter = RateLimiter(
        settings.rate_limit_per_second, settings.rate_limit_burst
    )
    app.add_middleware(
        RequestLimits,
        max_body_bytes=settings.max_body_bytes,
        max_header_count=settings.max_header_count,
        max_header_bytes=settings.max_header_bytes,
        body_timeout_seconds=settings.body_timeout_seconds,
        unauthenticated=RateLimiter(
            settings.unauthenticated_rate_per_second, settings.unauthenticated_burst
        ),
    )
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_middleware(ServicePrefix, service=spec.name)  # outermost: /<service>/... as /...

    v1 = APIRouter(
        prefix="/v1",
        dependencies=[Depends(limit_principal), Depends(authorize)],
        responses={**LIMIT_RESPONSES, **AUTH_RESPONSES},
    )
    for router in spec.routers:
        v1.include_router(router)
    app.include_router(v1)
    app.state.route_templates = route_templates(app)
    _document_errors(app)
    _instrument(app, spec, configure_logs)
    return app


class ErrorOut(BaseModel):
    detail: str


LIMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, invalid or expired bearer token"},
    413: {"model": ErrorOut, "description": "Request body over max_body_bytes"},
    429: {
        "model": ErrorOut,
        "description": "Rate limit of the principal (or, for rejected tokens, of the client "
        "address) reached; Retry-After gives the seconds to wait",
        "headers": {"Retry-After": {"schema": {"type": "integer"}}},
    },
}


def _document_errors(app: FastAPI) -> None:
    """In OpenAPI: a ``/v1`` route with an id in its path can answer 404 (no such id); every
    ``/v1`` route 422 (a body that is not strict JSON is refused before any route runs)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        cached = app.openapi_schema is not None
        schema = generate()
        if cached:
            return schema
        has_validation = "HTTPValidationError" in schema.get("components", {}).get("schemas", {})
        for path, operations in schema.get("paths", {}).items():
            if not path.startswith("/v1"):
                continue
            for operation in operations.values():
                if "{" in path:
                    operation["responses"].setdefault("404", NOT_FOUND)
                if has_validation:
                    operation["responses"].setdefault("422", INVALID)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


INVALID = {
    "description": "Validation Error",
    "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
    },
}
NOT_FOUND = {
    "description": "No such id (detail names it)",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
}


def _instrument(app: FastAPI, spec: ServiceSpec, configure_logs: bool) -> None:
    settings = spec.settings
    if configure_logs:
        configure_logging(
            f"lifeboat-{spec.name}",
            level=settings.log_level,
            json_logs=settings.json_logs,
            redact=settings.secret_values(),
        )
    configure_tracing(f"lifeboat-{spec.name}", settings.otlp_endpoint)
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    _instrument_clients_once()


_clients_instrumented = False


def _instrument_clients_once() -> None:
    global _clients_instrumented
    if _clients_instrumented:
        return
    _clients_instrumented = True
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    HTTPXClientInstrumentor().instrument()
    SQLAlchemyInstrumentor().instrument(enable_commenter=False)

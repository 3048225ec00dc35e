"""OpenTelemetry tracing: exported over OTLP when an endpoint is configured, silent otherwise.

Trace context crosses Kafka hops in the CloudEvents ``traceparent`` extension (a ``ce_traceparent``
record header), so a request can be followed from the REST call through every consumer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

if TYPE_CHECKING:
    from lifeboat_shared.contracts.envelope import Envelope

_tracer = trace.get_tracer("lifeboat")
_configured = False


def configure_tracing(service_name: str, otlp_endpoint: str | None) -> None:
    """Install a tracer provider once per process; export only when an endpoint is given."""
    global _configured
    if _configured:
        return
    _configured = True
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces"))
        )
    trace.set_tracer_provider(provider)


def current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def consume_span(envelope: Envelope, group: str) -> Iterator[None]:
    """A consumer span, child of the producer's context carried in the envelope."""
    parent = propagate.extract(
        {"traceparent": envelope.traceparent} if envelope.traceparent else {}
    )
    with _tracer.start_as_current_span(
        f"consume {envelope.type}",
        context=parent,
        kind=trace.SpanKind.CONSUMER,
        attributes={
            "messaging.system": "lifeboat-bus",
            "messaging.destination.name": envelope.topic,
            "messaging.consumer.group.name": group,
            "messaging.message.id": envelope.id,
        },
    ):
        yield


def current_trace_ids() -> tuple[str, str] | None:
    span = trace.get_current_span()
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")

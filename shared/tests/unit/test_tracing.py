"""Trace context crosses the bus in the CloudEvents traceparent extension."""

from __future__ import annotations

from datetime import UTC, datetime

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from lifeboat_shared.contracts import decode_record, encode_envelope, new_envelope
from lifeboat_shared.contracts.messages import ReplicateNow, ReplicationSpec, SiteRef
from lifeboat_shared.telemetry.tracing import configure_tracing, consume_span, current_traceparent


def test_consumer_span_is_a_child_of_the_producer_span() -> None:
    configure_tracing("lifeboat-test", otlp_endpoint=None)
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("POST /v1/replicate-now") as request_span:
        envelope = new_envelope(
            ReplicateNow(
                group_id="g1",
                request_id="r1",
                requested_by="op",
                spec=ReplicationSpec(
                    project_id="p1",
                    source=SiteRef(site_id="a", cloud="a"),
                    target=SiteRef(site_id="b", cloud="b"),
                ),
            ),
            source="/lifeboat/replicator",
            traceparent=current_traceparent(),
        )
    record = encode_envelope(envelope)
    assert record.header("ce_traceparent") is not None
    with consume_span(decode_record(record), "lifeboat-replicator"):
        pass
    consumer = next(s for s in exporter.get_finished_spans() if s.name.startswith("consume "))
    producer_ctx = request_span.get_span_context()
    assert consumer.context is not None and consumer.parent is not None
    assert consumer.context.trace_id == producer_ctx.trace_id
    assert consumer.parent.span_id == producer_ctx.span_id
    assert consumer.kind == trace.SpanKind.CONSUMER
    assert datetime.now(UTC) >= envelope.time

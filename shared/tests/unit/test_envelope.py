"""CloudEvents binary mode mapping and the reasons malformed records are refused."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from lifeboat_shared.contracts import (
    Command,
    Event,
    MalformedMessage,
    decode_record,
    encode_envelope,
    message_types,
    new_envelope,
    topics,
)
from lifeboat_shared.contracts.messages import (
    ReplicateNow,
    ReplicationSpec,
    RpoTickElapsed,
    SiteDeclaredDown,
    SiteRef,
)

SPEC = ReplicationSpec(
    project_id="p-1",
    source=SiteRef(site_id="site-a", cloud="site-a"),
    target=SiteRef(site_id="site-b", cloud="site-b", data_endpoint="127.0.0.1:7410"),
    volumes=["v-1"],
)

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def tick() -> RpoTickElapsed:
    return RpoTickElapsed(
        group_id="g-1",
        project_id="p-1",
        tick_seq=7,
        rpo_seconds=60,
        due_at=datetime.now(UTC),
        spec=SPEC,
    )


def test_binary_mode_headers_and_round_trip() -> None:
    envelope = new_envelope(tick(), source="/lifeboat/policy", traceparent=TRACEPARENT)
    record = encode_envelope(envelope)
    headers = dict(record.headers)
    assert record.topic == topics.POLICY_EVENTS
    assert record.key == b"g-1"  # partition key = protection group id
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"io.lifeboat.RpoTickElapsed.v1"
    assert headers["ce_source"] == b"/lifeboat/policy"
    assert headers["ce_subject"] == b"g-1"
    assert headers["content-type"] == b"application/json"
    assert headers["ce_traceparent"] == TRACEPARENT.encode()
    decoded = decode_record(record)
    assert decoded.message == envelope.message
    assert (decoded.id, decoded.type, decoded.traceparent) == (
        envelope.id,
        envelope.type,
        TRACEPARENT,
    )


def test_site_events_are_keyed_by_site() -> None:
    down = SiteDeclaredDown(
        site_id="site-a", reason="probe", declared_by="probe", declared_at=datetime.now(UTC)
    )
    assert encode_envelope(new_envelope(down, source="/x")).key == b"site-a"


def test_commands_are_imperative_and_events_past_tense() -> None:
    kinds = {cls.__name__: cls.kind for cls in message_types().values()}
    assert kinds["ReplicateNow"] == "command" and kinds["StartExecution"] == "command"
    assert kinds["ConsistencyPointCreated"] == "event" and kinds["UsageRecorded"] == "event"
    for cls in message_types().values():
        if issubclass(cls, Event):
            words = re.findall(r"[A-Z][a-z]+", cls.__name__)
            assert any(w.endswith("ed") or w == "Ready" for w in words), cls.__name__
        else:
            assert issubclass(cls, Command)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (
            lambda r: replace(r, headers=tuple(h for h in r.headers if h[0] != "ce_type")),
            "missing header ce_type",
        ),
        (
            lambda r: replace(
                r,
                headers=tuple(
                    (k, b"io.lifeboat.Unknown.v9" if k == "ce_type" else v) for k, v in r.headers
                ),
            ),
            "unknown type",
        ),
        (lambda r: replace(r, value=b"{broken"), "bad JSON"),
        (
            lambda r: replace(r, value=b'{"group_id": "g"}'),
            "bad JSON for io.lifeboat.RpoTickElapsed.v1",
        ),
        (lambda r: replace(r, value=b" " * 300_000), "oversized"),
    ],
)
def test_malformed_records_are_refused_with_a_reason(mutate, reason) -> None:  # type: ignore[no-untyped-def]
    record = mutate(encode_envelope(new_envelope(tick(), source="/x")))
    with pytest.raises(MalformedMessage) as info:
        decode_record(record)
    assert reason in info.value.reason


def test_payload_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="group_id"):
        ReplicateNow(group_id="", request_id="r", requested_by="me", spec=SPEC)

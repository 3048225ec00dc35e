"""Webhook egress (issue 14): non-global targets refused in every spelling, redirects not
followed, the resolved address pinned, response bodies never echoed; an allowlisted local server
works. Real HTTP servers on loopback: 127.0.0.2 is the allowlisted one, 127.0.0.1 a refused one
that records whether anything reached it."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator

import pytest

from lifeboat_shared.net.egress import (
    EgressPolicy,
    EgressRefused,
    WebhookFailed,
    check_literal,
    post_json,
)
from tests.support.webhooks import RecordingServer

Servers = tuple[RecordingServer, RecordingServer]


@pytest.fixture
def servers() -> Iterator[tuple[RecordingServer, RecordingServer]]:
    allowed, internal = RecordingServer("127.0.0.2"), RecordingServer("127.0.0.1")
    try:
        yield allowed, internal
    finally:
        allowed.close()
        internal.close()


ALLOW = EgressPolicy(allow=(ipaddress.ip_network("127.0.0.2/32"),))


async def test_refused_targets_never_reached(
    servers: Servers,
) -> None:
    _allowed, internal = servers
    p = internal.port

    async def to_loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    rebinding = EgressPolicy(allow=ALLOW.allow, resolver=to_loopback)
    cases = [
        (f"http://127.0.0.1:{p}/", ALLOW, "loopback"),
        (f"http://localhost:{p}/", ALLOW, "loopback"),
        (f"http://[::1]:{p}/", ALLOW, "loopback"),
        (f"http://[::ffff:127.0.0.1]:{p}/", ALLOW, "loopback"),
        (f"http://169.254.169.254:{p}/latest/meta-data/", ALLOW, "link-local"),
        (f"http://0x7f.1:{p}/", ALLOW, "numeric host"),
        (f"http://2130706433:{p}/", ALLOW, "numeric host"),
        (f"http://127.1:{p}/", ALLOW, "numeric host"),
        (f"http://0177.0.0.1:{p}/", ALLOW, "numeric host"),
        (f"http://10.1.2.3:{p}/", ALLOW, "private"),
        (f"http://100.64.0.1:{p}/", ALLOW, "not global"),
        (f"http://224.0.0.1:{p}/", ALLOW, "multicast"),
        (f"http://0.0.0.0:{p}/", ALLOW, "unspecified"),
        (f"http://[2002:7f00:1::]:{p}/", ALLOW, "loopback"),  # 6to4 of 127.0.0.1
        (f"http://hooks.attacker.example:{p}/", rebinding, "loopback"),  # resolves to 127.0.0.1
        (f"ftp://example.com:{p}/", ALLOW, "only http"),
        (f"http://user:pw@example.com:{p}/", ALLOW, "credentials"),
    ]
    for url, policy, why in cases:
        with pytest.raises(EgressRefused, match=why):
            await post_json(url, {"x": 1}, policy=policy, timeout_seconds=5)
    assert internal.hits == []  # nothing ever reached the refused server
    # Without the allowlist even the local test server is refused.
    with pytest.raises(EgressRefused, match="loopback"):
        await post_json(f"http://127.0.0.2:{p}/", {}, policy=EgressPolicy(), timeout_seconds=5)
    # The create-time check refuses literal addresses, and leaves names to the call.
    with pytest.raises(EgressRefused):
        check_literal("http://169.254.169.254/", ALLOW)
    check_literal("https://hooks.example.com/freeze", ALLOW)


async def test_allowlisted_server_works_bodies_are_never_echoed_redirects_not_followed(
    servers: Servers,
) -> None:
    allowed, internal = servers
    base = f"http://127.0.0.2:{allowed.port}"
    assert await post_json(f"{base}/ok", {"phase": "pre"}, policy=ALLOW, timeout_seconds=5) == 204
    assert allowed.hits[-1]["body"] == b'{"phase":"pre"}'

    allowed.replies["/leak"] = (500, {}, b"root:x:0:0 SECRET-BODY " * 1000, 0.0)
    with pytest.raises(WebhookFailed) as failed:
        await post_json(f"{base}/leak", {}, policy=ALLOW, timeout_seconds=5)
    assert str(failed.value) == "answered 500"

    target = f"http://127.0.0.1:{internal.port}/"
    allowed.replies["/hop"] = (302, {"Location": target}, b"", 0.0)
    with pytest.raises(WebhookFailed, match="redirects are not followed"):
        await post_json(f"{base}/hop", {}, policy=ALLOW, timeout_seconds=5)
    assert internal.hits == []

    allowed.replies["/slow"] = (204, {}, b"", 1.5)
    started = time.monotonic()
    with pytest.raises(WebhookFailed, match=r"no answer within 0\.3 s"):
        await post_json(f"{base}/slow", {}, policy=ALLOW, timeout_seconds=0.3)
    assert time.monotonic() - started < 1.2


async def test_the_checked_address_is_the_one_connected_to(
    servers: Servers,
) -> None:
    """A name is resolved once and the connection goes to that address (a second lookup could
    answer 127.0.0.1: DNS rebinding); the Host header keeps the name."""
    allowed, internal = servers
    answers = iter([["127.0.0.2"], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    policy = EgressPolicy(allow=ALLOW.allow, resolver=rebinding)
    url = f"http://hooks.tenant.example:{allowed.port}/pinned"
    assert await post_json(url, {}, policy=policy, timeout_seconds=5) == 204
    assert allowed.hits[-1]["host"] == f"hooks.tenant.example:{allowed.port}"
    assert internal.hits == []

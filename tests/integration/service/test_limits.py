"""Request limits on the embedded default (five services in one process, real sockets).

A 64 MB body is refused fast (413) with or without Content-Length while another service's
/healthz keeps answering in < 100 ms; non-standard JSON gets 422 with a bounded message; too
many headers 431, an oversized head 400; a slow head is cut; the per-principal and per-address
rate limits answer 429 with Retry-After; a body that does not come is 408; past
max_connections, 503.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from lifeboat_cli.stack import Stack

pytestmark = pytest.mark.timeout(120)

MB = 1024 * 1024


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    fast = {"header_timeout_seconds": 1.0, "body_timeout_seconds": 1.0}
    billing = {**fast, "rate_limit_per_second": 1.0, "rate_limit_burst": 5}
    verifier = {**fast, "unauthenticated_rate_per_second": 1.0, "unauthenticated_burst": 3}
    stack = Stack(
        tmp_path,
        port_base=0,
        overrides={
            "policy": fast,
            "replicator": {**fast, "max_connections": 4},
            "orchestrator": fast,
            "verifier": verifier,
            "billing": billing,
        },
    )
    await stack.start()
    try:
        yield stack
    finally:
        await stack.stop()


def _url(stack: Stack, name: str) -> str:
    return next(s.url for s in stack.services if s.name == name)


async def _raw(url: str, head: bytes, body_chunks: int, chunk: bytes) -> tuple[bytes, int]:
    """Send ``head`` then up to ``body_chunks`` chunks; return the response and bytes sent.

    The response is read while the body is being written, as it arrives. Still, a server that
    refuses a body closes with body bytes unread, and the kernel then resets the connection and
    may drop an answer not sent yet (no lingering close in uvicorn): b"" here, so callers try
    again and require a 413 from at least one attempt."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    answer = asyncio.create_task(reader.read(4096))
    sent = 0
    try:
        writer.write(head)
        for _ in range(body_chunks):
            if answer.done():
                break  # the server answered already
            writer.write(chunk)
            sent += len(chunk)
            try:
                await writer.drain()
            except ConnectionError:
                break
        try:
            return await asyncio.wait_for(answer, 10), sent
        except ConnectionError:
            return b"", sent
    finally:
        answer.cancel()
        writer.close()


async def _health_latencies(url: str, stop: asyncio.Event) -> list[float]:
    took: list[float] = []
    async with httpx.AsyncClient(timeout=5) as client:
        while not stop.is_set():
            start = time.monotonic()
            r = await client.get(f"{url}/healthz")
            took.append(time.monotonic() - start)
            assert r.status_code == 200
            await asyncio.sleep(0.01)
    return took


async def test_big_bodies_refused_fast_while_others_answer(stack: Stack) -> None:
    policy, billing = _url(stack, "policy"), _url(stack, "billing")
    auth = f"Authorization: Bearer {stack.token}\r\n".encode()
    async with httpx.AsyncClient(timeout=5) as client:  # warm up: start-up work is done
        for _ in range(20):
            await client.get(f"{billing}/healthz")
            await asyncio.sleep(0.02)
    stop = asyncio.Event()
    health = asyncio.create_task(_health_latencies(billing, stop))
    await asyncio.sleep(0.1)
    chunk = b"1," * (32 * 1024)  # 64 KiB per write, 1024 writes = 64 MiB
    # Content-Length announced: refused before anything is read.
    head = (
        b"POST /v1/policies HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + auth
    ) + f"Content-Length: {64 * MB}\r\n\r\n".encode()
    for _attempt in range(3):
        start = time.monotonic()
        answer, _sent = await _raw(policy, head, 1024, chunk)
        assert time.monotonic() - start < 2
        if answer.startswith(b"HTTP/1.1 413"):
            break
        assert answer == b"", answer[:200]  # a reset that dropped the 413 (see _raw), no other
    assert answer.startswith(b"HTTP/1.1 413"), "no 413 in 3 attempts"
    # Chunked, no length: read up to the limit, refused as soon as it passes it.
    head = (
        b"POST /v1/policies HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + auth
    ) + b"Transfer-Encoding: chunked\r\n\r\n"
    framed = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    for _attempt in range(3):
        start = time.monotonic()
        answer, sent = await _raw(policy, head, 1024, framed)
        assert sent < 8 * MB, sent  # the other 48+ MB were never taken
        assert time.monotonic() - start < 5
        if answer.startswith(b"HTTP/1.1 413"):
            break
        assert answer == b"", answer[:200]
    assert answer.startswith(b"HTTP/1.1 413"), "no 413 in 3 attempts"
    await asyncio.sleep(0.1)
    stop.set()
    took = await health
    print("healthz latencies", sorted(took))
    assert len(took) >= 5, took
    assert max(took) < 0.1, sorted(took)[-5:]


async def test_strict_json_and_headers(stack: Stack) -> None:
    policy = _url(stack, "policy")
    headers = {"Authorization": f"Bearer {stack.token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=policy, headers=headers, timeout=10) as client:
        bad = [
            b'{"name": "p", "rpo_seconds": NaN}',
            b'{"name": "p", "rpo_seconds": Infinity}',
            b'{"name": "p", "rpo_seconds": -Infinity}',
            b'{"name": "p", "rpo_seconds": 1e999}',
            b'{"name": "p", "rpo_seconds": ' + b"9" * 5000 + b"}",
            b'{"name": "\\ud800"}',
            b'{"name": "\xff\xfe"}',
            b'{"name": ',
            b"[" * 200_000 + b"]" * 200_000,
        ]
        for body in bad:
            r = await client.post("/v1/policies", content=body)
            assert r.status_code == 422, (body[:40], r.status_code, r.text[:300])
            assert len(r.content) < 1000
            assert r.json()["detail"][0]["loc"] == ["body"]
        # A huge invalid value is named, never echoed back.
        r = await client.post("/v1/policies", json={"name": "x" * 500_000, "rpo_seconds": []})
        assert r.status_code == 422
        assert len(r.content) < 5000, len(r.content)
        assert "xxxxxxxxxx" not in r.text
        many = {f"x-h{i}": "v" for i in range(100)}
        r = await client.get("/v1/policies", headers=many)
        assert r.status_code == 431
        r = await client.get("/v1/policies", headers={"x-big": "v" * 20_000})
        assert r.status_code == 431
    # A head that never completes is cut after header_timeout_seconds (1 s here).
    host, port = policy.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    start = time.monotonic()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    assert 0.5 < time.monotonic() - start < 3
    writer.close()


async def test_rate_limits(stack: Stack) -> None:
    billing, verifier = _url(stack, "billing"), _url(stack, "verifier")
    auth = {"Authorization": f"Bearer {stack.token}"}
    async with httpx.AsyncClient(timeout=10) as client:
        codes = [(await client.get(f"{billing}/v1/usage", headers=auth)) for _ in range(8)]
        assert [r.status_code for r in codes[:5]] == [200] * 5
        limited = [r for r in codes if r.status_code == 429]
        assert limited, [r.status_code for r in codes]
        assert int(limited[0].headers["Retry-After"]) >= 1
        # Health is never limited.
        assert (await client.get(f"{billing}/healthz")).status_code == 200
        # Rejected tokens are counted per client address: 3 401s, then 429 even for a good one.
        wrong = {"Authorization": "Bearer wrong"}
        got = [(await client.get(f"{verifier}/v1/test-runs", headers=wrong)).status_code]
        got += [(await client.get(f"{verifier}/v1/test-runs", headers=wrong)).status_code]
        got += [(await client.get(f"{verifier}/v1/test-runs", headers=wrong)).status_code]
        assert got == [401, 401, 401]
        r = await client.get(f"{verifier}/v1/test-runs", headers=auth)
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) >= 1


async def test_slow_bodies_and_too_many_connections(stack: Stack) -> None:
    policy, replicator = _url(stack, "policy"), _url(stack, "replicator")
    host, port = policy.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /v1/policies HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    start = time.monotonic()
    answer = await asyncio.wait_for(reader.read(4096), 5)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
    assert 0.5 < time.monotonic() - start < 3
    writer.close()
    # max_connections = 4 on the replicator: 4 idle connections, then a request is refused.
    host, port = replicator.removeprefix("http://").split(":")
    idle = [await asyncio.open_connection(host, int(port)) for _ in range(4)]
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            r = await client.get(f"{replicator}/healthz")
            assert r.status_code == 503
    finally:
        for _r, w in idle:
            w.close()
    async with httpx.AsyncClient(timeout=5) as client:
        for _ in range(50):  # the server sees the idle connections go
            if (await client.get(f"{replicator}/healthz")).status_code == 200:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("connections freed, but still 503")

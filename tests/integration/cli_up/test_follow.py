"""`lifeboat up` keeps following consistency points through a slow and a failing replicator.

A real HTTP server stands in for the replicator: its first answer never comes (the client's read
timeout fires), its second is a 503, then it lists a CP; the first check of that CP at the DR site
fails too. Each problem must be reported on stderr and the CP still reported once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Response
from rich.console import Console

from lifeboat_cli.up import _follow

CP = {
    "id": "cp-1",
    "group_id": "g-1",
    "consistency": "application",
    "taken_at": datetime.now(UTC).isoformat(),
    "bytes_sent": 10,
    "members": [{"volume_id": "v-1", "replica_snapshot_id": "s-1", "bytes_changed": 20}],
}
VERDICT = {
    "crash_consistent": True,
    "application_consistent": True,
    "ends_at_quiesce_mark": True,
    "records_found": 3,
    "violations": [],
}


@contextlib.asynccontextmanager
async def flaky_replicator(never: asyncio.Event) -> AsyncIterator[tuple[str, list[str]]]:
    app = FastAPI()
    answers: list[str] = []

    @app.get("/v1/consistency-points")
    async def cps(group_id: str) -> Any:
        n = len(answers)
        if n == 0:
            answers.append("hang")
            await never.wait()  # no answer: the client's read timeout fires
            return []
        if n == 1:
            answers.append("503")
            return Response(status_code=503, content=b"busy")
        answers.append("cps")
        return [CP]

    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the stand-in replicator did not start"
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", answers
    finally:
        never.set()
        server.should_exit = True
        await task


@pytest.mark.timeout(60)
async def test_follow_survives_a_read_timeout_a_503_and_a_failed_check(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stop = asyncio.Event()
    checks: list[str] = []

    def check(cp: dict[str, Any]) -> dict[str, Any]:
        checks.append(cp["id"])
        if len(checks) == 1:
            raise httpx.ConnectError("site-b's checker unreachable")
        stop.set()  # reported once: enough
        return VERDICT

    async with (
        flaky_replicator(asyncio.Event()) as (url, answers),
        httpx.AsyncClient(timeout=httpx.Timeout(0.3)) as client,
    ):
        await _follow(client, url, check, "g-1", stop, 0, Console(stderr=True), True)
    out, err = capsys.readouterr()
    assert answers[:3] == ["hang", "503", "cps"]
    assert "ReadTimeout" in err and "503" in err and "unreachable" in err, err
    assert checks == ["cp-1", "cp-1"], "a CP whose check failed is checked again"
    events = [json.loads(line) for line in out.splitlines()]
    assert [(e["event"], e["n"], e["id"]) for e in events] == [("consistency-point", 1, "cp-1")]
    assert events[0]["check"]["application_consistent"] is True

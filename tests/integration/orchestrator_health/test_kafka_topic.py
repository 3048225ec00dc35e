"""External monitoring publishes SiteHealthObserved on Kafka's lifeboat.sites.events.v1 with a
plain Kafka producer (CloudEvents binary mode, built by hand here exactly as the README tells a
third party to), and the orchestrator consuming that real Kafka topic applies it."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from aiokafka import AIOKafkaProducer
from asgi_lifespan import LifespanManager

from lifeboat_orchestrator.bootstrap import build
from lifeboat_orchestrator.entrypoints import health_api
from lifeboat_orchestrator.service_layer.health import make_health_handlers
from lifeboat_orchestrator.settings import OrchestratorSettings
from lifeboat_shared.contracts import topics
from lifeboat_shared.service.app import create_app
from tests.integration.orchestrator_health.conftest import AUTH, RULES, TOKEN


async def test_an_external_event_on_the_kafka_topic_is_applied(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    settings = OrchestratorSettings(
        data_dir=tmp_path,
        api_token=TOKEN,
        json_logs=False,
        bus="kafka",
        kafka_bootstrap=kafka_bootstrap,
    )
    name = f"orch_{uuid.uuid4().hex[:10]}"  # its own consumer group and database
    spec = dataclasses.replace(
        build(settings),
        name=name,
        routers=[health_api.router],
        consumes=[topics.SITE_EVENTS],
        handlers=make_health_handlers(RULES),
        background=(),
    )
    app = create_app(spec, configure_logs=False)
    site = f"k-{uuid.uuid4().hex[:8]}"
    data = {
        "site_id": site,
        "source": "external",
        "healthy": False,
        "severity": "critical",
        "detail": "nagios: both uplinks of the datacenter down",
        "alert_id": "uplinks",
        "observed_at": datetime.now(UTC).isoformat(),
    }
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_source", b"/nagios"),
        ("ce_type", b"io.lifeboat.SiteHealthObserved.v1"),
        ("ce_time", datetime.now(UTC).isoformat().encode()),
        ("content-type", b"application/json"),
    ]
    transport = httpx.ASGITransport(app=app)
    async with (
        LifespanManager(app, startup_timeout=60, shutdown_timeout=60),
        httpx.AsyncClient(transport=transport, base_url="http://o", headers=AUTH) as client,
    ):
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(
                topics.SITE_EVENTS, json.dumps(data).encode(), key=site.encode(), headers=headers
            )
        finally:
            await producer.stop()
        deadline = time.monotonic() + 30
        while True:
            got = await client.get(f"/v1/sites/{site}/health")
            if got.status_code == 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert got.status_code == 200, got.text
        view = got.json()
        (alert,) = view["firing_alerts"]
        assert (alert["alert_id"], alert["source"], alert["severity"]) == (
            "uplinks",
            "external",
            "critical",
        )
        assert view["declared"] == "up"  # not confirmed by a probe of ours

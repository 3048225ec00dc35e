"""Secrets (issue #14, item 6): Kafka over SASL_SSL, and one canary secret found nowhere.

The test starts its own broker whose only client listener is SASL_SSL (SCRAM-SHA-512 over TLS,
`kafka-local.sh start DIR sasl_ssl`) and its own PostgreSQL demanding a password
(`PG_LOCAL_PASSWORD`); the rest of the suite keeps the plaintext broker. One canary string is
the API token, the link PSK (hex), the PostgreSQL password and the Kafka SCRAM password at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from asgi_lifespan import LifespanManager
from pydantic import SecretStr, ValidationError

from lifeboat_billing.bootstrap import build as build_billing
from lifeboat_billing.settings import BillingSettings
from lifeboat_orchestrator.bootstrap import build as build_orchestrator
from lifeboat_orchestrator.settings import OrchestratorSettings
from lifeboat_policy.bootstrap import build as build_policy
from lifeboat_policy.settings import PolicySettings
from lifeboat_replicator.bootstrap import build as build_replicator
from lifeboat_replicator.settings import ReplicatorSettings
from lifeboat_shared.bus.factory import kafka_security, make_bus
from lifeboat_shared.bus.kafka import KafkaBus, KafkaSecurity
from lifeboat_shared.bus.records import Record
from lifeboat_shared.persistence.database import Database
from lifeboat_shared.service.app import create_app
from lifeboat_shared.service.spec import ServiceSpec
from lifeboat_shared.settings import LifeboatSettings
from lifeboat_verifier.bootstrap import build as build_verifier
from lifeboat_verifier.settings import VerifierSettings
from tests.support import services

CANARY = "canary" + uuid.uuid4().hex  # 38 characters, unique to this run
PSK_HEX = (uuid.uuid4().hex + uuid.uuid4().hex)[:64]  # the link key: a canary of its own
AUTH = {"Authorization": f"Bearer {CANARY}"}

BUILDERS: dict[str, Callable[..., ServiceSpec]] = {
    "policy": lambda **kw: build_policy(PolicySettings(**kw)),
    "replicator": lambda **kw: build_replicator(ReplicatorSettings(**kw)),
    "orchestrator": lambda **kw: build_orchestrator(OrchestratorSettings(**kw)),
    "verifier": lambda **kw: build_verifier(VerifierSettings(**kw)),
    "billing": lambda **kw: build_billing(BillingSettings(**kw)),
}


@dataclass(frozen=True)
class Secured:
    bootstrap: str
    cafile: Path
    database_url: str

    def kafka(self, password: str = CANARY) -> dict[str, Any]:
        return {
            "bus": "kafka",
            "kafka_bootstrap": self.bootstrap,
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": "SCRAM-SHA-512",
            "kafka_sasl_username": "lifeboat",
            "kafka_sasl_password": password,
            "kafka_ssl_cafile": self.cafile,
        }


@pytest.fixture(scope="module")
def secured() -> Iterator[Secured]:
    with (
        tempfile.TemporaryDirectory(prefix="lbsec-") as d,
        services.kafka_sasl_ssl(Path(d) / "k", CANARY) as bootstrap,
        services.postgres_with_password(Path(d) / "p", CANARY) as url,
    ):
        assert CANARY in url  # the services really get the password through their URL
        yield Secured(bootstrap, Path(d) / "k" / "ca.crt", url)


async def _refused(bus: KafkaBus) -> str:
    """Start a producer that must not get in; the error it got (a bounded wait, not a hang)."""
    error: Exception | None = None
    try:
        await asyncio.wait_for(bus.start(), timeout=40)
        await asyncio.wait_for(bus.ping(), timeout=20)
    except Exception as exc:  # any refusal will do; a timeout is checked below
        error = exc
    finally:
        with contextlib.suppress(Exception):
            await bus.stop()
    assert error is not None, "the SASL_SSL broker accepted a client it must refuse"
    assert not isinstance(error, TimeoutError), "the broker neither accepted nor refused"
    return f"{type(error).__name__}: {error}"


async def test_kafka_sasl_ssl_round_trip_and_refusals(secured: Secured, tmp_path: Path) -> None:
    settings = LifeboatSettings(data_dir=tmp_path, topic_partitions=2, **secured.kafka())
    bus = make_bus(settings, client_id="sasl-test")
    assert isinstance(bus, KafkaBus) and bus.security.protocol == "SASL_SSL"
    assert CANARY not in repr(bus.security)
    topic = f"sasl-{uuid.uuid4().hex[:8]}"
    await bus.ensure_topics([topic])  # the admin client logs in too
    await bus.start()
    consumer = bus.consumer(f"g-{topic}", [topic])
    try:
        await bus.publish([Record(topic, b"k1", b"over TLS", (("h", b"v"),))])
        await consumer.start()
        got = []
        deadline = time.monotonic() + 30
        while not got and time.monotonic() < deadline:
            got = await consumer.poll(max_records=10, timeout=0.5)
        assert [(r.key, r.value, r.headers) for r in got] == [(b"k1", b"over TLS", (("h", b"v"),))]
    finally:
        await consumer.stop()
        await bus.stop()

    wrong = settings.model_copy(update={"kafka_sasl_password": SecretStr("not-the-one")})
    untrusted = KafkaSecurity("SASL_SSL", username="lifeboat", password=CANARY)  # system CAs
    for refused in (
        KafkaBus(secured.bootstrap, client_id="plaintext"),
        KafkaBus(secured.bootstrap, security=kafka_security(wrong)),
        KafkaBus(secured.bootstrap, security=untrusted),
    ):
        assert "Unable to bootstrap" in await _refused(refused)


def test_production_refuses_placeholders_naming_the_setting(tmp_path: Path) -> None:
    psk = tmp_path / "zero.psk"
    psk.write_text("00" * 32)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"api_token": "lifeboat-dev-token"}, "api_token"),
        ({"api_token": "lifeboat-compose-change-me"}, "api_token"),
        ({"database_url": "postgresql+asyncpg://lifeboat:lifeboat@db/lb"}, "database_url"),
        ({"bus_database_url": "postgresql+asyncpg://u:postgres@db/lb"}, "bus_database_url"),
        (
            {
                "bus": "kafka",
                "kafka_bootstrap": "k:9092",
                "kafka_security_protocol": "SASL_SSL",
                "kafka_sasl_username": "lifeboat",
                "kafka_sasl_password": "kafka",
            },
            "kafka_sasl_password",
        ),
        ({"link_psk_file": psk}, "link_psk_file"),
    ]
    for overrides, field in cases:
        kw = {"mode": "production", "api_token": CANARY, "data_dir": tmp_path}
        kw.update(overrides)
        if "link_psk_file" not in kw:
            kw["link_psk_file"] = tmp_path / "absent.psk"
        with pytest.raises(ValidationError) as caught:
            ReplicatorSettings(**kw)
        messages = [e["msg"] for e in caught.value.errors()]
        assert CANARY not in str(caught.value)  # pydantic echoes no input (the token is CANARY)
        assert any(field in m for m in messages), (field, messages)
        for value in overrides.values():
            # the message names the setting, never the value (short ones are words in it)
            if isinstance(value, str) and len(value) > 8 and "://" not in value:
                assert all(value not in m for m in messages), (field, messages)
    # the same values are fine in the embedded mode, and a real secret in production
    ReplicatorSettings(api_token="lifeboat-compose-change-me", data_dir=tmp_path)
    good = tmp_path / "good.psk"
    good.write_text(PSK_HEX)
    ReplicatorSettings(mode="production", api_token=CANARY, link_psk_file=good, data_dir=tmp_path)


def test_serve_refuses_placeholders_in_one_line_per_setting(tmp_path: Path) -> None:
    """The operator's view: `lifeboat-policy serve` exits 2 naming each setting, no values."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIFEBOAT_")} | {
        "LIFEBOAT_MODE": "production",
        "LIFEBOAT_DATA_DIR": str(tmp_path),
        "LIFEBOAT_API_TOKEN": "lifeboat-compose-change-me",
        "LIFEBOAT_DATABASE_URL": "postgresql+asyncpg://lifeboat:lifeboat@postgres:5432/lifeboat",
    }
    run = subprocess.run(
        [str(Path(sys.executable).parent / "lifeboat-policy"), "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    assert "api_token:" in lines[0] and "database_url:" in lines[0], lines
    assert "lifeboat-compose-change-me" not in run.stderr + run.stdout
    assert ":lifeboat@" not in run.stderr + run.stdout


async def test_canary_secret_appears_nowhere(
    secured: Secured, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    psk = tmp_path / "link.psk"
    psk.write_text(PSK_HEX + "\n")
    common: dict[str, Any] = {
        "mode": "production",
        "database_url": secured.database_url,
        "api_token": CANARY,
        "auto_migrate": True,
        "topic_partitions": 2,
        "data_dir": tmp_path,
        **secured.kafka(),
    }
    apps = {}
    for name, build in BUILDERS.items():
        extra = {"link_psk_file": psk} if name == "replicator" else {}
        apps[name] = create_app(build(**common, **extra), configure_logs=False)
    seen: list[str] = []  # every response: status line, headers, body
    async with contextlib.AsyncExitStack() as stack:
        for app in apps.values():
            await stack.enter_async_context(LifespanManager(app, startup_timeout=90))
        clients = {
            name: await stack.enter_async_context(
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{name}")
            )
            for name, app in apps.items()
        }

        def keep(r: httpx.Response) -> httpx.Response:
            seen.append(f"{r.status_code} {dict(r.headers)} {r.text}")
            return r

        p = clients["policy"]
        for name, c in clients.items():
            assert keep(await c.get("/readyz")).status_code == 200, name
        # a real flow: a group with a 1 s RPO ticks; the replicator's inbox gets the ticks
        body = await _group_body(p, keep)
        created = keep(await p.post("/v1/protection-groups", json=body, headers=AUTH))
        assert created.status_code == 201, created.text
        group_id = created.json()["id"]
        wanted = {f"rpo-tick-{group_id}-1", f"rpo-tick-{group_id}-2"}
        await _await_inbox(secured.database_url, wanted)
        # errors: no token, a wrong token, bad fields, bad JSON, unknown ids, on every service
        for c in clients.values():
            assert keep(await c.get("/v1/openapi.json")).status_code == 200
        for bad in (
            p.get("/v1/protection-groups"),
            p.get("/v1/protection-groups", headers={"Authorization": "Bearer " + CANARY[:-1]}),
            p.post(
                "/v1/protection-groups", json={**body, "members": {"servers": [""]}}, headers=AUTH
            ),
            p.post("/v1/policies", content=b'{"name": NaN', headers=AUTH),
            p.get(f"/v1/protection-groups/{uuid.uuid4()}", headers=AUTH),
            clients["replicator"].get("/v1/replication-cycles/x", headers=AUTH),
            clients["orchestrator"].get(f"/v1/plans/{uuid.uuid4()}", headers=AUTH),
        ):
            assert keep(await bad).status_code in (401, 404, 405, 422)
        for c in clients.values():
            seen.append(keep(await c.get("/metrics")).text)

    leaks = {
        "responses": [s for s in seen if _leaks(s)],
        "logs": [
            r.getMessage() for r in caplog.records if _leaks(r.getMessage() + repr(r.__dict__))
        ],
        "database": await _database_leaks(secured.database_url),
        "bus": await _bus_leaks(secured),
    }
    assert len(caplog.records) > 10 and len(seen) > 20
    assert leaks == {"responses": [], "logs": [], "database": [], "bus": []}


def _leaks(text: str) -> bool:
    return CANARY in text or PSK_HEX in text.lower()


async def _group_body(c: httpx.AsyncClient, keep: Callable[..., httpx.Response]) -> dict[str, Any]:
    for site_id, role in (("a", "protected"), ("b", "recovery")):
        site = {"cloud": f"cloud-{site_id}", "role": role}
        keep(await c.put(f"/v1/sites/{site_id}", json=site, headers=AUTH))
    name = f"canary-{uuid.uuid4().hex[:6]}"
    policy = keep(await c.post("/v1/policies", json={"name": name, "rpo_seconds": 1}, headers=AUTH))
    assert policy.status_code == 201, policy.text
    return {
        "name": name,
        "project_id": "p1",
        "source_site": "a",
        "target_site": "b",
        "policy_id": policy.json()["id"],
        "members": {"servers": [f"server-{name}"]},
    }


async def _await_inbox(url: str, wanted: set[str]) -> None:
    db = Database(url, schema="replicator")
    inbox: set[str] = set()
    try:
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and not wanted <= inbox:
            async with db.read() as s:
                inbox = {
                    r[0] for r in await s.execute(sa.text("SELECT event_id FROM lifeboat_inbox"))
                }
            await asyncio.sleep(0.2)
    finally:
        await db.dispose()
    assert wanted <= inbox, f"not handled by the replicator: {wanted - inbox}"


async def _database_leaks(url: str) -> list[str]:
    """Every row of every table of every Lifeboat schema (outboxes, inboxes, state), as text."""
    db = Database(url)
    found: list[str] = []
    try:
        async with db.read() as s:
            tables = (
                await s.execute(
                    sa.text(
                        "SELECT table_schema, table_name FROM information_schema.tables "
                        "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
                        "AND table_type = 'BASE TABLE'"
                    )
                )
            ).all()
            assert len(tables) > 20, tables
            for schema, table in tables:
                rows = await s.execute(sa.text(f'SELECT t::text FROM "{schema}"."{table}" t'))
                found += [f"{schema}.{table}: {r[0][:200]}" for r in rows if _leaks(r[0])]
            outbox = await s.execute(sa.text("SELECT count(*) FROM policy.lifeboat_outbox"))
            assert outbox.scalar_one() > 0
    finally:
        await db.dispose()
    return found


async def _bus_leaks(secured: Secured) -> list[str]:
    """Every record of every topic, read back from the broker from the beginning."""
    security = KafkaSecurity(
        "SASL_SSL", username="lifeboat", password=CANARY, cafile=secured.cafile
    )
    consumer = AIOKafkaConsumer(
        bootstrap_servers=secured.bootstrap, enable_auto_commit=False, **security.client_kwargs()
    )
    await consumer.start()
    found: list[str] = []
    records = 0
    try:
        topics = [t for t in await consumer.topics() if not t.startswith("__")]
        # every topic here was created by Lifeboat or the round trip, with 2 partitions
        parts = [TopicPartition(t, p) for t in topics for p in range(2)]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        end = await consumer.end_offsets(parts)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            positions = {tp: await consumer.position(tp) for tp in parts}
            if all(positions[tp] >= end[tp] for tp in parts):
                break
            batch = await consumer.getmany(timeout_ms=500)
            for tp_records in batch.values():
                for r in tp_records:
                    records += 1
                    raw = (r.key or b"") + r.value + b"".join(v for _, v in r.headers)
                    text = raw.decode("utf-8", "replace")
                    if _leaks(text) or bytes.fromhex(PSK_HEX) in raw:
                        found.append(f"{r.topic}@{r.offset}: {text[:200]}")
        else:
            raise AssertionError("could not read the topics to their end")
    finally:
        await consumer.stop()
    assert records > 0 and topics
    return found
